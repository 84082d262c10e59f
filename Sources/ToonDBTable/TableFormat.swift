import ToonDBFormat

/// Constants and small codecs of the SSTable file format (docs/sstable-format.md is the
/// reference).
///
///     [data block 0][trailer] ... [data block N-1][trailer]
///     [filter block][trailer]        (absent when the table has no filter)
///     [properties block][trailer]
///     [index block][trailer]
///     [footer: 64 bytes]
public enum TableFormat {
    /// The format version written in the footer and the properties block.
    public static let version: UInt32 = 1
    /// "TOONSST1" when stored little-endian.
    public static let magic: UInt64 = 0x3154_5353_4E4F_4F54
    /// Three fixed handles (48 bytes), version u32, masked CRC32C u32, magic u64.
    public static let footerSize = 64
    /// After every block: type u8 + masked CRC32C u32.
    public static let blockTrailerSize = 5
    /// The only block type so far: stored as is.
    public static let uncompressedBlockType: UInt8 = 0
    /// The trailer of separator keys in the index (the smallest internal key for a user key).
    static let separatorTrailer: UInt64 = .max
}

/// Where a block lives: its offset in the file and the size of its contents (without the
/// 5-byte trailer that follows it).
struct BlockHandle: Sendable, Equatable, Hashable {
    var offset: UInt64
    var size: UInt64
    init(offset: UInt64, size: UInt64) {
        self.offset = offset
        self.size = size
    }

    /// Absent blocks (no filter) have size 0.
    var isAbsent: Bool { size == 0 }

    func appendVarints(to bytes: inout [UInt8]) {
        bytes.appendVarint(offset)
        bytes.appendVarint(size)
    }
}

/// The decoded footer.
struct TableFooter: Equatable {
    var filter: BlockHandle
    var properties: BlockHandle
    var index: BlockHandle
    var version: UInt32

    func encode(into bytes: inout [UInt8]) {
        let start = bytes.count
        for handle in [filter, properties, index] {
            bytes.appendFixed64(handle.offset)
            bytes.appendFixed64(handle.size)
        }
        bytes.appendFixed32(version)
        let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start..<(start + 52)])) }
        bytes.appendFixed32(CRC32C.mask(crc))
        bytes.appendFixed64(TableFormat.magic)
    }

    /// Decodes and checks the last 64 bytes of a table of `fileSize` bytes.
    static func decode(_ bytes: UnsafeRawBufferPointer, path: String, fileSize: Int64) throws(StorageError) -> TableFooter {
        let footerOffset = fileSize - Int64(TableFormat.footerSize)
        guard bytes.count == TableFormat.footerSize, let base = bytes.baseAddress else {
            throw .corruption("table footer truncated (\(bytes.count) bytes)", path: path, offset: footerOffset)
        }
        let magic = loadFixed64(base, 56)
        guard magic == TableFormat.magic else {
            throw .corruption("bad table magic number 0x\(String(magic, radix: 16))", path: path, offset: footerOffset + 56)
        }
        let stored = loadFixed32(base, 52)
        let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<52]))
        guard CRC32C.unmask(stored) == actual else {
            throw .corruption("table footer checksum mismatch", path: path, offset: footerOffset)
        }
        let version = loadFixed32(base, 48)
        guard version == TableFormat.version else {
            throw .corruption("unsupported table format version \(version)", path: path, offset: footerOffset + 48)
        }
        func handle(_ at: Int) -> BlockHandle { BlockHandle(offset: loadFixed64(base, at), size: loadFixed64(base, at + 8)) }
        return TableFooter(filter: handle(0), properties: handle(16), index: handle(32), version: version)
    }
}

/// Appends the 5-byte block trailer for `bytes[start...]`: type byte, then the masked
/// CRC32C of the contents followed by the type byte.
func appendBlockTrailer(_ bytes: inout [UInt8], contentsFrom start: Int) {
    let type = TableFormat.uncompressedBlockType
    let crc = bytes.withUnsafeBytes { raw in
        let contents = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[start...]))
        return withUnsafeBytes(of: type) { CRC32C.checksum($0, extending: contents) }
    }
    bytes.append(type)
    bytes.appendFixed32(CRC32C.mask(crc))
}

/// Checks the trailer that follows `size` content bytes at `base`.
func verifyBlockTrailer(_ base: UnsafeRawPointer, size: Int, path: String, offset: Int64, what: String) throws(StorageError) {
    let type = base.load(fromByteOffset: size, as: UInt8.self)
    guard type == TableFormat.uncompressedBlockType else {
        throw .corruption("\(what) block has unknown block type \(type)", path: path, offset: offset)
    }
    let stored = loadFixed32(base, size + 1)
    let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: base, count: size + 1))
    guard CRC32C.unmask(stored) == crc else {
        throw .corruption("\(what) block checksum mismatch (\(size) bytes)", path: path, offset: offset)
    }
}

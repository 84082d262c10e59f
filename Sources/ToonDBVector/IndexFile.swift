#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The on-disk format of an ``HNSWIndex`` (versions 1 and 2). docs/vector-index-format.md is
/// the reference; this enum holds its constants and the layout rule shared by writer and reader.
enum IndexFileFormat {
    /// "TOONHNSW".
    static let magic: [UInt8] = Array("TOONHNSW".utf8)
    /// The newest version. Version 2 adds the encoding and int8 scale header fields; an f32
    /// index is still written as version 1, so older readers load it.
    static let version: UInt32 = 2
    /// Header offsets of the version-2 fields (reserved, zero, in version 1).
    static let encodingOffset = 224
    static let int8ScaleOffset = 228
    static let headerSize = 256
    /// Byte offset of the header CRC (it covers bytes 0..<252).
    static let headerCRCOffset = 252
    static let sectionTableOffset = 80
    static let sectionEntrySize = 24
    static let sectionAlignment = 64
    /// 0xFFFFFFFF in the entry point and max level fields of an empty index.
    static let none: UInt32 = 0xFFFF_FFFF
    /// The highest node level the index draws (`HNSWIndex` caps levels at 31).
    static let maxLevel = 31
    /// The largest dimension a reader accepts (keeps every size computation far from overflow).
    static let maxDimension = 1 << 20
    /// The largest node count a reader accepts (slots are 32-bit).
    static let maxCount = Int(UInt32.max) - 1

    /// The sections, in file order; the raw value is the kind stored in the section table.
    enum Section: UInt32, CaseIterable {
        case ids = 1, levels, tombstones, vectors, layer0, upper

        var name: String {
            switch self {
            case .ids: "ids"
            case .levels: "levels"
            case .tombstones: "tombstones"
            case .vectors: "vectors"
            case .layer0: "layer-0 adjacency"
            case .upper: "upper-layer blocks"
            }
        }
    }

    static func metricCode(_ metric: VectorMetric) -> UInt32 {
        switch metric {
        case .cosine: 0
        case .innerProduct: 1
        case .l2: 2
        }
    }

    static func metric(code: UInt32) -> VectorMetric? {
        switch code {
        case 0: .cosine
        case 1: .innerProduct
        case 2: .l2
        default: nil
        }
    }

    static func align(_ offset: Int) -> Int { (offset + sectionAlignment - 1) & ~(sectionAlignment - 1) }

    /// Offsets and lengths of the six sections (in `Section` order) and the file size, for
    /// `count` nodes whose levels sum to `upperLists` upper-layer adjacency lists.
    static func layout(count: Int, stride: Int, m: Int, upperLists: Int) -> (sections: [(offset: Int, length: Int)], fileSize: Int) {
        let lengths = [
            count * 8,                      // ids
            count,                          // levels
            count,                          // tombstones
            count * stride * 4,             // vectors
            count * (1 + 2 * m) * 4,        // layer 0
            upperLists * (1 + m) * 4,       // upper layers
        ]
        var sections: [(offset: Int, length: Int)] = []
        var end = headerSize
        for length in lengths {
            let offset = align(end)
            sections.append((offset, length))
            end = offset + length
        }
        return (sections, end)
    }
}

/// A C error as text: `strerror(errno)` and the number.
func errnoDescription(_ code: Int32) -> String {
    "\(String(cString: strerror(code))) (errno \(code))"
}

/// Buffered sequential writes to a file descriptor with a running CRC-32C of the current
/// section.
private struct IndexFileWriter {
    let fd: Int32
    let path: String
    private var buffer: UnsafeMutableRawPointer
    private let bufferCapacity = 1 << 20
    private var buffered = 0
    /// Bytes written so far (the file offset of the next byte).
    private(set) var offset = 0
    /// CRC-32C of the bytes since the last `beginSection()`.
    private(set) var crc: UInt32 = 0

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
        buffer = .allocate(byteCount: bufferCapacity, alignment: 64)
    }

    func release() { buffer.deallocate() }

    mutating func beginSection() { crc = 0 }

    mutating func write(_ bytes: UnsafeRawBufferPointer) throws(VectorIndexError) {
        guard bytes.count > 0 else { return }
        crc = IndexCRC32C.checksum(bytes, extending: crc)
        offset += bytes.count
        if bytes.count >= bufferCapacity {
            try flush()
            try writeAll(bytes)
            return
        }
        if buffered + bytes.count > bufferCapacity { try flush() }
        (buffer + buffered).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        buffered += bytes.count
    }

    mutating func writeZeros(_ count: Int) throws(VectorIndexError) {
        guard count > 0 else { return }
        let zeros = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 8)
        defer { zeros.deallocate() }
        zeros.initializeMemory(as: UInt8.self, repeating: 0, count: count)
        try write(UnsafeRawBufferPointer(start: zeros, count: count))
    }

    /// Pads with zeros to the next section boundary (padding belongs to no section's CRC).
    mutating func pad() throws(VectorIndexError) {
        let target = IndexFileFormat.align(offset)
        try writeZeros(target - offset)
    }

    mutating func flush() throws(VectorIndexError) {
        guard buffered > 0 else { return }
        try writeAll(UnsafeRawBufferPointer(start: buffer, count: buffered))
        buffered = 0
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws(VectorIndexError) {
        try AtomicFile.writeFully(fd, bytes, path: path)
    }
}

extension HNSWIndex {
    /// Writes the index to `path` in the format of docs/vector-index-format.md, atomically:
    /// the bytes go to `path + ".tmp"`, which is fsynced and renamed over `path`, and then the
    /// directory is fsynced. A crash leaves either the old file or the new one at `path`
    /// (and possibly a stale `.tmp`, which the next write replaces).
    ///
    /// Inserts, removals and searches on this index wait while it is being written (the
    /// structure lock is held for writing).
    ///
    /// - Throws: ``VectorIndexError`` with code `io` (naming the file, the call and `errno`);
    ///   the temporary file is removed then.
    public func write(to path: String) throws(VectorIndexError) {
        #if _endian(big)
        throw VectorIndexError(.io, "\(path): index files are little-endian; big-endian hosts are not supported")
        #else
        try AtomicFile.write(to: path) { (fd, tmp) throws(VectorIndexError) in
            try withFrozenGraph { (s, count, tombstones, entry, top) throws(VectorIndexError) in
                try writeContents(fd: fd, path: tmp, storage: s, count: count, tombstones: tombstones,
                                  entry: entry, top: top)
            }
        }
        #endif
    }

    /// Writes header placeholder, sections and padding, then the real header at offset 0.
    private func writeContents(fd: Int32, path: String, storage s: GraphStorage, count: Int, tombstones: Int,
                               entry: UInt32?, top: Int) throws(VectorIndexError) {
        var upperLists = 0
        for n in 0..<count { upperLists += Int(s.levels[n]) }
        let layout = IndexFileFormat.layout(count: count, stride: s.stride, m: m, upperLists: upperLists)

        var writer = IndexFileWriter(fd: fd, path: path)
        defer { writer.release() }
        var crcs: [UInt32] = []
        try writer.writeZeros(IndexFileFormat.headerSize)

        for section in IndexFileFormat.Section.allCases {
            try writer.pad()
            precondition(writer.offset == layout.sections[crcs.count].offset)
            writer.beginSection()
            switch section {
            case .ids:
                try writer.write(UnsafeRawBufferPointer(start: s.ids, count: count * 8))
            case .levels:
                try writer.write(UnsafeRawBufferPointer(start: s.levels, count: count))
            case .tombstones:
                // Bool is one byte, 0 or 1.
                try writer.write(UnsafeRawBufferPointer(start: s.deleted, count: count))
            case .vectors:
                try writer.write(UnsafeRawBufferPointer(start: s.vectors, count: count * s.stride * 4))
            case .layer0, .upper:
                // Each list as count-then-slots, the unused tail written as zeros (in memory it
                // may hold stale slots from before a pruning).
                let width = section == .layer0 ? 1 + s.maxM0 : 1 + m
                let list = UnsafeMutablePointer<UInt32>.allocate(capacity: width)
                defer { list.deallocate() }
                for n in 0..<count {
                    let layers = section == .layer0 ? 0..<1 : 1..<(Int(s.levels[n]) + 1)
                    for layer in layers {
                        let source = s.links(n, layer: layer)
                        let used = Int(source[0])
                        list.update(from: source, count: 1 + used)
                        (list + 1 + used).update(repeating: 0, count: width - 1 - used)
                        try writer.write(UnsafeRawBufferPointer(start: list, count: 4 * width))
                    }
                }
            }
            crcs.append(IndexCRC32C.mask(writer.crc))
            precondition(writer.offset == layout.sections[crcs.count - 1].offset + layout.sections[crcs.count - 1].length)
        }
        try writer.flush()
        precondition(writer.offset == layout.fileSize)

        var header = [UInt8](repeating: 0, count: IndexFileFormat.headerSize)
        func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
            withUnsafeBytes(of: value.littleEndian) { raw in
                for i in 0..<raw.count { header[offset + i] = raw[i] }
            }
        }
        for i in 0..<8 { header[i] = IndexFileFormat.magic[i] }
        put(encoding == .float32 ? UInt32(1) : IndexFileFormat.version, at: 8)
        if encoding != .float32 {
            put(encoding.fileCode, at: IndexFileFormat.encodingOffset)
            put(s.int8Scale.bitPattern, at: IndexFileFormat.int8ScaleOffset)
        }
        put(UInt32(IndexFileFormat.headerSize), at: 12)
        put(UInt64(layout.fileSize), at: 16)
        put(UInt32(dimension), at: 24)
        put(UInt32(s.stride), at: 28)
        put(IndexFileFormat.metricCode(metric), at: 32)
        put(UInt32(m), at: 36)
        put(UInt32(efConstruction), at: 40)
        put(count == 0 ? IndexFileFormat.none : UInt32(top), at: 44)
        put(seed, at: 48)
        put(UInt64(count), at: 56)
        put(UInt64(tombstones), at: 64)
        put(entry ?? IndexFileFormat.none, at: 72)
        put(UInt32(IndexFileFormat.Section.allCases.count), at: 76)
        for (i, section) in IndexFileFormat.Section.allCases.enumerated() {
            let base = IndexFileFormat.sectionTableOffset + i * IndexFileFormat.sectionEntrySize
            put(section.rawValue, at: base)
            put(crcs[i], at: base + 4)
            put(UInt64(layout.sections[i].offset), at: base + 8)
            put(UInt64(layout.sections[i].length), at: base + 16)
        }
        let headerCRC = header.withUnsafeBytes {
            IndexCRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<IndexFileFormat.headerCRCOffset]))
        }
        put(IndexCRC32C.mask(headerCRC), at: IndexFileFormat.headerCRCOffset)
        let written = header.withUnsafeBytes { pwrite(fd, $0.baseAddress!, $0.count, 0) }
        guard written == IndexFileFormat.headerSize else {
            let e = written < 0 ? errnoDescription(errno) : "short write (\(written) bytes)"
            throw VectorIndexError(.io, "\(path): writing the header failed: \(e)")
        }
    }
}

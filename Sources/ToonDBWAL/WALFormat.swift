import ToonDBFormat

/// The byte layout of WAL segments (docs/wal-format.md is the reference).
///
/// A segment is a header followed by records:
///
///     segment header (32 bytes):
///       magic "TOONWAL\0" (8) | version u32 | reserved u32 | first LSN u64 | masked CRC32C u32 of bytes 0..<24 | zero u32
///     record:
///       payload length u32 | masked CRC32C u32 | LSN u64 | epoch u64 | payload (an encoded WriteBatch)
///
/// The record CRC covers the length field, LSN, epoch and payload, so a corrupted length
/// is caught too. LSNs are dense: each record's LSN is the previous one plus one, across
/// segments; a segment's file name is its first LSN.
public enum WALFormat {
    public static let magic: [UInt8] = Array("TOONWAL\0".utf8)
    public static let version: UInt32 = 1
    public static let segmentHeaderSize = 32
    public static let recordHeaderSize = 24
    /// The largest payload a record may carry (a batch of many 16 MiB values is split by the
    /// engine long before this).
    public static let maxPayload = 1 << 30

    /// `00000000000000000042.wal` for first LSN 42: zero padded so names sort by LSN.
    public static func segmentName(firstLSN: LSN) -> String {
        let digits = String(firstLSN)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".wal"
    }

    /// The first LSN named by a segment file, or nil for other files.
    public static func firstLSN(ofSegmentNamed name: String) -> LSN? {
        guard name.hasSuffix(".wal"), name.count == 24 else { return nil }
        return LSN(name.dropLast(4))
    }

    public static func encodeSegmentHeader(firstLSN: LSN) -> [UInt8] {
        var bytes = magic
        bytes.appendFixed32(version)
        bytes.appendFixed32(0)
        bytes.appendFixed64(firstLSN)
        bytes.appendFixed32(CRC32C.mask(CRC32C.checksum(bytes)))
        bytes.appendFixed32(0)
        return bytes
    }

    /// Validates a segment header and returns its first LSN.
    public static func decodeSegmentHeader(_ bytes: UnsafeRawBufferPointer, path: String) throws(StorageError) -> LSN {
        guard bytes.count >= segmentHeaderSize else {
            throw .corruption("WAL segment header truncated (\(bytes.count) bytes)", path: path, offset: 0)
        }
        guard bytes.prefix(8).elementsEqual(magic) else {
            throw .corruption("WAL segment has a bad magic number", path: path, offset: 0)
        }
        let stored = loadFixed32(bytes.baseAddress!, 24)
        let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<24]))
        guard CRC32C.unmask(stored) == actual else {
            throw .corruption("WAL segment header checksum mismatch", path: path, offset: 0)
        }
        let version = loadFixed32(bytes.baseAddress!, 8)
        guard version == WALFormat.version else {
            throw .corruption("WAL segment format version \(version) is not supported (expected \(WALFormat.version))", path: path, offset: 8)
        }
        return loadFixed64(bytes.baseAddress!, 16)
    }

    /// Appends one record to `bytes`.
    public static func appendRecord(lsn: LSN, epoch: UInt64, batch: WriteBatch, to bytes: inout [UInt8]) {
        let start = bytes.count
        let payloadSize = batch.encodedSize
        // Grow geometrically: a group commit appends many records to one buffer, and
        // reserveCapacity(exact) would reallocate and copy the whole buffer for each of them.
        let needed = start + recordHeaderSize + payloadSize
        if bytes.capacity < needed { bytes.reserveCapacity(Swift.max(needed, 2 * bytes.capacity)) }
        bytes.appendFixed32(UInt32(payloadSize))
        bytes.appendFixed32(0)  // CRC, filled below
        bytes.appendFixed64(lsn)
        bytes.appendFixed64(epoch)
        batch.encode(into: &bytes)
        let crc = bytes.withUnsafeBytes { raw in
            let lengthCRC = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[start..<(start + 4)]))
            return CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(start + 8)...]), extending: lengthCRC)
        }
        bytes.storeFixed32(CRC32C.mask(crc), at: start + 4)
    }

    /// A record parsed in place (the payload points into the segment buffer).
    public struct RawRecord {
        public var lsn: LSN
        public var epoch: UInt64
        public var payload: UnsafeRawBufferPointer
        /// Offset of the record in its segment, and its total size.
        public var offset: Int
        public var size: Int
    }

    /// Why a record could not be parsed at some offset.
    public enum ParseFailure: Sendable, Equatable {
        /// The record runs past the end of the data (a torn or unfinished write).
        case truncated
        /// The bytes are all there but the checksum or a field is wrong.
        case badChecksum
        case badLength
    }

    /// A parsed record, or why there is none at an offset.
    public enum ParseOutcome {
        case record(RawRecord)
        case failure(ParseFailure)
    }

    /// Parses the record at `offset` of `data`.
    public static func parseRecord(_ data: UnsafeRawBufferPointer, at offset: Int) -> ParseOutcome {
        let available = data.count - offset
        guard available >= recordHeaderSize else { return .failure(.truncated) }
        let base = data.baseAddress! + offset
        let length = Int(loadFixed32(base, 0))
        guard length <= maxPayload else { return .failure(.badLength) }
        guard available >= recordHeaderSize + length else { return .failure(.truncated) }
        let lengthCRC = CRC32C.checksum(UnsafeRawBufferPointer(start: base, count: 4))
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: base + 8, count: 16 + length), extending: lengthCRC)
        guard CRC32C.unmask(loadFixed32(base, 4)) == crc else { return .failure(.badChecksum) }
        return .record(RawRecord(
            lsn: loadFixed64(base, 8), epoch: loadFixed64(base, 16),
            payload: UnsafeRawBufferPointer(start: base + recordHeaderSize, count: length),
            offset: offset, size: recordHeaderSize + length))
    }
}

/// A decoded WAL record: one committed transaction.
public struct WALRecord: Sendable, Equatable {
    public var lsn: LSN
    public var epoch: UInt64
    public var batch: WriteBatch
    public init(lsn: LSN, epoch: UInt64, batch: WriteBatch) {
        self.lsn = lsn
        self.epoch = epoch
        self.batch = batch
    }
}

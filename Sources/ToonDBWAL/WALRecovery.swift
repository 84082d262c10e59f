import ToonDBFormat
import ToonDBIO

/// What recovery found in the WAL.
public struct WALRecoveryOutcome: Sendable, Equatable {
    /// The last LSN present in the WAL (or the `after` LSN when the WAL holds nothing newer).
    public var lastLSN: LSN
    /// Records handed to the caller.
    public var replayedRecords: Int
    /// Bytes cut from a torn tail (0 when the WAL ended cleanly).
    public var truncatedBytes: Int64
    /// The segment new records go to and the offset they start at, when a segment exists.
    public var tail: (path: String, firstLSN: LSN, end: Int64)?
    /// The LSN the next record appended to ``tail`` would carry (its records end just before).
    public var nextLSNAfterTail: LSN?

    public static func == (a: Self, b: Self) -> Bool {
        a.lastLSN == b.lastLSN && a.replayedRecords == b.replayedRecords && a.truncatedBytes == b.truncatedBytes
            && a.tail?.path == b.tail?.path && a.tail?.end == b.tail?.end && a.tail?.firstLSN == b.tail?.firstLSN
    }
}

/// Replays the WAL at open.
///
/// Rules (docs/wal-format.md):
/// - LSNs must be dense across records and segments; a gap is corruption.
/// - Zeros from where a record would start to the end of a segment are the unused part of its
///   preallocation: the segment's records end there (cut off with `repair`, not reported).
/// - A record that fails its checksum or runs past the end of the LAST segment, with no valid
///   record after it, is a torn tail (a crash mid-write): the segment is truncated there.
/// - Any other bad record (in an earlier segment, or followed by a valid record) is corruption,
///   reported with the file and offset; nothing is skipped silently.
public enum WALRecovery {
    /// Calls `apply` for every record with LSN > `after`, in LSN order. With `repair`, a torn
    /// tail is truncated and an empty last segment removed; without, they are only reported.
    public static func replay(
        directory: String, backend: any IOBackend, after: LSN, repair: Bool = true,
        apply: (WALFormat.RawRecord) throws(StorageError) -> Void
    ) throws(StorageError) -> WALRecoveryOutcome {
        let segments = try WALDirectory.segments(in: directory)
        var outcome = WALRecoveryOutcome(lastLSN: after, replayedRecords: 0, truncatedBytes: 0, tail: nil)
        var expected: LSN? = nil  // the LSN the next record must carry, once known

        for (index, segment) in segments.enumerated() {
            let isLast = index == segments.count - 1
            // Skip segments that end before `after` without reading them.
            if !isLast && segments[index + 1].firstLSN <= after + 1 { continue }

            let data = try WALDirectory.read(segment, backend: backend)
            var torn = false
            let end = try data.withBytes { (raw) throws(StorageError) -> Int64 in
                // A last segment whose header never reached the disk holds no records.
                if isLast && raw.count < WALFormat.segmentHeaderSize { return -1 }
                let first: LSN
                do throws(StorageError) {
                    first = try WALFormat.decodeSegmentHeader(raw, path: segment.path)
                } catch {
                    if isLast && raw.count == WALFormat.segmentHeaderSize && raw.allSatisfy({ $0 == 0 }) { return -1 }
                    throw error
                }
                guard first == segment.firstLSN else {
                    throw .corruption("WAL segment header says first LSN \(first) but the file is named for \(segment.firstLSN)", path: segment.path, offset: 16)
                }
                if let want = expected, first != want {
                    throw .corruption("WAL gap: expected LSN \(want) but the next segment starts at \(first)", path: segment.path, offset: 0)
                }
                if expected == nil && first > after + 1 {
                    throw .corruption("WAL gap: records after LSN \(after) are missing; the oldest segment starts at \(first)", path: segment.path, offset: 0)
                }
                var next = first
                var offset = WALFormat.segmentHeaderSize
                while offset < raw.count {
                    switch WALFormat.parseRecord(raw, at: offset) {
                    case .record(let record):
                        guard record.lsn == next else {
                            throw .corruption("WAL record has LSN \(record.lsn), expected \(next)", path: segment.path, offset: Int64(offset))
                        }
                        if record.lsn > after {
                            try apply(record)
                            outcome.replayedRecords += 1
                        }
                        outcome.lastLSN = max(outcome.lastLSN, record.lsn)
                        next += 1
                        offset += record.size
                    case .failure(let failure):
                        if isZero(raw, from: offset) {
                            expected = next
                            return Int64(offset)  // the writer's preallocation, never written
                        }
                        let problem = failure == .truncated ? "truncated record" : "record checksum mismatch"
                        guard isLast, !hasValidRecord(raw, after: offset, minimumLSN: next) else {
                            throw .corruption("WAL \(problem) (LSN \(next)) before the end of the log", path: segment.path, offset: Int64(offset))
                        }
                        expected = next
                        torn = true
                        return Int64(offset)  // torn tail: cut here
                    }
                }
                expected = next
                return Int64(raw.count)
            }
            if end < 0 {
                // An empty last segment (its header never reached the disk): the writer recreates it.
                if repair {
                    do { try FileSystem.remove(segment.path) } catch { throw StorageError(error, context: "removing an empty WAL segment") }
                }
                continue
            }
            if end < Int64(data.count) {
                if torn { outcome.truncatedBytes = Int64(data.count) - end }
                if repair {
                    do {
                        let file = try File.open(segment.path, .readWrite)
                        try file.truncate(to: end)
                        try backend.sync(file, dataOnly: false)
                    } catch {
                        throw StorageError(error, context: "truncating the torn WAL tail")
                    }
                }
            }
            outcome.tail = (segment.path, segment.firstLSN, end)
            outcome.nextLSNAfterTail = expected
        }
        return outcome
    }

    /// Whether every byte from `offset` to the end is zero.
    static func isZero(_ raw: UnsafeRawBufferPointer, from offset: Int) -> Bool {
        var i = offset
        while i + 8 <= raw.count {
            if raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) != 0 { return false }
            i += 8
        }
        while i < raw.count {
            if raw[i] != 0 { return false }
            i += 1
        }
        return true
    }

    /// Whether any well-formed record with LSN >= `minimumLSN` starts after `offset`: if so, the
    /// damage is not a torn tail but corruption in the middle of the log.
    static func hasValidRecord(_ raw: UnsafeRawBufferPointer, after offset: Int, minimumLSN: LSN) -> Bool {
        var candidate = offset + 1
        while candidate + WALFormat.recordHeaderSize <= raw.count {
            let lsn = loadFixed64(raw.baseAddress!, candidate + 8)
            if lsn >= minimumLSN && lsn < minimumLSN + (1 << 32) {
                if case .record = WALFormat.parseRecord(raw, at: candidate) { return true }
            }
            candidate += 1
        }
        return false
    }
}

/// Reads records from a WAL directory in LSN order (replication and tools).
public enum WALReader {
    /// Every record with LSN > `after`; stops quietly at a torn tail (it does not truncate).
    public static func records(directory: String, backend: any IOBackend, after: LSN) throws(StorageError) -> [WALRecord] {
        var records: [WALRecord] = []
        _ = try WALRecovery.replay(directory: directory, backend: backend, after: after, repair: false) { (raw) throws(StorageError) in
            records.append(WALRecord(lsn: raw.lsn, epoch: raw.epoch, batch: try WriteBatch.decode(raw.payload)))
        }
        return records
    }
}

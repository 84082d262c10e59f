#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import ToonDBFormat
import ToonDBIO

/// An open segment; shared between the writer and a background syncer, closed when both let go.
final class OpenSegment: Sendable {
    let file: File
    let firstLSN: LSN
    init(file: consuming File, firstLSN: LSN) {
        self.file = file
        self.firstLSN = firstLSN
    }
}

/// Appends group-commit batches to the WAL.
///
/// One committer (the group-commit leader) appends at a time; ``syncIfNeeded()`` may run
/// concurrently from a background thread (sync mode `normal`). Segments rotate once they pass
/// ``Options/segmentSize``. A failed write is cut back off the file so the next append starts
/// at the last good byte; a failed sync poisons the writer (after a failed fsync the kernel may
/// have dropped the dirty pages, so nothing written since the last good sync can be trusted)
/// and every later append fails until the database is reopened.
public final class WALWriter: Sendable {
    public struct Options: Sendable {
        /// Rotate to a new segment once the current one reaches this size.
        public var segmentSize: Int64 = 64 << 20
        public init(segmentSize: Int64 = 64 << 20) { self.segmentSize = segmentSize }
    }

    private struct State {
        var segment: OpenSegment
        var offset: Int64
        var lastWritten: LSN
        var lastSynced: LSN
        var poisoned: StorageError?
        var closedBytes: Int64      // bytes in segments other than the open one
        var closedSegments: [WALSegmentInfo]
    }

    public let directory: String
    private let backend: any IOBackend
    private let options: Options
    private let state: Mutex<State>
    /// Serialises appends with rotation; the syncer never takes it.
    private let appendLock = Mutex(())

    /// Opens the WAL for appending after recovery. `tail` is recovery's last segment and its
    /// valid end; `lastLSN` is the last LSN recovered (the next record gets `lastLSN + 1`).
    public init(directory: String, backend: any IOBackend, lastLSN: LSN,
                tail: (path: String, firstLSN: LSN, end: Int64)?, options: Options = Options()) throws(StorageError) {
        self.directory = directory
        self.backend = backend
        self.options = options
        do { try FileSystem.createDirectory(directory) } catch { throw StorageError(error, context: "creating the WAL directory") }
        var closed = try WALDirectory.segments(in: directory)
        let segment: OpenSegment
        let offset: Int64
        if let tail, tail.end >= Int64(WALFormat.segmentHeaderSize), tail.end < options.segmentSize {
            do {
                segment = OpenSegment(file: try File.open(tail.path, .readWrite), firstLSN: tail.firstLSN)
            } catch { throw StorageError(error, context: "opening the WAL tail") }
            offset = tail.end
            closed.removeAll { $0.path == tail.path }
        } else {
            (segment, offset) = try Self.createSegment(directory: directory, firstLSN: lastLSN + 1, backend: backend)
        }
        // What recovery replayed counts as committed, so make it durable before anything new.
        do { try backend.sync(segment.file, dataOnly: true) } catch { throw StorageError(error, context: "syncing the WAL tail at open") }
        state = Mutex(State(segment: segment, offset: offset, lastWritten: lastLSN, lastSynced: lastLSN, poisoned: nil,
                            closedBytes: closed.reduce(0) { $0 + $1.size }, closedSegments: closed))
    }

    private static func createSegment(directory: String, firstLSN: LSN, backend: any IOBackend) throws(StorageError) -> (OpenSegment, Int64) {
        let path = directory + "/" + WALFormat.segmentName(firstLSN: firstLSN)
        do {
            let file = try File.open(path, .createTruncate)
            let header = WALFormat.encodeSegmentHeader(firstLSN: firstLSN)
            try header.withBytes { (raw) throws(IOError) in try backend.writeAndSync(file, raw, at: 0) }
            try FileSystem.syncDirectory(directory)
            return (OpenSegment(file: file, firstLSN: firstLSN), Int64(header.count))
        } catch {
            throw StorageError(error, context: "creating WAL segment \(path)")
        }
    }

    /// Appends `bytes` (records `firstLSN...lastLSN`, already encoded) and, with `sync`, waits
    /// until they are durable.
    public func append(_ bytes: [UInt8], firstLSN: LSN, lastLSN: LSN, sync: Bool) throws(StorageError) {
        try appendLock.withLock { (_) throws(StorageError) in
            var (segment, offset, poisoned, lastWritten) = state.withLock { ($0.segment, $0.offset, $0.poisoned, $0.lastWritten) }
            if let poisoned { throw StorageError(.writesStopped, "the WAL stopped accepting writes after an earlier failure (\(poisoned.message)); reopen the database") }
            guard firstLSN == lastWritten + 1 else {
                throw StorageError(.internal, "WAL append out of order: LSN \(firstLSN) after \(lastWritten)")
            }
            if offset >= options.segmentSize {
                (segment, offset) = try rotate(from: segment, offset: offset, firstLSN: firstLSN)
            }
            do throws(IOError) {
                try bytes.withBytes { (raw) throws(IOError) in
                    if sync { try backend.writeAndSync(segment.file, raw, at: offset) } else { try backend.write(segment.file, raw, at: offset) }
                }
            } catch {
                // Cut any partial write off so the next append starts clean; if even that fails,
                // or the failure was the sync, stop accepting writes.
                // After a failed sync the bytes may have landed even though the commit is
                // reported as failed; cut them off too (best effort) so a reopen does not bring
                // back a commit the caller was told failed.
                let failure = StorageError(error, context: "writing the WAL")
                let syncFailed = error.operation.contains("sync")
                let truncated = (try? segment.file.truncate(to: offset)) != nil
                if syncFailed || !truncated { state.withLock { $0.poisoned = failure } }
                throw failure
            }
            state.withLock {
                $0.offset = offset + Int64(bytes.count)
                $0.lastWritten = lastLSN
                if sync { $0.lastSynced = lastLSN }
            }
        }
    }

    private func rotate(from old: OpenSegment, offset: Int64, firstLSN: LSN) throws(StorageError) -> (OpenSegment, Int64) {
        // Every closed segment is durable, whatever the sync mode: recovery treats damage in a
        // closed segment as corruption, never as a torn tail.
        do { try backend.sync(old.file, dataOnly: true) } catch {
            let failure = StorageError(error, context: "syncing a full WAL segment")
            state.withLock { $0.poisoned = failure }
            throw failure
        }
        let (segment, start) = try Self.createSegment(directory: directory, firstLSN: firstLSN, backend: backend)
        state.withLock {
            $0.closedSegments.append(WALSegmentInfo(firstLSN: old.firstLSN, path: old.file.path, size: offset))
            $0.closedBytes += offset
            $0.segment = segment
            $0.offset = start
            $0.lastSynced = max($0.lastSynced, firstLSN - 1)
        }
        return (segment, start)
    }

    /// Starts a new segment at the next LSN when the current one holds records, so that a
    /// checkpoint can delete everything it covers. Called between commits.
    public func rotateIfNotEmpty() throws(StorageError) {
        try appendLock.withLock { (_) throws(StorageError) in
            let (segment, offset, written, poisoned) = state.withLock { ($0.segment, $0.offset, $0.lastWritten, $0.poisoned) }
            if let poisoned { throw StorageError(.writesStopped, "the WAL stopped accepting writes after an earlier failure (\(poisoned.message)); reopen the database") }
            guard offset > Int64(WALFormat.segmentHeaderSize) else { return }
            _ = try rotate(from: segment, offset: offset, firstLSN: written + 1)
        }
    }

    /// Makes everything written so far durable (sync mode `normal`'s interval sync, checkpoints,
    /// close). Cheap when nothing is pending.
    public func syncIfNeeded() throws(StorageError) {
        let (segment, written, synced, poisoned) = state.withLock { ($0.segment, $0.lastWritten, $0.lastSynced, $0.poisoned) }
        if let poisoned { throw poisoned }
        guard written > synced else { return }
        do { try backend.sync(segment.file, dataOnly: true) } catch {
            let failure = StorageError(error, context: "syncing the WAL")
            state.withLock { $0.poisoned = failure }
            throw failure
        }
        state.withLock { $0.lastSynced = max($0.lastSynced, written) }
    }

    /// The failure that stopped the WAL, if any.
    public var poisonedError: StorageError? { state.withLock { $0.poisoned } }

    /// The last LSN written, and the last known durable.
    public var lastWrittenLSN: LSN { state.withLock { $0.lastWritten } }
    public var lastSyncedLSN: LSN { state.withLock { $0.lastSynced } }

    /// Total bytes in all segments, and the number of segments.
    public var totalBytes: Int64 { state.withLock { $0.closedBytes + $0.offset } }
    public var segmentCount: Int { state.withLock { $0.closedSegments.count + 1 } }

    /// Deletes closed segments whose records all have LSN <= `lsn` (a segment is wholly below
    /// `lsn` when the next segment starts at or before `lsn + 1`). Returns how many were removed.
    @discardableResult
    public func removeSegments(throughLSN lsn: LSN) throws(StorageError) -> Int {
        let doomed: [WALSegmentInfo] = state.withLock { s in
            var result: [WALSegmentInfo] = []
            let starts = s.closedSegments.map(\.firstLSN) + [s.segment.firstLSN]
            for (i, segment) in s.closedSegments.enumerated() where starts[i + 1] <= lsn + 1 {
                result.append(segment)
            }
            return result
        }
        for segment in doomed {
            do { try FileSystem.remove(segment.path) } catch { throw StorageError(error, context: "removing an old WAL segment") }
        }
        if !doomed.isEmpty {
            state.withLock { s in
                s.closedSegments.removeAll { seg in doomed.contains { $0.path == seg.path } }
                s.closedBytes = s.closedSegments.reduce(0) { $0 + $1.size }
            }
        }
        return doomed.count
    }

    /// The first LSN still held in the WAL.
    public var oldestLSN: LSN { state.withLock { $0.closedSegments.first?.firstLSN ?? $0.segment.firstLSN } }
}

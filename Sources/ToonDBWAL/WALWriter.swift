#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import ToonDBFormat
import ToonDBIO

/// An open segment; shared between the writer and a background syncer, closed when both let go.
/// Immutable; the mapped bytes are stored into only by the appender, under the append lock.
final class OpenSegment: @unchecked Sendable {
    let file: File
    let firstLSN: LSN
    /// The segment mapped for appends (see ``WALWriter/Options/mappedAppends``), and its start
    /// and length as plain values for the append path.
    private let mapping: FileMapping?
    let mappedBase: UnsafeMutableRawPointer?
    let mappedLength: Int64

    init(file: consuming File, firstLSN: LSN, mapLength: Int64?) {
        var mapping: FileMapping? = nil
        if let mapLength { mapping = try? FileMapping(file, length: Int(mapLength)) }
        // Read base and length before the optional moves into the stored property.
        let (base, length): (UnsafeMutableRawPointer?, Int64) = switch mapping {
        case .some(let m): (m.base, Int64(m.length))
        case .none: (nil, 0)
        }
        self.mapping = mapping
        mappedBase = base
        mappedLength = length
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
///
/// The open segment is preallocated ahead of the appends, ``preallocationChunk`` at a time
/// (the file grows with zeros), so an append overwrites reserved blocks instead of growing the
/// file: an fdatasync then has no file size to journal (measured: 8.5k → 12.3k synced
/// 150-byte appends/s on ext4), and a full disk is met when a chunk is reserved. Closing and
/// rotating cut the unused zeros off; after a crash, recovery reads a zero tail as the end.
public final class WALWriter: Sendable {
    public struct Options: Sendable {
        /// Rotate to a new segment once the current one reaches this size.
        public var segmentSize: Int64 = 64 << 20
        /// Appends of up to ``WALWriter/mappedAppendLimit`` bytes are copied into a shared
        /// mapping of the segment (inside its preallocated part) instead of written with
        /// `pwrite`: the same page-cache pages without a system call per commit (docs/io.md).
        /// Where mapping or preallocation fails, appends are written.
        public var mappedAppends = true
        public init(segmentSize: Int64 = 64 << 20, mappedAppends: Bool = true) {
            self.segmentSize = segmentSize
            self.mappedAppends = mappedAppends
        }
        var mapLength: Int64? { mappedAppends ? segmentSize : nil }
    }

    private struct State {
        var segment: OpenSegment
        var offset: Int64
        /// The file's size: bytes from `offset` to here are reserved zeros.
        var allocated: Int64
        /// Preallocation failed as unsupported: the file grows by appends alone.
        var preallocates = true
        var closed = false
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
    /// Larger appends are written even when the segment is mapped (see ``Options/mappedAppends``):
    /// their page faults and the write-protection of mapped pages at writeback cost more than
    /// one `pwrite` (1,000-put batches ran 5–8% slower mapped).
    public static let mappedAppendLimit = 16 << 10
    /// How far ahead of the appends the open segment is reserved.
    public static let preallocationChunk: Int64 = 1 << 20

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
        var allocated: Int64
        if let tail, tail.end >= Int64(WALFormat.segmentHeaderSize), tail.end < options.segmentSize {
            do {
                segment = OpenSegment(file: try File.open(tail.path, .readWrite), firstLSN: tail.firstLSN, mapLength: options.mapLength)
            } catch { throw StorageError(error, context: "opening the WAL tail") }
            offset = tail.end
            closed.removeAll { $0.path == tail.path }
        } else {
            (segment, offset) = try Self.createSegment(directory: directory, firstLSN: lastLSN + 1, backend: backend, mapLength: options.mapLength)
        }
        do { allocated = try segment.file.size() } catch { throw StorageError(error, context: "opening the WAL") }
        if allocated < offset { allocated = offset }
        // What recovery replayed counts as committed, so make it durable before anything new.
        do { try backend.sync(segment.file, dataOnly: true) } catch { throw StorageError(error, context: "syncing the WAL tail at open") }
        state = Mutex(State(segment: segment, offset: offset, allocated: allocated, lastWritten: lastLSN, lastSynced: lastLSN, poisoned: nil,
                            closedBytes: closed.reduce(0) { $0 + $1.size }, closedSegments: closed))
    }

    private static func createSegment(directory: String, firstLSN: LSN, backend: any IOBackend, mapLength: Int64?) throws(StorageError) -> (OpenSegment, Int64) {
        let path = directory + "/" + WALFormat.segmentName(firstLSN: firstLSN)
        do {
            let file = try File.open(path, .createTruncate)
            let header = WALFormat.encodeSegmentHeader(firstLSN: firstLSN)
            try header.withBytes { (raw) throws(IOError) in try backend.writeAndSync(file, raw, at: 0) }
            try FileSystem.syncDirectory(directory)
            return (OpenSegment(file: file, firstLSN: firstLSN, mapLength: mapLength), Int64(header.count))
        } catch {
            throw StorageError(error, context: "creating WAL segment \(path)")
        }
    }

    /// Appends `bytes` (records `firstLSN...lastLSN`, already encoded) and, with `sync`, waits
    /// until they are durable.
    public func append(_ bytes: [UInt8], firstLSN: LSN, lastLSN: LSN, sync: Bool) throws(StorageError) {
        try appendLock.withLock { (_) throws(StorageError) in
            var (segment, offset, lastWritten) = try appendable()
            guard firstLSN == lastWritten + 1 else {
                throw StorageError(.internal, "WAL append out of order: LSN \(firstLSN) after \(lastWritten)")
            }
            if offset >= options.segmentSize {
                (segment, offset) = try rotate(from: segment, offset: offset, firstLSN: firstLSN)
            }
            let end = offset + Int64(bytes.count)
            let reserved = try reserve(segment, through: end)
            do throws(IOError) {
                if bytes.count <= Self.mappedAppendLimit, let base = segment.mappedBase, end <= min(reserved, segment.mappedLength) {
                    // In order, front to back: killed mid-copy, the segment holds a prefix of
                    // the group, which recovery cuts as a torn tail (memcpy may store the end
                    // first, and a whole later record after a torn one reads as corruption).
                    bytes.withUnsafeBytes { FileMapping.store($0, to: base + Int(offset)) }
                    if sync { try backend.sync(segment.file, dataOnly: true) }
                } else {
                    try bytes.withBytes { (raw) throws(IOError) in
                        if sync { try backend.writeAndSync(segment.file, raw, at: offset) } else { try backend.write(segment.file, raw, at: offset) }
                    }
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
                state.withLock {
                    if truncated { $0.allocated = offset }
                    if syncFailed || !truncated { $0.poisoned = failure }
                }
                throw failure
            }
            state.withLock {
                $0.offset = offset + Int64(bytes.count)
                $0.lastWritten = lastLSN
                if sync { $0.lastSynced = lastLSN }
            }
        }
    }

    /// Grows the reservation of the open segment to cover `end` (a chunk at a time, never past
    /// the segment size by more than the record that crosses it). Where the file system cannot
    /// preallocate, appends grow the file. A full disk fails here, before anything is written.
    /// Returns the bytes reserved (the file's size, when preallocation works).
    private func reserve(_ segment: OpenSegment, through end: Int64) throws(StorageError) -> Int64 {
        let (allocated, preallocates) = state.withLock { ($0.allocated, $0.preallocates) }
        guard end > allocated, preallocates else { return allocated }
        let chunk = Self.preallocationChunk
        let target = max(end, min((end + chunk - 1) / chunk * chunk, options.segmentSize))
        let reserved: Bool
        do { reserved = try backend.preallocate(segment.file, offset: allocated, length: target - allocated) } catch {
            throw StorageError(error, context: "reserving space for the WAL")
        }
        return state.withLock {
            if reserved { $0.allocated = target } else { $0.preallocates = false }
            return $0.allocated
        }
    }

    /// Cuts the open segment's unused reservation off and fsyncs it (size included).
    private func trim(_ segment: OpenSegment, at offset: Int64, context: String) throws(StorageError) {
        do {
            if state.withLock({ $0.allocated }) > offset { try segment.file.truncate(to: offset) }
            try backend.sync(segment.file, dataOnly: false)
        } catch {
            let failure = StorageError(error, context: context)
            state.withLock { $0.poisoned = failure }
            throw failure
        }
        state.withLock { $0.allocated = offset }
    }

    private func rotate(from old: OpenSegment, offset: Int64, firstLSN: LSN) throws(StorageError) -> (OpenSegment, Int64) {
        // Every closed segment is durable and exactly as long as its records, whatever the sync
        // mode: recovery treats damage in a closed segment as corruption, never as a torn tail.
        try trim(old, at: offset, context: "syncing a full WAL segment")
        let (segment, start) = try Self.createSegment(directory: directory, firstLSN: firstLSN, backend: backend, mapLength: options.mapLength)
        state.withLock {
            $0.closedSegments.append(WALSegmentInfo(firstLSN: old.firstLSN, path: old.file.path, size: offset))
            $0.closedBytes += offset
            $0.segment = segment
            $0.offset = start
            $0.allocated = start
            $0.lastSynced = max($0.lastSynced, firstLSN - 1)
        }
        return (segment, start)
    }

    /// Starts a new segment at the next LSN when the current one holds records, so that a
    /// checkpoint can delete everything it covers. Called between commits.
    public func rotateIfNotEmpty() throws(StorageError) {
        try appendLock.withLock { (_) throws(StorageError) in
            let (segment, offset, written) = try appendable()
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

    deinit {
        // A writer dropped without close (a database never closed): leave no zeros behind.
        let (segment, offset, allocated, closed) = state.withLock { ($0.segment, $0.offset, $0.allocated, $0.closed) }
        if !closed && allocated > offset { try? segment.file.truncate(to: offset) }
    }

    /// The open segment, the offset appends go to and the last LSN written; throws when the
    /// writer stopped or was closed.
    private func appendable() throws(StorageError) -> (OpenSegment, Int64, LSN) {
        let (segment, offset, written, poisoned, closed) = state.withLock { ($0.segment, $0.offset, $0.lastWritten, $0.poisoned, $0.closed) }
        if let poisoned { throw StorageError(.writesStopped, "the WAL stopped accepting writes after an earlier failure (\(poisoned.message)); reopen the database") }
        if closed { throw StorageError(.databaseClosed, "the WAL is closed") }
        return (segment, offset, written)
    }

    /// Syncs what was written and cuts the open segment's reservation off, so the files hold
    /// exactly the records; later appends fail. Idempotent. With nothing reserved past the
    /// records and nothing unsynced (a database opened and closed without writes), it touches
    /// no file.
    public func close() throws(StorageError) {
        try appendLock.withLock { (_) throws(StorageError) in
            let (segment, offset, poisoned, closed, reserved, unsynced) = state.withLock {
                ($0.segment, $0.offset, $0.poisoned, $0.closed, $0.allocated > $0.offset, $0.lastWritten > $0.lastSynced)
            }
            guard !closed else { return }
            if let poisoned { throw poisoned }
            if reserved || unsynced { try trim(segment, at: offset, context: "syncing the WAL at close") }
            state.withLock {
                $0.lastSynced = $0.lastWritten
                $0.closed = true
            }
        }
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

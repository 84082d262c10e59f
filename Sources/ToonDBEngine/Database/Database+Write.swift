#if canImport(Glibc)
import Glibc
#endif
import ToonDBFormat
import ToonDBWAL

extension Database {
    /// Stores `value` under `key` as its own transaction; returns the commit LSN.
    @discardableResult
    public func put(_ key: [UInt8], _ value: [UInt8]) throws(StorageError) -> LSN {
        var batch = WriteBatch()
        batch.put(key, value)
        return try write(batch)
    }

    /// Deletes `key` (a tombstone; deleting a missing key is not an error); returns the commit LSN.
    @discardableResult
    public func delete(_ key: [UInt8]) throws(StorageError) -> LSN {
        var batch = WriteBatch()
        batch.delete(key)
        return try write(batch)
    }

    /// Applies every operation of `batch` atomically as one transaction (one WAL record, one
    /// LSN). When a key appears more than once, its last operation wins. Returns the commit
    /// LSN (the current LSN for an empty batch, which writes nothing).
    @discardableResult
    public func write(_ batch: WriteBatch) throws(StorageError) -> LSN {
        try checkOpen()
        try validate(batch)
        if batch.isEmpty { return currentSnapshot }
        let writes = batch.lastWriteWins()
        // A lone writer commits at once, without a queue entry to allocate and hand over.
        if let outcome = commitQueue.commitAlone({ commitAlone(writes) }) { return try outcome.get() }
        return try commitQueue.submit(CommitRequest(batch: writes, snapshot: nil), leader: self)
    }

    /// Commits each batch as its own transaction (its own LSN and WAL record, atomic on its own),
    /// queued together so that they usually share one WAL write and one sync: what a server does
    /// with a pipelined run of single writes. A batch that fails validation (an oversized key, say)
    /// fails alone; the others commit. Results are in the order of `batches`.
    public func writeEach(_ batches: [WriteBatch]) -> [Result<LSN, StorageError>] {
        do {
            try checkOpen()
        } catch {
            return batches.map { _ in .failure(error) }
        }
        var results = [Result<LSN, StorageError>?](repeating: nil, count: batches.count)
        var valid: [WriteBatch] = []
        var positions: [Int] = []
        for (index, batch) in batches.enumerated() {
            do {
                try validate(batch)
                if batch.isEmpty {
                    results[index] = .success(currentSnapshot)
                    continue
                }
            } catch {
                results[index] = .failure(error)
                continue
            }
            valid.append(batch.lastWriteWins())
            positions.append(index)
        }
        if !valid.isEmpty {
            let request = CommitRequest(independent: valid)
            commitQueue.commit(request, leader: self)
            for (outcome, index) in zip(request.results, positions) { results[index] = outcome }
        }
        return results.map { $0! }
    }

    /// Commits a transaction's writes, failing with a conflict when another transaction
    /// committed any of these keys after `snapshot`.
    func commit(_ batch: WriteBatch, snapshot: LSN) throws(StorageError) -> LSN {
        try checkOpen()
        return try commitQueue.submit(CommitRequest(batch: batch, snapshot: snapshot), leader: self)
    }

    func validate(_ batch: WriteBatch) throws(StorageError) {
        try batch.forEach { op throws(StorageError) in
            try Self.validateKeySize(op.key.count)
            try validateValueSize(op.value.count)
        }
        try Self.validateSize(batch)
    }

    /// One transaction is one WAL record, whose payload is limited to 1 GiB.
    static func validateSize(_ batch: WriteBatch) throws(StorageError) {
        if batch.byteSize > WALFormat.maxPayload / 2, batch.encodedSize > WALFormat.maxPayload {
            throw StorageError(.valueTooLarge, "a transaction of \(batch.encodedSize) bytes exceeds the \(WALFormat.maxPayload)-byte limit of one commit")
        }
    }

    // MARK: - The leader's work

    /// Commits one auto-commit batch as the only committer (see ``CommitQueue/commitAlone(_:)``):
    /// what ``commitGroup(_:)`` does for a group of one, without the request object.
    private func commitAlone(_ batch: WriteBatch) -> Result<LSN, StorageError> {
        let memtable: Memtable
        do {
            try checkOpen()
            memtable = try makeRoomForWrite()
        } catch {
            return .failure(error)
        }
        conflicts.update(activeTransactions: snapshots.hasActive, nextLSN: lastAssignedLSN + 1)
        let lsn = lastAssignedLSN + 1
        walRecords.removeAll(keepingCapacity: true)
        if options.walEnabled { WALFormat.appendRecord(lsn: lsn, epoch: options.epoch, batch: batch, to: &walRecords) }
        do {
            try apply([(batch, lsn)], to: memtable)
        } catch {
            return .failure(error)
        }
        return .success(lsn)
    }

    /// Writes `walRecords` (the records of `commits`, whose LSNs follow `lastAssignedLSN`
    /// densely), inserts the batches into `memtable` and publishes them to readers.
    private func apply(_ commits: [(batch: WriteBatch, lsn: LSN)], to memtable: Memtable) throws(StorageError) {
        guard let last = commits.last?.lsn else { return }
        if options.walEnabled {
            try wal.append(walRecords, firstLSN: lastAssignedLSN + 1, lastLSN: last, sync: options.syncMode == .full)
        }
        memtable.insert(commits)
        if conflicts.isTracking || !commitObservers.isEmpty {
            for (batch, lsn) in commits {
                conflicts.record(batch, lsn: lsn)
                if !commitObservers.isEmpty { notifyObservers(batch, lsn: lsn) }
            }
        }
        lastAssignedLSN = last
        visibleLSN.store(last, ordering: .releasing)
        commitCount.wrappingIncrement(by: commits.count, ordering: .relaxed)
        commitGroupCount.wrappingIncrement(ordering: .relaxed)
        if conflicts.isTracking {
            conflicts.prune(oldestSnapshot: snapshots.oldest { self.visibleLSN.load(ordering: .acquiring) })
        }
    }

    /// Commits a group (called by the group-commit leader, one group at a time): checks
    /// conflicts, assigns dense LSNs, writes the WAL once, inserts into the memtable, publishes.
    func commitGroup(_ group: [CommitRequest]) {
        if closed.load(ordering: .acquiring) && !group[0].bypassClosed {
            for request in group { request.fail(StorageError(.databaseClosed, "the database at \(path) is closed")) }
            return
        }
        if case .barrier(let body) = group[0].kind {
            do { try body(); group[0].result = .success(lastAssignedLSN) } catch { group[0].result = .failure(error) }
            return
        }
        let memtable: Memtable
        do {
            memtable = try makeRoomForWrite()
        } catch {
            for request in group { request.fail(error) }
            return
        }

        conflicts.update(activeTransactions: snapshots.hasActive, nextLSN: lastAssignedLSN + 1)
        var pending: [ByteKey: LSN] = [:]
        // What is committed, and whose it is (parallel arrays).
        var accepted: [(batch: WriteBatch, lsn: LSN)] = []
        var owners: [(request: CommitRequest, slot: Int?)] = []
        walRecords.removeAll(keepingCapacity: true)
        var lsn = lastAssignedLSN
        let epoch = options.epoch
        // Keys written earlier in the group matter only to a transaction's conflict check.
        let tracksPending = group.count > 1 && group.contains {
            if case .batch(_, let snapshot) = $0.kind { return snapshot != nil }
            return false
        }
        for request in group {
            if case .independent(let batches) = request.kind {
                request.results = Array(repeating: .failure(StorageError(.internal, "not committed")), count: batches.count)
                for (slot, batch) in batches.enumerated() {
                    lsn += 1
                    if options.walEnabled { WALFormat.appendRecord(lsn: lsn, epoch: epoch, batch: batch, to: &walRecords) }
                    accepted.append((batch, lsn))
                    owners.append((request, slot))
                    if tracksPending { batch.forEach { op in pending[ByteKey([UInt8](op.key))] = lsn } }
                }
                continue
            }
            guard case .batch(let batch, let snapshot) = request.kind else { continue }
            if let snapshot {
                do {
                    if let key = try conflictingKey(batch, snapshot: snapshot, pending: pending) {
                        request.result = .failure(StorageError(.conflict,
                            "write-write conflict on key \(describeKey(key)): another transaction committed it after this transaction's snapshot (LSN \(snapshot))"))
                        continue
                    }
                } catch {
                    request.result = .failure(error)
                    continue
                }
            }
            lsn += 1
            if options.walEnabled { WALFormat.appendRecord(lsn: lsn, epoch: epoch, batch: batch, to: &walRecords) }
            accepted.append((batch, lsn))
            owners.append((request, nil))
            if tracksPending { batch.forEach { op in pending[ByteKey([UInt8](op.key))] = lsn } }
        }
        guard !accepted.isEmpty else { return }

        do {
            try apply(accepted, to: memtable)
        } catch {
            for owner in owners { owner.request.finish(.failure(error), slot: owner.slot) }
            return
        }
        for (owner, commit) in zip(owners, accepted) { owner.request.finish(.success(commit.lsn), slot: owner.slot) }
    }

    /// The first key of `batch` that was committed after `snapshot`, if any.
    private func conflictingKey(_ batch: WriteBatch, snapshot: LSN, pending: [ByteKey: LSN]) throws(StorageError) -> [UInt8]? {
        let useTracker = conflicts.covers(snapshot: snapshot)
        let view = useTracker ? nil : readView()
        var conflicting: [UInt8]?
        try batch.forEach { op throws(StorageError) in
            guard conflicting == nil else { return }
            let key = [UInt8](op.key)
            if let lsn = pending[ByteKey(key)], lsn > snapshot { conflicting = key; return }
            if useTracker {
                if let lsn = conflicts.lastCommit(of: key), lsn > snapshot { conflicting = key }
            } else {
                switch try newestVersion(key, snapshot: InternalKey.maxLSN, view: view!) {
                case .value(_, let lsn), .deleted(let lsn): if lsn > snapshot { conflicting = key }
                case .notFound: break
                }
            }
        }
        return conflicting
    }

    /// Waits until the memtable has room: switches a full memtable to the flush queue, slows
    /// writers down when level 0 piles up, and stops them (waiting) when it or the flush queue
    /// is full. Throws when background work has failed, so writers do not wait forever.
    /// Returns the memtable to insert into (only the leader switches it, so it stays current).
    func makeRoomForWrite() throws(StorageError) -> Memtable {
        var slowed = false
        stateLock.lock()
        defer { stateLock.unlock() }
        while true {
            if let error = backgroundError {
                throw StorageError(.writesStopped, "writes are stopped until background work recovers: \(error.message)")
            }
            let level0 = versions.current.levels[0].count
            if level0 >= options.level0SlowdownTrigger && !slowed && options.backgroundWork {
                slowed = true
                stateLock.unlock()
                usleep(1000)
                stateLock.lock()
                continue
            }
            if memtable.memoryUsage < options.memtableSize || memtable.isEmpty { return memtable }
            if options.backgroundWork && (immutables.count >= options.maxImmutableMemtables || level0 >= options.level0StopTrigger) {
                stateLock.wait(seconds: 1)
                continue
            }
            switchMemtable()
            if !options.backgroundWork {
                // Tests that drive flushes by hand: flush inline.
                stateLock.unlock()
                let result = Result { () throws(StorageError) in try flushOldestImmutable() }
                stateLock.lock()
                try result.get()
            }
        }
    }

    /// Moves the active memtable to the flush queue (state lock held).
    func switchMemtable() {
        guard !memtable.isEmpty else { return }
        memtable.linkPending()  // flushes and scans of immutable memtables walk the list
        immutables.append(memtable)
        memtable = Memtable(id: nextMemtableID, expectedEntries: memtable.count)
        dropCachedReadView()
        nextMemtableID += 1
        stateLock.broadcast()
    }
}

/// A key for error messages: UTF-8 when printable, else hex; long keys are shortened.
func describeKey(_ key: [UInt8]) -> String {
    let shown = key.prefix(64)
    if let text = String(validating: shown, as: UTF8.self), text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) {
        return "\"\(text)\"" + (key.count > 64 ? "…" : "")
    }
    let hex = shown.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    return "0x" + hex + (key.count > 64 ? "…" : "")
}

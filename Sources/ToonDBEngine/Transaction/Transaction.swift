import Synchronization
import ToonDBFormat

/// A snapshot-isolation transaction.
///
/// Reads see the database as of ``snapshot`` (the LSN when the transaction began) plus the
/// transaction's own writes. Writes are buffered and applied atomically by ``commit()`` as one
/// WAL record; if another transaction committed any key this one wrote after its snapshot,
/// commit fails with ``StorageError/Code/conflict`` (first committer wins) and nothing is
/// applied. Reads never write to the WAL. A finished transaction rejects every call with
/// ``StorageError/Code/transactionClosed``.
///
/// A transaction may be handed between threads but is meant for one at a time; its methods are
/// internally locked so misuse cannot corrupt it.
public final class Transaction: Sendable {
    public enum Status: Sendable, Equatable { case active, committed, aborted }

    private struct State {
        var status: Status = .active
        /// Pending writes: key -> value (nil = delete).
        var writes: [ByteKey: [UInt8]?] = [:]
        var order: [[UInt8]] = []
    }

    /// Unique per database handle, for callers that refer to transactions by number.
    public let id: UInt64
    /// The LSN this transaction reads at.
    public let snapshot: LSN
    private let database: Database
    private let state = Mutex(State())

    init(database: Database, id: UInt64, snapshot: LSN) {
        self.database = database
        self.id = id
        self.snapshot = snapshot
    }

    deinit {
        if state.withLock({ $0.status }) == .active { database.snapshots.release(snapshot) }
    }

    public var status: Status { state.withLock { $0.status } }

    private func requireActive(_ s: State) throws(StorageError) {
        switch s.status {
        case .active: return
        case .committed: throw StorageError(.transactionClosed, "Transaction already committed")
        case .aborted: throw StorageError(.transactionClosed, "Transaction already aborted")
        }
    }

    private func withActive<R>(_ body: (inout State) throws(StorageError) -> R) throws(StorageError) -> R {
        try database.checkOpen()
        return try state.withLock { (s) throws(StorageError) -> R in
            try requireActive(s)
            return try body(&s)
        }
    }

    public func put(_ key: [UInt8], _ value: [UInt8]) throws(StorageError) {
        try Database.validateKey(key)
        try database.validateValue(value)
        try withActive { s in
            if s.writes.updateValue(value, forKey: ByteKey(key)) == nil { s.order.append(key) }
        }
    }

    public func delete(_ key: [UInt8]) throws(StorageError) {
        try Database.validateKey(key)
        try withActive { s in
            if s.writes.updateValue(nil, forKey: ByteKey(key)) == nil { s.order.append(key) }
        }
    }

    /// Adds every operation of `batch` to the transaction's writes, all or none: every key and
    /// value is checked before any is added.
    public func write(_ batch: WriteBatch) throws(StorageError) {
        try database.validate(batch)
        try withActive { s in
            batch.forEach { op in
                let key = [UInt8](op.key)
                let value: [UInt8]? = op.kind == .value ? [UInt8](op.value) : nil
                if s.writes.updateValue(value, forKey: ByteKey(key)) == nil { s.order.append(key) }
            }
        }
    }

    /// The value at this transaction's snapshot, or its own pending write.
    public func get(_ key: [UInt8]) throws(StorageError) -> [UInt8]? {
        try Database.validateKey(key)
        let own: [UInt8]?? = try withActive { s in s.writes[ByteKey(key)] }
        if let own { return own }
        return try database.lookup(key, snapshot: snapshot)
    }

    public func putPath(_ path: String, _ value: [UInt8]) throws(StorageError) { try put(PathKeys.key(path), value) }
    public func getPath(_ path: String) throws(StorageError) -> [UInt8]? { try get(PathKeys.key(path)) }
    public func deletePath(_ path: String) throws(StorageError) { try delete(PathKeys.key(path)) }

    /// Pairs in `[start, end)` (empty `end` = unbounded) at the snapshot, merged with this
    /// transaction's own writes (a pending delete hides a key; a pending put adds or replaces).
    public func scan(from start: [UInt8] = [], to end: [UInt8] = []) throws(StorageError) -> [(key: [UInt8], value: [UInt8])] {
        let upper: [UInt8]? = end.isEmpty ? nil : end
        let pending: [([UInt8], [UInt8]?)] = try withActive { s in
            s.writes.filter { key, _ in
                compareBytes(key.bytes, start) >= 0 && (upper.map { compareBytes(key.bytes, $0) < 0 } ?? true)
            }.map { ($0.key.bytes, $0.value) }.sorted { compareBytes($0.0, $1.0) < 0 }
        }
        let iterator = database.makeScan(start: start, end: upper, snapshot: snapshot)
        var result: [(key: [UInt8], value: [UInt8])] = []
        var index = 0
        var next = try iterator.next()
        while next != nil || index < pending.count {
            let takePending: Bool
            if let stored = next, index < pending.count {
                let c = compareBytes(pending[index].0, stored.key)
                if c == 0 { next = try iterator.next() }  // the pending write replaces it
                takePending = c <= 0
            } else {
                takePending = index < pending.count
            }
            if takePending {
                if let value = pending[index].1 { result.append((pending[index].0, value)) }
                index += 1
            } else if let stored = next {
                result.append(stored)
                next = try iterator.next()
            }
        }
        return result
    }

    public func scan(prefix: [UInt8]) throws(StorageError) -> [(key: [UInt8], value: [UInt8])] {
        try scan(from: prefix, to: prefixSuccessor(prefix) ?? [])
    }

    /// Applies the writes atomically and returns the commit LSN (the commit timestamp). A
    /// transaction that wrote nothing commits without touching the WAL and returns its snapshot.
    @discardableResult
    public func commit() throws(StorageError) -> LSN {
        let (writes, order): ([ByteKey: [UInt8]?], [[UInt8]]) = try withActive { s in
            s.status = .committed  // claimed: a concurrent second commit sees it finished
            return (s.writes, s.order)
        }
        defer { database.snapshots.release(snapshot) }
        if writes.isEmpty { return snapshot }
        var batch = WriteBatch()
        for key in order {
            if let value = writes[ByteKey(key)]! { batch.put(key, value) } else { batch.delete(key) }
        }
        do {
            try Database.validateSize(batch)
            return try database.commit(batch, snapshot: snapshot)
        } catch {
            // Nothing was applied; the transaction is over either way.
            state.withLock { $0.status = .aborted }
            throw error
        }
    }

    /// Discards the writes. Aborting twice is an error, like any call on a finished transaction.
    public func abort() throws(StorageError) {
        try state.withLock { (s) throws(StorageError) in
            try requireActive(s)
            s.status = .aborted
            s.writes.removeAll()
        }
        database.snapshots.release(snapshot)
    }
}

extension Database {
    /// Begins a transaction reading the current snapshot.
    public func beginTransaction() throws(StorageError) -> Transaction {
        try checkOpen()
        let snapshot = snapshots.register { self.visibleLSN.load(ordering: .acquiring) }
        let id = transactionIDs.wrappingIncrementThenLoad(ordering: .relaxed)
        return Transaction(database: self, id: id, snapshot: snapshot)
    }

    // MARK: - Paths

    @discardableResult
    public func putPath(_ path: String, _ value: [UInt8]) throws(StorageError) -> LSN { try put(PathKeys.key(path), value) }
    public func getPath(_ path: String) throws(StorageError) -> [UInt8]? { try get(PathKeys.key(path)) }
    @discardableResult
    public func deletePath(_ path: String) throws(StorageError) -> LSN { try delete(PathKeys.key(path)) }
    /// Everything strictly below `path`: `users/1` matches `users/1/...`, never `users/10/...`.
    public func scanPath(_ path: String) throws(StorageError) -> ScanIterator { try scan(prefix: PathKeys.scanPrefix(path)) }
}

import Synchronization
import ToonDBCollections
import ToonDBEngine

/// An open database as the C ABI sees it: the engine handle, the transactions begun through
/// this handle (C callers name them by id), and the table index policies.
final class DatabaseHandle: Sendable {
    let database: Database
    let indexPolicies: IndexPolicyStore
    private let transactions = Mutex(TransactionTable())
    /// Created on the first collection call (it registers a commit observer).
    private let catalog = Mutex<CollectionCatalog?>(nil)

    init(database: Database, indexPolicies: IndexPolicyStore) {
        self.database = database
        self.indexPolicies = indexPolicies
    }

    /// Active transactions by id, and how recently finished ones ended (so reusing a finished
    /// handle says "already committed" rather than "unknown").
    private struct TransactionTable {
        var active: [UInt64: Transaction] = [:]
        var finished: [UInt64: Transaction.Status] = [:]
        var finishedOrder: [UInt64] = []
        static let finishedLimit = 1 << 14

        mutating func finish(_ id: UInt64, _ status: Transaction.Status) {
            active[id] = nil
            finished[id] = status
            finishedOrder.append(id)
            if finishedOrder.count > Self.finishedLimit {
                let drop = finishedOrder.count / 2
                for old in finishedOrder.prefix(drop) { finished[old] = nil }
                finishedOrder.removeFirst(drop)
            }
        }
    }

    func begin() throws(StorageError) -> Transaction {
        let transaction = try database.beginTransaction()
        transactions.withLock { $0.active[transaction.id] = transaction }
        return transaction
    }

    /// The transaction a C handle names: nil for id 0 (auto-commit), an error for a finished
    /// or unknown one.
    func transaction(_ id: UInt64) throws(StorageError) -> Transaction? {
        if id == 0 { return nil }
        return try transactions.withLock { (table) throws(StorageError) -> Transaction in
            if let transaction = table.active[id] { return transaction }
            switch table.finished[id] {
            case .committed: throw StorageError(.transactionClosed, "Transaction already committed")
            case .aborted: throw StorageError(.transactionClosed, "Transaction already aborted")
            case .active, nil: throw StorageError(.invalidArgument, "unknown transaction id \(id)")
            }
        }
    }

    /// Commits and forgets the transaction (a failed commit leaves it aborted).
    func commit(_ id: UInt64) throws(StorageError) -> LSN {
        guard let transaction = try transaction(id) else { throw .invalidArgument("transaction id 0 is not a transaction") }
        defer { transactions.withLock { $0.finish(id, transaction.status) } }
        return try transaction.commit()
    }

    func abort(_ id: UInt64) throws(StorageError) {
        guard let transaction = try transaction(id) else { throw .invalidArgument("transaction id 0 is not a transaction") }
        defer { transactions.withLock { $0.finish(id, .aborted) } }
        try transaction.abort()
    }

    /// The database's vector collections.
    func collections() throws(CollectionError) -> CollectionCatalog {
        try catalog.withLock { (catalog) throws(CollectionError) -> CollectionCatalog in
            if let existing = catalog { return existing }
            let created = try CollectionCatalog(database: database)
            catalog = created
            return created
        }
    }

    /// Saves the opened collections' indexes (the database is closing), so the next open
    /// loads them instead of rebuilding.
    func saveCollectionIndexes() throws(CollectionError) {
        guard let opened = catalog.withLock({ $0 }) else { return }
        try opened.saveIndexes()
    }

    /// Aborts every transaction still open (the database is closing).
    func abortAll() {
        let open = transactions.withLock { table in
            let open = Array(table.active.values)
            for transaction in open { table.finish(transaction.id, .aborted) }
            return open
        }
        for transaction in open { try? transaction.abort() }
    }
}

/// An open scan: a streaming engine iterator, or (inside a transaction, whose scans merge its
/// own writes) a materialised list.
final class ScanHandle: Sendable {
    private enum Source {
        case stream(ScanIterator)
        case list([(key: [UInt8], value: [UInt8])], next: Int)
        case finished
    }

    let owner: DatabaseHandle
    private let source: Mutex<Source>

    init(owner: DatabaseHandle, iterator: ScanIterator) {
        self.owner = owner
        source = Mutex(.stream(iterator))
    }

    init(owner: DatabaseHandle, pairs: [(key: [UInt8], value: [UInt8])]) {
        self.owner = owner
        source = Mutex(.list(pairs, next: 0))
    }

    /// Calls `body` with up to `limit` pairs (the buffers are valid during the call only);
    /// returns true when the scan is exhausted.
    func next(limit: Int, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) throws(StorageError) -> Bool {
        try visit(limit: limit) { key, value in
            body(key, value)
            return true
        }
    }

    /// Calls `body` with up to `limit` pairs, stopping early after a pair for which it returns
    /// false; returns true when the scan is exhausted.
    func visit(limit: Int, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) throws(StorageError) -> Bool {
        try owner.database.checkOpen()
        return try source.withLock { (source) throws(StorageError) -> Bool in
            switch source {
            case .finished:
                return true
            case .list(let pairs, let start):
                var end = start + min(limit, pairs.count - start)  // no overflow for any limit
                for index in start..<end {
                    let keepGoing = pairs[index].key.withUnsafeBytes { key in pairs[index].value.withUnsafeBytes { value in body(key, value) } }
                    if !keepGoing {
                        end = index + 1
                        break
                    }
                }
                source = end == pairs.count ? .finished : .list(pairs, next: end)
                return end == pairs.count
            case .stream(let iterator):
                guard limit > 0 else { return false }
                var count = 0
                var stopped = false
                try iterator.forEach { (key, value) throws(StorageError) -> Bool in
                    stopped = !body(key, value)
                    count += 1
                    return count < limit && !stopped
                }
                // A full (or stopped) batch cannot tell whether more follow; the next call finds out.
                let exhausted = count < limit && !stopped
                if exhausted { source = .finished }
                return exhausted
            }
        }
    }
}

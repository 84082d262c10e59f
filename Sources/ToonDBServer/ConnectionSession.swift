import ToonDBEngine
import ToonDBProtocol

/// One connection's state: the transactions it opened. Confined to the connection's event
/// loop (never shared), so it needs no lock.
final class ConnectionSession {
    private var open: [UInt64: Transaction] = [:]
    /// How recently finished transactions ended, so reusing one says "already committed"
    /// rather than "unknown". Bounded: the oldest are forgotten first.
    private var finished: [UInt64: Transaction.Status] = [:]
    private var finishedOrder: [UInt64] = []
    /// Transactions whose commit is running off the event loop: their final status (committed,
    /// or aborted by a conflict) is read by ``settle()`` once it is known.
    private var committing: [UInt64: Transaction] = [:]
    private let limit: Int
    private let stats: ServerStats
    /// This connection's request counts since they were last added to the server's.
    var tally = RequestTally()

    static let rememberedFinished = 1024

    init(limit: Int, stats: ServerStats) {
        self.limit = limit
        self.stats = stats
    }

    var openCount: Int { open.count }

    func begin(_ database: Database) throws(WireError) -> Transaction {
        guard open.count < limit else {
            throw WireError(.tooManyTransactions, "this connection already has \(limit) open transactions; commit or abort one first")
        }
        let transaction: Transaction
        do {
            transaction = try database.beginTransaction()
        } catch {
            throw WireError(error)
        }
        open[transaction.id] = transaction
        stats.add(\.transactionsOpen)
        return transaction
    }

    /// The open transaction `id`, or the error for a finished or unknown one.
    func transaction(_ id: UInt64) throws(WireError) -> Transaction {
        if let transaction = open[id] { return transaction }
        settle()
        switch finished[id] {
        case .committed: throw WireError(.transaction, "Transaction already committed")
        case .aborted: throw WireError(.transaction, "Transaction already aborted")
        case .active, nil: throw WireError(.unknownTransaction, "unknown transaction id \(id) on this connection")
        }
    }

    /// Takes `id` out of the open transactions for its commit; ``settle()`` records how the
    /// commit ended.
    func takeForCommit(_ id: UInt64) throws(WireError) -> Transaction {
        let transaction = try self.transaction(id)
        open[id] = nil
        stats.add(\.transactionsOpen, -1)
        committing[id] = transaction
        return transaction
    }

    /// Takes `id` out of the open transactions for its abort.
    func takeForAbort(_ id: UInt64) throws(WireError) -> Transaction {
        let transaction = try self.transaction(id)
        open[id] = nil
        stats.add(\.transactionsOpen, -1)
        remember(id, .aborted)
        return transaction
    }

    /// Records the outcome of finished commits.
    func settle() {
        for (id, transaction) in committing where transaction.status != .active {
            remember(id, transaction.status)
            committing[id] = nil
        }
    }

    private func remember(_ id: UInt64, _ status: Transaction.Status) {
        finished[id] = status
        finishedOrder.append(id)
        if finishedOrder.count > Self.rememberedFinished {
            finished[finishedOrder.removeFirst()] = nil
        }
    }

    /// Aborts every open transaction (the connection is going away).
    func abortAll() {
        for id in Array(open.keys) {
            if let transaction = try? takeForAbort(id) { try? transaction.abort() }
        }
    }
}

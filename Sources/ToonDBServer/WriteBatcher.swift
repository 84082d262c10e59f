import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ToonDBEngine
import ToonDBFormat

/// Commits the auto-commit writes of every connection on one event loop together, once per
/// loop iteration (after the loop has read what its sockets had), the way Redis appends to its
/// AOF once per iteration: many clients' single writes share one commit group and one WAL
/// write. Each write is still its own transaction with its own result.
///
/// Confined to its event loop (all calls come from it), hence `@unchecked Sendable`: it is
/// only shared through ``WriteBatchers``, which hands each loop its own.
final class WriteBatcher: @unchecked Sendable {
    typealias Writes = [(WriteBatch, RequestExecutor.WriteReply)]

    private let eventLoop: any EventLoop
    private let database: Database
    private let pool: NIOThreadPool
    /// Commits wait for an fsync (sync mode `full`): commit on the pool, not on the loop.
    private let commitsBlock: Bool
    private var waiting: [(writes: Writes, done: (ArraySlice<Result<LSN, StorageError>>) -> Void)] = []
    private var scheduled = false

    init(eventLoop: any EventLoop, database: Database, pool: NIOThreadPool, commitsBlock: Bool) {
        self.eventLoop = eventLoop
        self.database = database
        self.pool = pool
        self.commitsBlock = commitsBlock
    }

    /// Queues `writes`; `done` gets their results, in order, later in this loop iteration (or,
    /// in sync mode `full`, once the fsync is done). `done` runs on the event loop.
    func submit(_ writes: Writes, done: @escaping (ArraySlice<Result<LSN, StorageError>>) -> Void) {
        eventLoop.preconditionInEventLoop()
        waiting.append((writes, done))
        guard !scheduled else { return }
        scheduled = true
        eventLoop.assumeIsolated().execute { self.commit() }
    }

    private func commit() {
        scheduled = false
        let batch = waiting
        waiting.removeAll(keepingCapacity: true)
        let all = batch.flatMap { $0.writes.map(\.0) }
        if commitsBlock {
            let database = self.database
            pool.runIfActive(eventLoop: eventLoop) { database.writeEach(all) }
                .assumeIsolated()
                .whenComplete { result in
                    switch result {
                    case .success(let results): Self.distribute(results, to: batch)
                    case .failure:
                        let stopped = StorageError(.databaseClosed, "the server is stopping")
                        Self.distribute(all.map { _ in .failure(stopped) }, to: batch)
                    }
                }
        } else {
            Self.distribute(database.writeEach(all), to: batch)
        }
    }

    private static func distribute(_ results: [Result<LSN, StorageError>],
                                   to batch: [(writes: Writes, done: (ArraySlice<Result<LSN, StorageError>>) -> Void)]) {
        var start = 0
        for (writes, done) in batch {
            done(results[start..<(start + writes.count)])
            start += writes.count
        }
    }
}

/// One ``WriteBatcher`` per event loop.
final class WriteBatchers: Sendable {
    private let batchers = NIOLockedValueBox<[ObjectIdentifier: WriteBatcher]>([:])
    private let database: Database
    private let pool: NIOThreadPool
    private let commitsBlock: Bool

    init(database: Database, pool: NIOThreadPool, commitsBlock: Bool) {
        self.database = database
        self.pool = pool
        self.commitsBlock = commitsBlock
    }

    func batcher(for eventLoop: any EventLoop) -> WriteBatcher {
        batchers.withLockedValue { batchers in
            if let batcher = batchers[ObjectIdentifier(eventLoop)] { return batcher }
            let batcher = WriteBatcher(eventLoop: eventLoop, database: database, pool: pool, commitsBlock: commitsBlock)
            batchers[ObjectIdentifier(eventLoop)] = batcher
            return batcher
        }
    }
}

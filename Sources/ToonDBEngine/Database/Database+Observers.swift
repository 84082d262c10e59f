#if canImport(Glibc)
import Glibc
#endif
import ToonDBFormat

/// Told about one committed transaction: its LSN and those of its operations whose keys start
/// with the observer's prefix (never empty). See ``Database/observeCommits(prefix:_:)``.
public typealias CommitObserver = @Sendable (_ lsn: LSN, _ operations: [WriteBatch.Operation]) -> Void

/// A registered ``CommitObserver`` and the key prefix it watches.
struct ObserverRegistration {
    var prefix: [UInt8]
    var observer: CommitObserver
}

extension Database {
    /// Registers `observer` for every later commit that writes or deletes a key starting with
    /// `prefix`, and returns the LSN of the last commit before it: the state at that LSN plus the
    /// reported commits is the whole history, so derived state (a vector index) can be built from
    /// a read at that LSN or later and then kept current.
    ///
    /// The observer runs on the committing thread (the group-commit leader), in LSN order, after
    /// the writes are in the memtable and before the commit is acknowledged to its writer. It
    /// must be quick (queue the work) and must not write to the database.
    @discardableResult
    public func observeCommits(prefix: [UInt8], _ observer: @escaping CommitObserver) throws(StorageError) -> LSN {
        try atCommitBoundary { lsn in
            self.commitObservers.append(ObserverRegistration(prefix: prefix, observer: observer))
            return lsn
        }
    }

    /// Runs `body` between two commit groups: no commit is in flight, and every commit up to the
    /// LSN passed to `body` is visible to reads. Commits wait while `body` runs.
    /// (`body` is escaping because the commit queue may hold the request a while after it ran.)
    public func atCommitBoundary<T>(_ body: @escaping (LSN) throws(StorageError) -> T) throws(StorageError) -> T {
        try checkOpen()
        nonisolated(unsafe) var result: T?
        _ = try commitQueue.submit(CommitRequest(barrier: { [unowned self] () throws(StorageError) in
            result = try body(self.lastAssignedLSN)
        }), leader: self)
        return result!
    }

    /// Reports one committed batch to the observers whose prefix it touches (leader only).
    func notifyObservers(_ batch: WriteBatch, lsn: LSN) {
        // Runs for every commit: indices and a borrowed prefix, so a commit no observer
        // watches costs a comparison per operation and nothing else.
        for r in commitObservers.indices {
            var matching: [WriteBatch.Operation] = []
            commitObservers[r].prefix.withUnsafeBytes { prefix in
                batch.forEach { op in
                    guard op.key.count >= prefix.count,
                          prefix.isEmpty || memcmp(op.key.baseAddress!, prefix.baseAddress!, prefix.count) == 0 else { return }
                    matching.append(WriteBatch.Operation(kind: op.kind, key: [UInt8](op.key), value: [UInt8](op.value)))
                }
            }
            if !matching.isEmpty { commitObservers[r].observer(lsn, matching) }
        }
    }
}

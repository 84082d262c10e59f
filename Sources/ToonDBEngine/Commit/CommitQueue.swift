#if canImport(Glibc)
import Glibc
#endif
import ToonDBFormat

/// One commit waiting in the queue: a write batch (with the snapshot of its transaction, for
/// conflict checks), several independent auto-commit batches submitted together (each its own
/// transaction and LSN, one request so they cost one queue entry), or a barrier that runs alone
/// between commits (memtable switches for checkpoints, close).
final class CommitRequest: @unchecked Sendable {
    enum Kind {
        case batch(WriteBatch, snapshot: LSN?)
        case independent([WriteBatch])
        case barrier(() throws(StorageError) -> Void)
    }

    let kind: Kind
    let bypassClosed: Bool
    /// The outcome (for `.independent`, set when all of them are known).
    var result: Result<LSN, StorageError>?
    /// For `.independent`: each batch's outcome, in order.
    var results: [Result<LSN, StorageError>] = []
    var done = false
    /// Signalled when this request is done or has become the leader.
    let wakeup = Condition()

    init(batch: WriteBatch, snapshot: LSN?) {
        kind = .batch(batch, snapshot: snapshot)
        bypassClosed = false
    }

    init(independent batches: [WriteBatch]) {
        kind = .independent(batches)
        bypassClosed = false
    }

    init(barrier: @escaping () throws(StorageError) -> Void, bypassClosed: Bool = false) {
        kind = .barrier(barrier)
        self.bypassClosed = bypassClosed
    }

    var byteSize: Int {
        switch kind {
        case .batch(let batch, _): return batch.byteSize + 16 * batch.count
        case .independent(let batches): return batches.reduce(0) { $0 + $1.byteSize + 16 * $1.count }
        case .barrier: return 0
        }
    }

    /// Records the outcome of the whole request, or of its batch `slot` (`.independent`).
    func finish(_ outcome: Result<LSN, StorageError>, slot: Int?) {
        if let slot { results[slot] = outcome } else { result = outcome }
    }

    /// Fails the request, every batch of it included.
    func fail(_ error: StorageError) {
        result = .failure(error)
        if case .independent(let batches) = kind { results = Array(repeating: .failure(error), count: batches.count) }
    }

    var isBarrier: Bool {
        if case .barrier = kind { return true }
        return false
    }
}

/// Group commit (the LevelDB writer queue): committers line up; the one at the front becomes
/// the leader, takes the requests behind it as one group, writes them with one WAL write and
/// one sync, and wakes them all. While a leader syncs, the next group forms behind it.
final class CommitQueue: @unchecked Sendable {
    /// A group stops growing at this many bytes (a huge first request travels alone).
    static let maxGroupBytes = 4 << 20

    private let lock = ConditionLock()
    private var queue: [CommitRequest] = []
    private var head = 0
    /// A decaying maximum of recent group sizes (written by leaders, under the lock).
    private var recentGroupSize = 1.0
    /// Whether a ``commitAlone(_:)`` body is running (queued requests wait for it to end).
    private var aloneActive = false

    /// Queues `request` and returns its LSN once it is committed (or throws why not).
    func submit(_ request: CommitRequest, leader database: Database) throws(StorageError) -> LSN {
        commit(request, leader: database)
        return try request.result!.get()
    }

    /// Queues `request` and returns once it is done; its outcome is in `result` (and, for
    /// independent batches, `results`).
    func commit(_ request: CommitRequest, leader database: Database) {
        lock.lock()
        queue.append(request)
        while !request.done && (aloneActive || queue[head] !== request) { lock.wait(on: request.wakeup) }
        if !request.done { lead(from: request, database: database) }
        lock.unlock()
    }

    /// Runs `body` as the leader at once when no commit is queued or under way: the
    /// uncontended single writer needs no request object, queue entry or hand-off. Returns nil
    /// without running `body` when another commit is under way (the caller then queues).
    /// Requests queued while `body` runs wait for it, then the first of them leads.
    ///
    /// Declined, too, while recent groups had several members: there the committers take
    /// turns too quickly to ever see an empty queue for long, and one committing alone would
    /// split the next group (16 synced writers went from 13.5 to 9.7 commits per sync).
    func commitAlone<R>(_ body: () -> R) -> R? {
        lock.lock()
        if aloneActive || head < queue.count || recentGroupSize >= 2 {
            lock.unlock()
            return nil
        }
        aloneActive = true
        lock.unlock()
        let result = body()
        lock.lock()
        aloneActive = false
        let nextLeader = head < queue.count ? queue[head] : nil
        lock.unlock()
        nextLeader?.wakeup.signal()
        return result
    }

    /// Commits the group at the head of the queue (`first` is there). Called and returns with
    /// the lock held; releases it while committing.
    private func lead(from first: CommitRequest, database: Database) {
        // When recent groups were large (several committers are active) and few are queued
        // now, the committers just acknowledged are on their way back: yield a few times so
        // they join this group instead of forming a small one behind it.
        if database.options.syncMode == .full && recentGroupSize >= 2 {
            var yields = 0
            while yields < 4 && Double(queue.count - head) < recentGroupSize * 0.75 {
                lock.unlock()
                sched_yield()
                lock.lock()
                yields += 1
            }
        }
        var group = [first]
        if !first.isBarrier && database.options.groupCommit {
            var bytes = first.byteSize
            var index = head + 1
            while index < queue.count, !queue[index].isBarrier, bytes < Self.maxGroupBytes {
                bytes += queue[index].byteSize
                group.append(queue[index])
                index += 1
            }
        }
        lock.unlock()

        database.commitGroup(group)

        lock.lock()
        recentGroupSize = max(Double(group.count), recentGroupSize * 0.9)
        for member in group { member.done = true }
        head += group.count
        if head > 1024 && head * 2 > queue.count {
            queue.removeFirst(head)
            head = 0
        }
        let nextLeader = head < queue.count ? queue[head] : nil
        lock.unlock()
        // Wake after unlocking, so the woken threads do not at once block on the lock. (`group`
        // keeps the requests, and so their conditions, alive.)
        nextLeader?.wakeup.signal()
        for member in group where member !== first { member.wakeup.signal() }
        lock.lock()
    }
}

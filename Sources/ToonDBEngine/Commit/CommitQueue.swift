#if canImport(Glibc)
import Glibc
#endif
import ToonDBFormat

/// One commit waiting in the queue: a write batch (with the snapshot of its transaction, for
/// conflict checks), or a barrier that runs alone between commits (memtable switches for
/// checkpoints, close).
final class CommitRequest: @unchecked Sendable {
    enum Kind {
        case batch(WriteBatch, snapshot: LSN?)
        case barrier(() throws(StorageError) -> Void)
    }

    let kind: Kind
    let bypassClosed: Bool
    var result: Result<LSN, StorageError>?
    var done = false
    /// Signalled when this request is done or has become the leader.
    let wakeup = Condition()

    init(batch: WriteBatch, snapshot: LSN?) {
        kind = .batch(batch, snapshot: snapshot)
        bypassClosed = false
    }

    init(barrier: @escaping () throws(StorageError) -> Void, bypassClosed: Bool = false) {
        kind = .barrier(barrier)
        self.bypassClosed = bypassClosed
    }

    var byteSize: Int {
        if case .batch(let batch, _) = kind { return batch.byteSize + 16 * batch.count }
        return 0
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
    /// A decaying maximum of recent group sizes (written by leaders only).
    private var recentGroupSize = 1.0

    /// Queues `request` and returns its LSN once it is committed (or throws why not).
    func submit(_ request: CommitRequest, leader database: Database) throws(StorageError) -> LSN {
        submitAll([request], leader: database)
        return try request.result!.get()
    }

    /// Queues `requests` together (adjacent in the queue, so they usually commit as one group:
    /// one WAL write) and returns when every one is done; each has its own result.
    func submitAll(_ requests: [CommitRequest], leader database: Database) {
        guard !requests.isEmpty else { return }
        lock.lock()
        queue.append(contentsOf: requests)
        var next = 0  // the first of `requests` not yet done
        while next < requests.count {
            let request = requests[next]
            while !request.done && queue[head] !== request { lock.wait(on: request.wakeup) }
            if request.done {
                next += 1
                continue
            }
            // This thread leads a group starting at `request`.
            lead(from: request, database: database)
            next += 1
        }
        lock.unlock()
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
        recentGroupSize = max(Double(group.count), recentGroupSize * 0.9)

        lock.lock()
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

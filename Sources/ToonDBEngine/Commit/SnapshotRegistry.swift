import Synchronization
import ToonDBFormat

/// The snapshots of active transactions: how many there are and the oldest, which bounds
/// which old versions compaction must keep and which write records conflict detection needs.
///
/// Registration reads the visible LSN under the registry's lock, so a pruning pass that
/// computed "oldest" under the same lock can never race past a transaction that is starting.
final class SnapshotRegistry: Sendable {
    private let snapshots = Mutex<[LSN: Int]>([:])

    /// Registers a snapshot at the LSN `visible()` returns, atomically with respect to ``oldest(orElse:)``.
    func register(_ visible: () -> LSN) -> LSN {
        snapshots.withLock { s in
            let lsn = visible()
            s[lsn, default: 0] += 1
            return lsn
        }
    }

    func release(_ lsn: LSN) {
        snapshots.withLock { s in
            if let count = s[lsn] {
                if count <= 1 { s[lsn] = nil } else { s[lsn] = count - 1 }
            }
        }
    }

    /// The oldest active snapshot, or `visible()` when there is none.
    func oldest(orElse visible: () -> LSN) -> LSN {
        snapshots.withLock { s in s.keys.min() ?? visible() }
    }

    var oldestActive: LSN? { snapshots.withLock { $0.keys.min() } }
    var activeCount: Int { snapshots.withLock { $0.values.reduce(0, +) } }
    /// Whether any transaction is active (what the commit path asks, once per group).
    var hasActive: Bool { snapshots.withLock { !$0.isEmpty } }
}

/// Remembers, for keys written recently, the LSN of their last commit, so a committing
/// transaction can check "was any key I wrote changed after my snapshot?" (first committer wins).
///
/// Used only by the group-commit leader, so it needs no lock. It records writes only while
/// transactions are active; `coverageStart` is the first LSN from which its records are
/// complete. A transaction whose snapshot predates that falls back to looking up the newest
/// version of each key in the engine, which is always correct but slower.
struct ConflictTracker {
    private var lastWrite: [ByteKey: LSN] = [:]
    private(set) var coverageStart: LSN = .max
    private var pruneAt = 1 << 16

    var isTracking: Bool { coverageStart != .max }

    /// Called by the leader before assigning LSNs starting at `nextLSN`.
    mutating func update(activeTransactions: Bool, nextLSN: LSN) {
        if activeTransactions && !isTracking {
            coverageStart = nextLSN
        } else if !activeTransactions && isTracking {
            lastWrite.removeAll(keepingCapacity: false)
            coverageStart = .max
        }
    }

    /// Whether the tracker alone can answer for a transaction with this snapshot.
    func covers(snapshot: LSN) -> Bool { isTracking && coverageStart <= snapshot + 1 }

    func lastCommit(of key: [UInt8]) -> LSN? { lastWrite[ByteKey(key)] }

    mutating func record(_ batch: WriteBatch, lsn: LSN) {
        guard isTracking else { return }
        batch.forEach { op in lastWrite[ByteKey([UInt8](op.key))] = lsn }
    }

    /// Drops records no active snapshot can conflict with.
    mutating func prune(oldestSnapshot: LSN) {
        guard lastWrite.count >= pruneAt else { return }
        lastWrite = lastWrite.filter { $0.value > oldestSnapshot }
        pruneAt = max(1 << 16, lastWrite.count * 2)
    }

    var count: Int { lastWrite.count }
}

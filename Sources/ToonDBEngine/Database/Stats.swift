/// A point-in-time view of the engine, for operators and the `stats` command.
public struct DatabaseStats: Sendable, Equatable {
    public struct Level: Sendable, Equatable {
        public var level: Int
        public var tables: Int
        public var bytes: Int64
    }

    public var memtableBytes: Int
    public var immutableMemtables: Int
    public var walBytes: Int64
    public var walSegments: Int
    public var levels: [Level]
    public var pendingCompactionBytes: Int64
    public var compactionsCompleted: Int
    public var flushesCompleted: Int
    /// Write transactions committed since open, and the WAL writes (group commits) they took.
    public var commits: Int
    public var commitGroups: Int
    public var blockCacheHits: Int
    public var blockCacheMisses: Int
    public var blockCacheBytes: Int
    public var lastLSN: UInt64
    public var lastCheckpointLSN: UInt64
    public var flushedLSN: UInt64
    public var activeTransactions: Int
    /// The oldest snapshot an active transaction reads, if any.
    public var oldestActiveSnapshot: UInt64?
    public var ioBackend: String
    public var syncMode: String
    /// The error that stopped writes, if any.
    public var writeError: String?

    public var tableCount: Int { levels.reduce(0) { $0 + $1.tables } }
    public var tableBytes: Int64 { levels.reduce(0) { $0 + $1.bytes } }

    /// Every statistic as an ordered list of name/value pairs (for JSON, TOON and the CLI).
    public var fields: [(String, String)] {
        var result: [(String, String)] = [
            ("memtable_bytes", "\(memtableBytes)"),
            ("immutable_memtables", "\(immutableMemtables)"),
            ("wal_bytes", "\(walBytes)"),
            ("wal_segments", "\(walSegments)"),
            ("sstable_count", "\(tableCount)"),
            ("sstable_bytes", "\(tableBytes)"),
        ]
        for level in levels {
            result.append(("level\(level.level)_tables", "\(level.tables)"))
            result.append(("level\(level.level)_bytes", "\(level.bytes)"))
        }
        result += [
            ("pending_compaction_bytes", "\(pendingCompactionBytes)"),
            ("compactions_completed", "\(compactionsCompleted)"),
            ("flushes_completed", "\(flushesCompleted)"),
            ("commits", "\(commits)"),
            ("commit_groups", "\(commitGroups)"),
            ("block_cache_hits", "\(blockCacheHits)"),
            ("block_cache_misses", "\(blockCacheMisses)"),
            ("block_cache_bytes", "\(blockCacheBytes)"),
            ("last_lsn", "\(lastLSN)"),
            ("last_checkpoint_lsn", "\(lastCheckpointLSN)"),
            ("flushed_lsn", "\(flushedLSN)"),
            ("active_transactions", "\(activeTransactions)"),
            ("oldest_active_snapshot", oldestActiveSnapshot.map { "\($0)" } ?? "none"),
            ("io_backend", ioBackend),
            ("sync_mode", syncMode),
            ("write_error", writeError ?? "none"),
        ]
        return result
    }
}

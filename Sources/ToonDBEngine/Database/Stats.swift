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
    /// Block cache lookups that found the block and the ones that read it: scans, compactions,
    /// batched gets, and point reads only where tables are not mapped (`tableMappedReads`).
    public var blockCacheHits: Int
    public var blockCacheMisses: Int
    public var blockCacheBytes: Int
    /// Point reads the row cache answered, the ones it did not (it was asked and had no valid
    /// entry), and the bytes it holds.
    public var rowCacheHits: Int
    public var rowCacheMisses: Int
    public var rowCacheBytes: Int
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
    public var fields: [(String, StatValue)] {
        var result: [(String, StatValue)] = [
            ("memtable_bytes", .int(memtableBytes)),
            ("immutable_memtables", .int(immutableMemtables)),
            ("wal_bytes", .int(walBytes)),
            ("wal_segments", .int(walSegments)),
            ("sstable_count", .int(tableCount)),
            ("sstable_bytes", .int(tableBytes)),
        ]
        for level in levels {
            result.append(("level\(level.level)_tables", .int(level.tables)))
            result.append(("level\(level.level)_bytes", .int(level.bytes)))
        }
        result += [
            ("pending_compaction_bytes", .int(pendingCompactionBytes)),
            ("compactions_completed", .int(compactionsCompleted)),
            ("flushes_completed", .int(flushesCompleted)),
            ("commits", .int(commits)),
            ("commit_groups", .int(commitGroups)),
            ("block_cache_hits", .int(blockCacheHits)),
            ("block_cache_misses", .int(blockCacheMisses)),
            ("block_cache_bytes", .int(blockCacheBytes)),
            ("row_cache_hits", .int(rowCacheHits)),
            ("row_cache_misses", .int(rowCacheMisses)),
            ("row_cache_bytes", .int(rowCacheBytes)),
            ("last_lsn", .unsigned(lastLSN)),
            ("last_checkpoint_lsn", .unsigned(lastCheckpointLSN)),
            ("flushed_lsn", .unsigned(flushedLSN)),
            ("active_transactions", .int(activeTransactions)),
            ("oldest_active_snapshot", oldestActiveSnapshot.map { .unsigned($0) } ?? .none),
            ("io_backend", .text(ioBackend)),
            ("sync_mode", .text(syncMode)),
            ("write_error", writeError.map { .text($0) } ?? .none),
        ]
        return result
    }

    /// Every statistic as one JSON object on one line (numbers as numbers, absent as null).
    public var json: String { JSON.object(fields.map { ($0.0, $0.1.json) }) }
}

/// One statistic's value.
public enum StatValue: Sendable, Equatable, CustomStringConvertible {
    case int(Int64)
    case unsigned(UInt64)
    case text(String)
    /// Absent (no active transaction, no write error).
    case none

    public static func int<I: BinaryInteger>(_ value: I) -> StatValue { .int(Int64(clamping: value)) }

    /// The text form (`none` when absent).
    public var description: String {
        switch self {
        case .int(let v): "\(v)"
        case .unsigned(let v): "\(v)"
        case .text(let s): s
        case .none: "none"
        }
    }

    /// The JSON form.
    public var json: String {
        switch self {
        case .int, .unsigned: description
        case .text(let s): JSON.string(s)
        case .none: "null"
        }
    }
}

import CToonDBABI
import Logging
import ToonDBEngine
import ToonDBIO

/// What `toondb_open_with_config` and `toondb_open_with_options` ask for: the engine's options
/// plus the settings the library itself keeps (the default index policy).
struct OpenOptions {
    var database = DatabaseOptions()
    var defaultIndexPolicy = IndexPolicy.balanced

    init() {
        var logger = Logger(label: "toondb.embedded")
        // A library inside someone else's process: only problems go to stderr by default.
        logger.logLevel = .warning
        database.logger = logger
    }

    /// ToonDB's fixed struct; a field counts only when its `*_set` flag is true
    /// (`memtable_size_bytes` when non-zero).
    init(_ config: C_DatabaseConfig) throws(StorageError) {
        self.init()
        if config.wal_enabled_set { database.walEnabled = config.wal_enabled }
        if config.sync_mode_set {
            switch config.sync_mode {
            case 0: database.syncMode = .off
            case 1: database.syncMode = .normal
            case 2: database.syncMode = .full
            default: throw .invalidArgument("invalid sync_mode \(config.sync_mode): expected 0 (off), 1 (normal) or 2 (full)")
            }
        }
        if config.memtable_size_bytes != 0 {
            guard config.memtable_size_bytes <= UInt64(Int.max) else { throw .invalidArgument("memtable_size_bytes \(config.memtable_size_bytes) is too large") }
            database.memtableSize = Int(config.memtable_size_bytes)
        }
        if config.group_commit_set { database.groupCommit = config.group_commit }
        if config.default_index_policy_set {
            guard let policy = IndexPolicy(rawValue: config.default_index_policy) else {
                throw .invalidArgument("invalid default_index_policy \(config.default_index_policy): expected 0 to 3")
            }
            defaultIndexPolicy = policy
        }
        try database.validate { field in Self.optionName[field] ?? field }
    }

    /// `name=value` pairs separated by `;` or newlines; whitespace around names and values is
    /// ignored. Unknown names and bad values are errors naming the option.
    init(parsing text: String) throws(StorageError) {
        self.init()
        for item in text.split(whereSeparator: { $0 == ";" || $0 == "\n" || $0 == "\r\n" }) {
            let trimmed = item.trimmingWhitespace
            if trimmed.isEmpty { continue }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw .invalidArgument("invalid option \"\(trimmed)\": expected name=value")
            }
            let name = String(trimmed[..<equals]).trimmingWhitespace
            let value = String(trimmed[trimmed.index(after: equals)...]).trimmingWhitespace
            guard let setting = Self.settings[name] else {
                throw .invalidArgument("unknown option \"\(name)\"; known options: \(Self.settings.keys.sorted().joined(separator: ", "))")
            }
            try setting(&self, Value(name: name, text: value))
        }
        try database.validate { field in Self.optionName[field] ?? field }
    }

    /// The option names of the engine fields `DatabaseOptions.validate` reports.
    static let optionName: [String: String] = [
        "memtableSize": "memtable_size_bytes", "maxImmutableMemtables": "max_immutable_memtables",
        "maxValueSize": "max_value_size_bytes", "blockSize": "block_size_bytes", "blockCacheSize": "block_cache_size_bytes", "rowCacheSize": "row_cache_size_bytes",
        "bloomBitsPerKey": "bloom_bits_per_key", "maxOpenTables": "max_open_tables",
        "level0CompactionTrigger": "level0_compaction_trigger", "level0SlowdownTrigger": "level0_slowdown_trigger",
        "level0StopTrigger": "level0_stop_trigger", "level1MaxBytes": "level1_max_bytes",
        "levelSizeMultiplier": "level_size_multiplier", "targetTableSize": "target_table_size_bytes",
        "walSegmentSize": "wal_segment_size_bytes", "syncInterval": "sync_interval_ms (in seconds)",
    ]

    /// One option's value with typed accessors whose errors name the option.
    struct Value {
        let name: String
        let text: String

        func int() throws(StorageError) -> Int {
            guard let value = Int(text) else { throw .invalidArgument("option \(name) = \"\(text)\": expected an integer") }
            return value
        }

        func bytes() throws(StorageError) -> Int {
            let value = try int()
            guard value >= 0 else { throw .invalidArgument("option \(name) = \(value): must not be negative") }
            return value
        }

        func double() throws(StorageError) -> Double {
            guard let value = Double(text), value.isFinite else { throw .invalidArgument("option \(name) = \"\(text)\": expected a number") }
            return value
        }

        func bool() throws(StorageError) -> Bool {
            switch text.lowercased() {
            case "true", "1", "yes", "on": return true
            case "false", "0", "no", "off": return false
            default: throw .invalidArgument("option \(name) = \"\(text)\": expected true or false")
            }
        }

        func choice<T>(_ choices: [(String, T)]) throws(StorageError) -> T {
            if let match = choices.first(where: { $0.0 == text.lowercased() }) { return match.1 }
            throw .invalidArgument("option \(name) = \"\(text)\": expected one of \(choices.map(\.0).joined(separator: ", "))")
        }
    }

    typealias Setting = @Sendable (inout OpenOptions, Value) throws(StorageError) -> Void

    /// Every option `toondb_open_with_options` accepts (docs/c-abi.md lists them).
    static let settings: [String: Setting] = [
        "sync_mode": { o, v throws(StorageError) in o.database.syncMode = try v.choice(SyncMode.allCases.map { ($0.rawValue, $0) }) },
        "sync_interval_ms": { o, v throws(StorageError) in o.database.syncInterval = try v.double() / 1000 },
        "group_commit": { o, v throws(StorageError) in o.database.groupCommit = try v.bool() },
        "wal_enabled": { o, v throws(StorageError) in o.database.walEnabled = try v.bool() },
        "create_if_missing": { o, v throws(StorageError) in o.database.createIfMissing = try v.bool() },
        "memtable_size_bytes": { o, v throws(StorageError) in o.database.memtableSize = try v.bytes() },
        "max_immutable_memtables": { o, v throws(StorageError) in o.database.maxImmutableMemtables = try v.int() },
        "max_value_size_bytes": { o, v throws(StorageError) in o.database.maxValueSize = try v.bytes() },
        "block_size_bytes": { o, v throws(StorageError) in o.database.blockSize = try v.bytes() },
        "block_cache_size_bytes": { o, v throws(StorageError) in o.database.blockCacheSize = try v.bytes() },
        "row_cache_size_bytes": { o, v throws(StorageError) in o.database.rowCacheSize = try v.bytes() },
        "bloom_bits_per_key": { o, v throws(StorageError) in o.database.bloomBitsPerKey = try v.int() },
        "max_open_tables": { o, v throws(StorageError) in o.database.maxOpenTables = try v.int() },
        "level0_compaction_trigger": { o, v throws(StorageError) in o.database.level0CompactionTrigger = try v.int() },
        "level0_slowdown_trigger": { o, v throws(StorageError) in o.database.level0SlowdownTrigger = try v.int() },
        "level0_stop_trigger": { o, v throws(StorageError) in o.database.level0StopTrigger = try v.int() },
        "level1_max_bytes": { o, v throws(StorageError) in o.database.level1MaxBytes = Int64(try v.bytes()) },
        "level_size_multiplier": { o, v throws(StorageError) in o.database.levelSizeMultiplier = Int64(try v.int()) },
        "target_table_size_bytes": { o, v throws(StorageError) in o.database.targetTableSize = Int64(try v.bytes()) },
        "wal_segment_size_bytes": { o, v throws(StorageError) in o.database.walSegmentSize = Int64(try v.bytes()) },
        "wal_mapped_appends": { o, v throws(StorageError) in o.database.walMappedAppends = try v.bool() },
        "table_mapped_reads": { o, v throws(StorageError) in o.database.tableMappedReads = try v.bool() },
        "io_backend": { o, v throws(StorageError) in
            o.database.ioBackend = try v.choice([("auto", .automatic), ("automatic", .automatic), ("io_uring", .ioUring), ("posix", .posix)])
        },
        "default_index_policy": { o, v throws(StorageError) in
            if let number = UInt8(v.text), let policy = IndexPolicy(rawValue: number) {
                o.defaultIndexPolicy = policy
            } else {
                o.defaultIndexPolicy = try v.choice(IndexPolicy.allCases.map { ($0.name, $0) })
            }
        },
        "log_level": { o, v throws(StorageError) in
            o.database.logger.logLevel = try v.choice(Logger.Level.allCases.map { ($0.rawValue, $0) })
        },
    ]
}

extension StringProtocol {
    var trimmingWhitespace: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}

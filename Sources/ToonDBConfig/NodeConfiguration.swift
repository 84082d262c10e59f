#if canImport(Glibc)
import Glibc
#endif
import Logging
import TOMLKit
import ToonDBEngine
import ToonDBIO

/// A storage node's configuration, read from a TOML file (see `config/node.toml`).
///
/// ```toml
/// [storage]
/// data_dir = "./data"
/// sync_mode = "full"
/// memtable_size = "64MiB"
/// [log]
/// level = "info"
/// ```
///
/// Every key is optional; a missing key keeps the ``DatabaseOptions`` default. Unknown sections
/// or keys, values of the wrong type, malformed sizes and out-of-range values are rejected
/// with a ``ConfigurationError`` naming the file, the key and the problem.
public struct NodeConfiguration: Sendable, Equatable {
    /// Where the database lives when neither the configuration nor the command line says.
    public static let defaultDataDirectory = "./data"

    /// The file this configuration was read from (nil for the built-in defaults).
    public var source: String?
    /// `storage.data_dir`, made absolute against the current directory (nil when not set).
    public var dataDirectory: String?

    // [storage]: the engine's options.
    public var syncMode: SyncMode
    /// `storage.sync_interval_ms`: the WAL sync interval of sync mode `normal`, in milliseconds.
    public var syncIntervalMilliseconds: Double
    public var groupCommit: Bool
    /// `storage.wal_enabled`: false keeps commits in memory until a flush (see ``DatabaseOptions/walEnabled``).
    public var walEnabled: Bool
    public var memtableSize: Int
    public var maxImmutableMemtables: Int
    public var maxValueSize: Int
    public var blockSize: Int
    public var blockCacheSize: Int
    public var rowCacheSize: Int
    public var bloomBitsPerKey: Int
    public var maxOpenTables: Int
    public var level0CompactionTrigger: Int
    public var level0SlowdownTrigger: Int
    public var level0StopTrigger: Int
    public var level1MaxBytes: Int64
    public var levelSizeMultiplier: Int64
    public var targetTableSize: Int64
    public var walSegmentSize: Int64
    public var walMappedAppends: Bool
    public var tableMappedReads: Bool
    public var ioBackend: IOBackendSelector.Preference

    // [log]
    public var logLevel: Logger.Level

    /// `[server]`: the IPC server (`toondb serve`).
    public var server = ServerSettings()

    /// The `[server]` section. Every field is optional in the file; the defaults are these.
    public struct ServerSettings: Sendable, Equatable {
        /// `server.socket`: the Unix socket path (nil: `<data_dir>/toondb.sock`), made absolute.
        public var socket: String?
        /// `server.max_clients` (1 to 100000).
        public var maxClients = 100
        /// `server.timeout_ms`: close connections idle this long (0 = never).
        public var timeoutMilliseconds: Int64 = 300_000
        /// `server.max_frame_size`: the largest request payload (1 KiB to 1 GiB).
        public var maxFrameSize = 16 << 20 + 64 << 10
        /// `server.socket_mode`: the socket file's permissions, an octal string such as "0660".
        public var socketMode: UInt16 = 0o600
        /// `server.socket_group`: a group to give the socket file to.
        public var socketGroup: String?
        /// `server.event_loop_threads` (0 = one per core but one, at least one).
        public var eventLoopThreads = 0
        /// `server.blocking_threads`: threads for requests that wait on the disk (1 to 1024).
        public var blockingThreads = 64

        public init() {}
    }

    /// The built-in defaults (those of ``DatabaseOptions``, log level `info`).
    public init() {
        let defaults = DatabaseOptions()
        syncMode = defaults.syncMode
        syncIntervalMilliseconds = defaults.syncInterval * 1000
        groupCommit = defaults.groupCommit
        walEnabled = defaults.walEnabled
        memtableSize = defaults.memtableSize
        maxImmutableMemtables = defaults.maxImmutableMemtables
        maxValueSize = defaults.maxValueSize
        blockSize = defaults.blockSize
        blockCacheSize = defaults.blockCacheSize
        rowCacheSize = defaults.rowCacheSize
        bloomBitsPerKey = defaults.bloomBitsPerKey
        maxOpenTables = defaults.maxOpenTables
        level0CompactionTrigger = defaults.level0CompactionTrigger
        level0SlowdownTrigger = defaults.level0SlowdownTrigger
        level0StopTrigger = defaults.level0StopTrigger
        level1MaxBytes = defaults.level1MaxBytes
        levelSizeMultiplier = defaults.levelSizeMultiplier
        targetTableSize = defaults.targetTableSize
        walSegmentSize = defaults.walSegmentSize
        walMappedAppends = defaults.walMappedAppends
        tableMappedReads = defaults.tableMappedReads
        ioBackend = defaults.ioBackend
        logLevel = .info
    }

    /// The data directory to use: `storage.data_dir` when set, else ``defaultDataDirectory``.
    public var effectiveDataDirectory: String { dataDirectory ?? Self.defaultDataDirectory }

    /// The engine options this configuration describes. The engine's logger is labelled
    /// `toondb.engine` and logs at ``logLevel`` (through whatever handler the process bootstrapped).
    public func databaseOptions() -> DatabaseOptions {
        var options = DatabaseOptions()
        options.syncMode = syncMode
        options.syncInterval = syncIntervalMilliseconds / 1000
        options.groupCommit = groupCommit
        options.walEnabled = walEnabled
        options.memtableSize = memtableSize
        options.maxImmutableMemtables = maxImmutableMemtables
        options.maxValueSize = maxValueSize
        options.blockSize = blockSize
        options.blockCacheSize = blockCacheSize
        options.rowCacheSize = rowCacheSize
        options.bloomBitsPerKey = bloomBitsPerKey
        options.maxOpenTables = maxOpenTables
        options.level0CompactionTrigger = level0CompactionTrigger
        options.level0SlowdownTrigger = level0SlowdownTrigger
        options.level0StopTrigger = level0StopTrigger
        options.level1MaxBytes = level1MaxBytes
        options.levelSizeMultiplier = levelSizeMultiplier
        options.targetTableSize = targetTableSize
        options.walSegmentSize = walSegmentSize
        options.walMappedAppends = walMappedAppends
        options.tableMappedReads = tableMappedReads
        options.ioBackend = ioBackend
        var logger = Logger(label: "toondb.engine")
        logger.logLevel = logLevel
        options.logger = logger
        return options
    }

    // MARK: - Loading

    /// Reads and parses the TOML file at `path` (messages name the file as `path` was given).
    public static func load(path: String) throws(ConfigurationError) -> NodeConfiguration {
        let text = try readTextFile(path)
        return try parse(text, source: path)
    }

    /// Parses a TOML document; `source` names it in error messages.
    public static func parse(_ toml: String, source: String) throws(ConfigurationError) -> NodeConfiguration {
        if toml.utf8.contains(0) {
            throw ConfigurationError(source: source, problem: "not a TOML document: it contains a NUL byte")
        }
        let root: TOMLTable
        do {
            root = try TOMLTable(string: toml)
        } catch {
            if let parseError = error as? TOMLParseError {
                let position = parseError.source.begin
                throw ConfigurationError(source: "\(source):\(position.line):\(position.column)",
                                         problem: "TOML syntax error: \(parseError.description)")
            }
            throw ConfigurationError(source: source, problem: "TOML syntax error: \(error)")
        }
        var config = NodeConfiguration()
        config.source = source
        for (name, value) in root {
            guard let section = Section(rawValue: name) else {
                if value.table != nil {
                    throw ConfigurationError(source: source, key: "[\(name)]",
                                             problem: "unknown section\(suggestion(name, Section.allCases.map(\.rawValue))); expected one of \(Section.allCases.map { "[\($0.rawValue)]" }.joined(separator: ", "))")
                }
                let owner = Section.allCases.first { $0.keys.contains(name) }
                let hint = owner.map { " (it belongs in the [\($0.rawValue)] section)" } ?? "; keys belong in the [storage], [log] or [server] section"
                throw ConfigurationError(source: source, key: name, problem: "unknown top-level key\(hint)")
            }
            guard let table = value.table else {
                throw ConfigurationError(source: source, key: name, problem: "expected a table ([\(name)]), got \(describe(value))")
            }
            for (key, keyValue) in table {
                let field = Field(source: source, key: "\(name).\(key)", value: keyValue)
                guard section.keys.contains(key) else {
                    throw field.error("unknown key\(suggestion(key, section.keys, prefix: "\(name)."))")
                }
                try config.apply(section, key, field)
            }
        }
        try config.checkConsistency(source: source)
        return config
    }

    enum Section: String, CaseIterable {
        case storage
        case log
        case server

        var keys: [String] {
            switch self {
            case .storage:
                return ["data_dir", "sync_mode", "sync_interval_ms", "group_commit", "wal_enabled", "memtable_size", "max_immutable_memtables",
                        "max_value_size", "block_size", "block_cache_size", "row_cache_size", "bloom_bits_per_key", "max_open_tables",
                        "level0_compaction_trigger", "level0_slowdown_trigger", "level0_stop_trigger", "level1_max_bytes",
                        "level_size_multiplier", "target_table_size", "wal_segment_size", "wal_mapped_appends", "table_mapped_reads", "io_backend"]
            case .log:
                return ["level"]
            case .server:
                return ["socket", "max_clients", "timeout_ms", "max_frame_size", "socket_mode", "socket_group",
                        "event_loop_threads", "blocking_threads"]
            }
        }
    }

    /// Every key the configuration accepts, as `section.key`.
    public static var knownKeys: [String] {
        Section.allCases.flatMap { section in section.keys.map { "\(section.rawValue).\($0)" } }
    }

    private mutating func apply(_ section: Section, _ key: String, _ field: Field) throws(ConfigurationError) {
        let KiB: Int64 = 1 << 10, MiB: Int64 = 1 << 20, GiB: Int64 = 1 << 30, TiB: Int64 = 1 << 40
        switch (section, key) {
        case (.storage, "data_dir"):
            let path = try field.string()
            if path.isEmpty { throw field.error("must not be empty") }
            if path.utf8.contains(0) { throw field.error("must not contain NUL") }
            dataDirectory = Self.absolutePath(path)
        case (.storage, "sync_mode"):
            syncMode = try field.choice(SyncMode.allCases)
        case (.storage, "sync_interval_ms"):
            syncIntervalMilliseconds = try field.number(in: 0.001...3_600_000, unit: "ms")
        case (.storage, "group_commit"):
            groupCommit = try field.bool()
        case (.storage, "wal_enabled"):
            walEnabled = try field.bool()
        case (.storage, "memtable_size"):
            memtableSize = Int(try field.size(in: 4 * KiB...4 * GiB))
        case (.storage, "max_immutable_memtables"):
            maxImmutableMemtables = try field.integer(in: 1...64)
        case (.storage, "max_value_size"):
            maxValueSize = Int(try field.size(in: 0...GiB))
        case (.storage, "block_size"):
            blockSize = Int(try field.size(in: 256...16 * MiB))
        case (.storage, "block_cache_size"):
            blockCacheSize = Int(try field.size(in: 0...TiB))
        case (.storage, "row_cache_size"):
            rowCacheSize = Int(try field.size(in: 0...TiB))
        case (.storage, "bloom_bits_per_key"):
            bloomBitsPerKey = try field.integer(in: 0...64)
        case (.storage, "max_open_tables"):
            maxOpenTables = try field.integer(in: 16...1_000_000)
        case (.storage, "level0_compaction_trigger"):
            level0CompactionTrigger = try field.integer(in: 1...1000)
        case (.storage, "level0_slowdown_trigger"):
            level0SlowdownTrigger = try field.integer(in: 1...1000)
        case (.storage, "level0_stop_trigger"):
            level0StopTrigger = try field.integer(in: 1...1000)
        case (.storage, "level1_max_bytes"):
            level1MaxBytes = try field.size(in: 64 * KiB...TiB)
        case (.storage, "level_size_multiplier"):
            levelSizeMultiplier = Int64(try field.integer(in: 2...100))
        case (.storage, "target_table_size"):
            targetTableSize = try field.size(in: 4 * KiB...4 * GiB)
        case (.storage, "wal_segment_size"):
            walSegmentSize = try field.size(in: 4 * KiB...4 * GiB)
        case (.storage, "wal_mapped_appends"):
            walMappedAppends = try field.bool()
        case (.storage, "table_mapped_reads"):
            tableMappedReads = try field.bool()
        case (.storage, "io_backend"):
            ioBackend = try field.choice([IOBackendSelector.Preference.automatic, .ioUring, .posix])
        case (.log, "level"):
            logLevel = try field.choice(Logger.Level.allCases)
        case (.server, "socket"):
            let path = try field.string()
            if path.isEmpty || path.utf8.contains(0) { throw field.error("must be a non-empty path without NUL") }
            server.socket = Self.absolutePath(path)
        case (.server, "max_clients"):
            server.maxClients = try field.integer(in: 1...100_000)
        case (.server, "timeout_ms"):
            server.timeoutMilliseconds = Int64(try field.integer(in: 0...86_400_000))
        case (.server, "max_frame_size"):
            server.maxFrameSize = Int(try field.size(in: KiB...GiB))
        case (.server, "socket_mode"):
            let text = try field.string()
            guard let mode = UInt16(text, radix: 8), mode <= 0o777, mode & 0o600 == 0o600 else {
                throw field.error("expected an octal permission string such as \"0600\" or \"0660\" that keeps owner read and write, got \"\(text)\"")
            }
            server.socketMode = mode
        case (.server, "socket_group"):
            let group = try field.string()
            if group.isEmpty { throw field.error("must not be empty") }
            server.socketGroup = group
        case (.server, "event_loop_threads"):
            server.eventLoopThreads = try field.integer(in: 0...256)
        case (.server, "blocking_threads"):
            server.blockingThreads = try field.integer(in: 1...1024)
        default:
            throw field.error("unknown key")
        }
    }

    /// Rules between keys (the engine refuses options that break them).
    private func checkConsistency(source: String) throws(ConfigurationError) {
        if level0SlowdownTrigger < level0CompactionTrigger {
            throw ConfigurationError(source: source, key: "storage.level0_slowdown_trigger",
                                     problem: "must be at least level0_compaction_trigger (\(level0CompactionTrigger)), got \(level0SlowdownTrigger)")
        }
        if level0StopTrigger < level0SlowdownTrigger {
            throw ConfigurationError(source: source, key: "storage.level0_stop_trigger",
                                     problem: "must be at least level0_slowdown_trigger (\(level0SlowdownTrigger)), got \(level0StopTrigger)")
        }
    }

    // MARK: - Helpers

    /// `path` made absolute against the current directory (a leading `./` is dropped).
    public static func absolutePath(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var cwd = "."
        if let pointer = getcwd(nil, 0) {
            cwd = String(cString: pointer)
            free(pointer)
        }
        var relative = Substring(path)
        while relative.hasPrefix("./") { relative = relative.dropFirst(2) }
        if relative.isEmpty || relative == "." { return cwd }
        return cwd == "/" ? "/" + relative : cwd + "/" + relative
    }

    static func readTextFile(_ path: String) throws(ConfigurationError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            throw ConfigurationError(source: path, problem: "cannot open the configuration file: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ConfigurationError(source: path, problem: "cannot read the configuration file: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytes += chunk[0..<n]
            if bytes.count > 16 << 20 { throw ConfigurationError(source: path, problem: "the configuration file is larger than 16 MiB") }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigurationError(source: path, problem: "the configuration file is not valid UTF-8")
        }
        return text
    }
}

/// One `section.key = value` being read.
struct Field {
    let source: String
    let key: String
    let value: any TOMLValueConvertible

    func error(_ problem: String) -> ConfigurationError {
        ConfigurationError(source: source, key: key, problem: problem)
    }

    func bool() throws(ConfigurationError) -> Bool {
        guard let result = value.bool else { throw error("expected a boolean (true or false), got \(describe(value))") }
        return result
    }

    func string() throws(ConfigurationError) -> String {
        guard let result = value.string else { throw error("expected a string, got \(describe(value))") }
        return result
    }

    func integer(in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard value.type == .int, let result = value.int else { throw error("expected an integer, got \(describe(value))") }
        guard range.contains(result) else { throw error("\(result) is out of range (\(range.lowerBound) to \(range.upperBound))") }
        return result
    }

    /// An integer or a float.
    func number(in range: ClosedRange<Double>, unit: String) throws(ConfigurationError) -> Double {
        let result: Double
        if value.type == .int, let int = value.int {
            result = Double(int)
        } else if value.type == .double, let double = value.double, double.isFinite {
            result = double
        } else {
            throw error("expected a number of \(unit), got \(describe(value))")
        }
        guard range.contains(result) else {
            throw error("\(formatNumber(result)) \(unit) is out of range (\(formatNumber(range.lowerBound)) to \(formatNumber(range.upperBound)) \(unit))")
        }
        return result
    }

    /// A byte size: an integer or a size string (`"64MiB"`).
    func size(in range: ClosedRange<Int64>) throws(ConfigurationError) -> Int64 {
        let bytes: Int64
        if value.type == .int, let int = value.int {
            bytes = Int64(int)
        } else if let text = value.string {
            guard let parsed = ByteSize.parse(text) else {
                throw error("invalid size \"\(text)\": expected a number of bytes or a string like \"64MiB\" (units B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)")
            }
            bytes = parsed
        } else {
            throw error("expected a size (an integer number of bytes or a string like \"64MiB\"), got \(describe(value))")
        }
        guard range.contains(bytes) else {
            throw error("\(bytes < 0 ? "\(bytes) bytes" : ByteSize.format(bytes)) is out of range (\(ByteSize.format(range.lowerBound)) to \(ByteSize.format(range.upperBound)))")
        }
        return bytes
    }

    /// One of `cases`, written as its raw value.
    func choice<T: RawRepresentable>(_ cases: [T]) throws(ConfigurationError) -> T where T.RawValue == String {
        let names = cases.map(\.rawValue).joined(separator: ", ")
        guard let text = value.string else { throw error("expected one of \(names), got \(describe(value))") }
        guard let match = cases.first(where: { $0.rawValue == text }) else {
            throw error("expected one of \(names), got \"\(text)\"")
        }
        return match
    }
}

/// A TOML value for messages: its type, and the value itself when it is short.
func describe(_ value: any TOMLValueConvertible) -> String {
    switch value.type {
    case .string: return "a string (\"\(value.string ?? "")\")"
    case .int: return "an integer (\(value.int.map(String.init) ?? "?"))"
    case .double: return "a float (\(value.double.map { "\($0)" } ?? "?"))"
    case .bool: return "a boolean (\(value.bool.map { "\($0)" } ?? "?"))"
    case .table: return "a table"
    case .array: return "an array"
    case .date: return "a date"
    case .time: return "a time"
    case .dateTime: return "a date-time"
    }
}

private func formatNumber(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
}

/// ` (did you mean X?)` when `name` is close to one of `candidates`.
func suggestion(_ name: String, _ candidates: [String], prefix: String = "") -> String {
    let best = candidates.map { ($0, editDistance(name.lowercased(), $0)) }.min { $0.1 < $1.1 }
    guard let best, best.1 <= max(2, name.count / 4) else { return "" }
    return " (did you mean \(prefix)\(best.0)?)"
}

func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a.utf8), y = Array(b.utf8)
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var previous = Array(0...y.count)
    var current = [Int](repeating: 0, count: y.count + 1)
    for i in 1...x.count {
        current[0] = i
        for j in 1...y.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[y.count]
}

#if canImport(Glibc)
import Glibc
#endif
import Logging
import Testing
import ToonDBConfig
import ToonDBEngine
import ToonDBIO

/// The engine options as comparable name/value pairs (DatabaseOptions holds a Logger, so it
/// is not Equatable).
private func summary(_ o: DatabaseOptions) -> [String] {
    [
        "syncMode=\(o.syncMode)", "syncInterval=\(o.syncInterval)", "groupCommit=\(o.groupCommit)",
        "createIfMissing=\(o.createIfMissing)", "memtableSize=\(o.memtableSize)",
        "maxImmutableMemtables=\(o.maxImmutableMemtables)", "maxValueSize=\(o.maxValueSize)", "blockSize=\(o.blockSize)",
        "blockCacheSize=\(o.blockCacheSize)", "bloomBitsPerKey=\(o.bloomBitsPerKey)", "maxOpenTables=\(o.maxOpenTables)",
        "level0CompactionTrigger=\(o.level0CompactionTrigger)", "level0SlowdownTrigger=\(o.level0SlowdownTrigger)",
        "level0StopTrigger=\(o.level0StopTrigger)", "level1MaxBytes=\(o.level1MaxBytes)",
        "levelSizeMultiplier=\(o.levelSizeMultiplier)", "targetTableSize=\(o.targetTableSize)",
        "walSegmentSize=\(o.walSegmentSize)", "walMappedAppends=\(o.walMappedAppends)", "tableMappedReads=\(o.tableMappedReads)", "epoch=\(o.epoch)", "ioBackend=\(o.ioBackend)", "backgroundWork=\(o.backgroundWork)",
    ]
}

private func currentDirectory() -> String {
    guard let pointer = getcwd(nil, 0) else { return "." }
    defer { free(pointer) }
    return String(cString: pointer)
}

/// The error `toml` is rejected with.
private func parseError(_ toml: String, source: String = "node.toml") -> ConfigurationError? {
    do {
        _ = try NodeConfiguration.parse(toml, source: source)
        return nil
    } catch {
        return error
    }
}

@Suite("Node configuration")
struct NodeConfigurationTests {
    @Test("an empty document gives the engine's defaults")
    func defaults() throws {
        let config = try NodeConfiguration.parse("", source: "empty.toml")
        #expect(config.source == "empty.toml")
        #expect(config.dataDirectory == nil)
        #expect(config.effectiveDataDirectory == "./data")
        #expect(config.logLevel == .info)
        #expect(summary(config.databaseOptions()) == summary(DatabaseOptions()))
        var withoutSource = config
        withoutSource.source = nil
        #expect(withoutSource == NodeConfiguration())
    }

    @Test("empty sections keep the defaults")
    func emptySections() throws {
        let config = try NodeConfiguration.parse("[storage]\n[log]\n", source: "x.toml")
        #expect(summary(config.databaseOptions()) == summary(DatabaseOptions()))
    }

    @Test("every key is read and reaches the engine options")
    func everyKey() throws {
        let toml = """
            [storage]
            data_dir = "/var/lib/toondb"
            sync_mode = "normal"
            sync_interval_ms = 250
            group_commit = false
            wal_enabled = false
            memtable_size = "8MiB"
            max_immutable_memtables = 3
            max_value_size = "1MiB"
            block_size = "16KiB"
            block_cache_size = "1GiB"
            row_cache_size = "32MiB"
            bloom_bits_per_key = 12
            max_open_tables = 500
            level0_compaction_trigger = 2
            level0_slowdown_trigger = 6
            level0_stop_trigger = 10
            level1_max_bytes = "128MiB"
            level_size_multiplier = 8
            target_table_size = "32MiB"
            wal_segment_size = "16MiB"
            wal_mapped_appends = false
            table_mapped_reads = false
            io_backend = "posix"
            [log]
            level = "debug"
            [server]
            socket = "/run/toondb/node.sock"
            max_clients = 7
            timeout_ms = 1500
            max_frame_size = "1MiB"
            socket_mode = "0660"
            socket_group = "toondb"
            event_loop_threads = 3
            blocking_threads = 9
            """
        let config = try NodeConfiguration.parse(toml, source: "full.toml")
        #expect(config.server.socket == "/run/toondb/node.sock")
        #expect(config.server.maxClients == 7)
        #expect(config.server.timeoutMilliseconds == 1500)
        #expect(config.server.maxFrameSize == 1 << 20)
        #expect(config.server.socketMode == 0o660)
        #expect(config.server.socketGroup == "toondb")
        #expect(config.server.eventLoopThreads == 3)
        #expect(config.server.blockingThreads == 9)
        #expect(config.dataDirectory == "/var/lib/toondb")
        #expect(config.logLevel == .debug)
        let o = config.databaseOptions()
        #expect(o.syncMode == .normal)
        #expect(o.syncInterval == 0.25)
        #expect(o.groupCommit == false)
        #expect(o.walEnabled == false)
        #expect(o.memtableSize == 8 << 20)
        #expect(o.maxImmutableMemtables == 3)
        #expect(o.maxValueSize == 1 << 20)
        #expect(o.blockSize == 16 << 10)
        #expect(o.blockCacheSize == 1 << 30)
        #expect(o.rowCacheSize == 32 << 20)
        #expect(o.bloomBitsPerKey == 12)
        #expect(o.maxOpenTables == 500)
        #expect(o.level0CompactionTrigger == 2)
        #expect(o.level0SlowdownTrigger == 6)
        #expect(o.level0StopTrigger == 10)
        #expect(o.level1MaxBytes == 128 << 20)
        #expect(o.levelSizeMultiplier == 8)
        #expect(o.targetTableSize == 32 << 20)
        #expect(o.walSegmentSize == 16 << 20)
        #expect(o.walMappedAppends == false)
        #expect(o.tableMappedReads == false)
        #expect(o.ioBackend == .posix)
        #expect(o.logger.logLevel == .debug)
        // Every key the parser knows appears in this document.
        for key in NodeConfiguration.knownKeys {
            let name = String(key.split(separator: ".")[1])
            #expect(toml.contains("\n\(name) = ") || toml.hasPrefix("\(name) = "), "\(key) is not covered")
        }
    }

    @Test("server section errors")
    func serverErrors() {
        #expect(parseError("[server]\nsocket_mode = \"0644x\"")?.message
                == "node.toml: server.socket_mode: expected an octal permission string such as \"0600\" or \"0660\" that keeps owner read and write, got \"0644x\"")
        #expect(parseError("[server]\nsocket_mode = \"0400\"")?.message
                == "node.toml: server.socket_mode: expected an octal permission string such as \"0600\" or \"0660\" that keeps owner read and write, got \"0400\"")
        #expect(parseError("[server]\nmax_clients = 0")?.message == "node.toml: server.max_clients: 0 is out of range (1 to 100000)")
        #expect(parseError("[server]\nmax_frame_size = \"2GiB\"")?.message == "node.toml: server.max_frame_size: 2 GiB is out of range (1 KiB to 1 GiB)")
        #expect(parseError("max_clients = 5")?.message == "node.toml: max_clients: unknown top-level key (it belongs in the [server] section)")
    }

    @Test("sync modes", arguments: ["off", "normal", "full"])
    func syncModes(_ mode: String) throws {
        let config = try NodeConfiguration.parse("[storage]\nsync_mode = \"\(mode)\"", source: "x")
        #expect(config.syncMode.rawValue == mode)
    }

    @Test("I/O backends", arguments: [("auto", IOBackendSelector.Preference.automatic), ("io_uring", .ioUring), ("posix", .posix)])
    func ioBackends(_ name: String, _ expected: IOBackendSelector.Preference) throws {
        let config = try NodeConfiguration.parse("[storage]\nio_backend = \"\(name)\"", source: "x")
        #expect(config.ioBackend == expected)
    }

    @Test("log levels", arguments: ["trace", "debug", "info", "notice", "warning", "error", "critical"])
    func logLevels(_ level: String) throws {
        let config = try NodeConfiguration.parse("[log]\nlevel = \"\(level)\"", source: "x")
        #expect(config.logLevel.rawValue == level)
        #expect(config.databaseOptions().logger.logLevel.rawValue == level)
    }

    @Test("dotted keys and inline tables are the same keys")
    func dottedKeys() throws {
        let a = try NodeConfiguration.parse("storage.sync_mode = \"off\"\nlog = { level = \"error\" }", source: "x")
        #expect(a.syncMode == .off)
        #expect(a.logLevel == .error)
    }

    @Test("sync_interval_ms accepts floats")
    func fractionalInterval() throws {
        let config = try NodeConfiguration.parse("[storage]\nsync_interval_ms = 2.5", source: "x")
        #expect(config.databaseOptions().syncInterval == 0.0025)
    }

    @Test("a relative data_dir resolves against the current directory")
    func relativeDataDirectory() throws {
        let cwd = currentDirectory()
        #expect(try NodeConfiguration.parse("[storage]\ndata_dir = \"./data\"", source: "x").dataDirectory == cwd + "/data")
        #expect(try NodeConfiguration.parse("[storage]\ndata_dir = \"db/x\"", source: "x").dataDirectory == cwd + "/db/x")
        #expect(try NodeConfiguration.parse("[storage]\ndata_dir = \".\"", source: "x").dataDirectory == cwd)
        #expect(try NodeConfiguration.parse("[storage]\ndata_dir = \"/abs\"", source: "x").dataDirectory == "/abs")
    }
}

@Suite("Byte sizes")
struct ByteSizeTests {
    @Test("size strings", arguments: [
        ("64MiB", Int64(64) << 20), ("4KiB", 4096), ("4 KiB", 4096), ("1GiB", 1 << 30), ("2TiB", Int64(2) << 40),
        ("100B", 100), ("100", 100), ("0", 0), ("1_024", 1024), ("10KB", 10_000), ("3MB", 3_000_000),
        ("2GB", 2_000_000_000), ("1TB", 1_000_000_000_000), ("64mib", Int64(64) << 20), ("1kb", 1000),
        ("1.5GiB", Int64(3) << 29), ("0.5KiB", 512), (" 8 MiB ", Int64(8) << 20), ("1.0001KiB", 1024),
    ])
    func valid(_ text: String, _ bytes: Int64) {
        #expect(ByteSize.parse(text) == bytes)
    }

    @Test("malformed sizes", arguments: ["", "MiB", "64XB", "-1", "1.2.3", ".5MiB", "5.MiB", "64 MiB extra", "1e6",
                                         "99999999999TiB", "9223372036854775808", "0x10", "64M", "ten"])
    func invalid(_ text: String) {
        #expect(ByteSize.parse(text) == nil)
    }

    @Test("sizes in the configuration: integers and strings")
    func inConfiguration() throws {
        let config = try NodeConfiguration.parse("""
            [storage]
            memtable_size = 1048576
            block_size = "8 KiB"
            block_cache_size = 0
            max_value_size = "100KB"
            """, source: "x")
        #expect(config.memtableSize == 1 << 20)
        #expect(config.blockSize == 8192)
        #expect(config.blockCacheSize == 0)
        #expect(config.maxValueSize == 100_000)
    }

    @Test("format")
    func format() {
        #expect(ByteSize.format(64 << 20) == "64 MiB")
        #expect(ByteSize.format(4096) == "4 KiB")
        #expect(ByteSize.format(1000) == "1000 B")
        #expect(ByteSize.format(0) == "0 B")
    }
}

@Suite("Configuration errors")
struct ConfigurationErrorTests {
    @Test("a bad choice names the file, the key, the choices and the value")
    func badChoice() {
        let error = parseError("[storage]\nsync_mode = \"fast\"\n", source: "config/node.toml")
        #expect(error?.message == "config/node.toml: storage.sync_mode: expected one of off, normal, full, got \"fast\"")
        #expect(error?.key == "storage.sync_mode")
        #expect(error?.source == "config/node.toml")
        #expect(parseError("[storage]\nio_backend = \"uring\"")?.message
                == "node.toml: storage.io_backend: expected one of auto, io_uring, posix, got \"uring\"")
        #expect(parseError("[log]\nlevel = \"verbose\"")?.message
                == "node.toml: log.level: expected one of trace, debug, info, notice, warning, error, critical, got \"verbose\"")
        #expect(parseError("[log]\nlevel = 3")?.message
                == "node.toml: log.level: expected one of trace, debug, info, notice, warning, error, critical, got an integer (3)")
    }

    @Test("unknown sections")
    func unknownSection() {
        let error = parseError("[storag]\nsync_mode = \"full\"")
        #expect(error?.key == "[storag]")
        #expect(error?.message.contains("unknown section (did you mean storage?)") == true)
        #expect(parseError("[network]\nport = 1")?.message == "node.toml: [network]: unknown section; expected one of [storage], [log], [server]")
    }

    @Test("unknown keys, with a suggestion when one is close")
    func unknownKey() {
        #expect(parseError("[storage]\nsync_mod = \"full\"")?.message
                == "node.toml: storage.sync_mod: unknown key (did you mean storage.sync_mode?)")
        #expect(parseError("[storage]\ncolour = 1")?.message == "node.toml: storage.colour: unknown key")
        #expect(parseError("[log]\nformat = \"json\"")?.message == "node.toml: log.format: unknown key")
        #expect(parseError("[storage.memtable]\nsize = 1")?.key == "storage.memtable")
    }

    @Test("keys outside a section")
    func topLevelKey() {
        #expect(parseError("sync_mode = \"full\"")?.message
                == "node.toml: sync_mode: unknown top-level key (it belongs in the [storage] section)")
        #expect(parseError("color = 1")?.message
                == "node.toml: color: unknown top-level key; keys belong in the [storage], [log] or [server] section")
        #expect(parseError("storage = 1")?.message == "node.toml: storage: expected a table ([storage]), got an integer (1)")
    }

    @Test("wrong types", arguments: [
        ("group_commit = \"yes\"", "storage.group_commit: expected a boolean (true or false), got a string (\"yes\")"),
        ("group_commit = 1", "storage.group_commit: expected a boolean (true or false), got an integer (1)"),
        ("bloom_bits_per_key = \"10\"", "storage.bloom_bits_per_key: expected an integer, got a string (\"10\")"),
        ("bloom_bits_per_key = 10.5", "storage.bloom_bits_per_key: expected an integer, got a float (10.5)"),
        ("memtable_size = true", "storage.memtable_size: expected a size (an integer number of bytes or a string like \"64MiB\"), got a boolean (true)"),
        ("memtable_size = 1.5", "storage.memtable_size: expected a size (an integer number of bytes or a string like \"64MiB\"), got a float (1.5)"),
        ("data_dir = 5", "storage.data_dir: expected a string, got an integer (5)"),
        ("data_dir = [\"a\"]", "storage.data_dir: expected a string, got an array"),
        ("sync_mode = 1", "storage.sync_mode: expected one of off, normal, full, got an integer (1)"),
        ("sync_interval_ms = \"100ms\"", "storage.sync_interval_ms: expected a number of ms, got a string (\"100ms\")"),
        ("level0_stop_trigger = 1979-05-27", "storage.level0_stop_trigger: expected an integer, got a date"),
    ])
    func wrongType(_ line: String, _ expected: String) {
        #expect(parseError("[storage]\n\(line)")?.message == "node.toml: " + expected)
    }

    @Test("malformed sizes")
    func badSize() {
        #expect(parseError("[storage]\nblock_size = \"4 kilobytes\"")?.message
                == "node.toml: storage.block_size: invalid size \"4 kilobytes\": expected a number of bytes or a string like \"64MiB\" (units B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)")
        #expect(parseError("[storage]\nwal_segment_size = \"\"")?.key == "storage.wal_segment_size")
        #expect(parseError("[storage]\nlevel1_max_bytes = \"-5MiB\"")?.key == "storage.level1_max_bytes")
    }

    @Test("out-of-range values", arguments: [
        ("memtable_size = 1000", "storage.memtable_size: 1000 B is out of range (4 KiB to 4 GiB)"),
        ("memtable_size = \"8GiB\"", "storage.memtable_size: 8 GiB is out of range (4 KiB to 4 GiB)"),
        ("memtable_size = -1", "storage.memtable_size: -1 bytes is out of range (4 KiB to 4 GiB)"),
        ("block_size = 100", "storage.block_size: 100 B is out of range (256 B to 16 MiB)"),
        ("max_value_size = \"2GiB\"", "storage.max_value_size: 2 GiB is out of range (0 B to 1 GiB)"),
        ("max_immutable_memtables = 0", "storage.max_immutable_memtables: 0 is out of range (1 to 64)"),
        ("bloom_bits_per_key = -1", "storage.bloom_bits_per_key: -1 is out of range (0 to 64)"),
        ("max_open_tables = 8", "storage.max_open_tables: 8 is out of range (16 to 1000000)"),
        ("level0_compaction_trigger = 0", "storage.level0_compaction_trigger: 0 is out of range (1 to 1000)"),
        ("level_size_multiplier = 1", "storage.level_size_multiplier: 1 is out of range (2 to 100)"),
        ("target_table_size = 1024", "storage.target_table_size: 1 KiB is out of range (4 KiB to 4 GiB)"),
        ("wal_segment_size = 0", "storage.wal_segment_size: 0 B is out of range (4 KiB to 4 GiB)"),
        ("level1_max_bytes = \"1KiB\"", "storage.level1_max_bytes: 1 KiB is out of range (64 KiB to 1 TiB)"),
        ("sync_interval_ms = 0", "storage.sync_interval_ms: 0 ms is out of range (0.001 to 3600000 ms)"),
        ("sync_interval_ms = -5", "storage.sync_interval_ms: -5 ms is out of range (0.001 to 3600000 ms)"),
        ("data_dir = \"\"", "storage.data_dir: must not be empty"),
    ])
    func outOfRange(_ line: String, _ expected: String) {
        #expect(parseError("[storage]\n\(line)")?.message == "node.toml: " + expected)
    }

    @Test("level-0 triggers must be ordered")
    func triggerOrder() {
        #expect(parseError("[storage]\nlevel0_compaction_trigger = 10")?.message
                == "node.toml: storage.level0_slowdown_trigger: must be at least level0_compaction_trigger (10), got 8")
        #expect(parseError("[storage]\nlevel0_stop_trigger = 5")?.message
                == "node.toml: storage.level0_stop_trigger: must be at least level0_slowdown_trigger (8), got 5")
        #expect(parseError("[storage]\nlevel0_compaction_trigger = 10\nlevel0_slowdown_trigger = 10\nlevel0_stop_trigger = 10") == nil)
    }

    @Test("TOML syntax errors give the line and column")
    func syntaxError() {
        let error = parseError("[storage]\nsync_mode = full\n", source: "bad.toml")
        #expect(error?.source.hasPrefix("bad.toml:2:") == true)
        #expect(error?.message.contains("TOML syntax error") == true)
        #expect(parseError("[storage]\nsync_mode = \"off\"\nsync_mode = \"full\"\n")?.message.contains("TOML syntax error") == true)
        #expect(parseError("[storage\n") != nil)
        #expect(parseError("a = \"\0\"") != nil)
    }

    @Test("missing and unreadable files")
    func missingFile() {
        do {
            _ = try NodeConfiguration.load(path: "/nonexistent/toondb/node.toml")
            Issue.record("loading a missing file succeeded")
        } catch {
            #expect(error.message == "/nonexistent/toondb/node.toml: cannot open the configuration file: No such file or directory")
        }
        do {
            _ = try NodeConfiguration.load(path: "/")
            Issue.record("loading a directory succeeded")
        } catch {
            #expect(error.message.hasPrefix("/: cannot read the configuration file"))
        }
    }
}

@Suite("The shipped config/node.toml")
struct ShippedConfigurationTests {
    /// `config/node.toml` at the repository root, found from this file's path.
    static var path: String {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Tests/ToonDBConfigTests/NodeConfigurationTests.swift
        return parts.joined(separator: "/") + "/config/node.toml"
    }

    @Test("parses, and documents exactly the defaults")
    func parses() throws {
        let config = try NodeConfiguration.load(path: Self.path)
        #expect(config.source == Self.path)
        #expect(config.dataDirectory == currentDirectory() + "/data")
        #expect(config.logLevel == .info)
        #expect(summary(config.databaseOptions()) == summary(DatabaseOptions()))
    }

    @Test("mentions every key")
    func mentionsEveryKey() throws {
        let fd = open(Self.path, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        let text = String(decoding: buffer[0..<max(n, 0)], as: UTF8.self)
        for key in NodeConfiguration.knownKeys {
            let name = key.split(separator: ".")[1]
            // Keys without a fixed default (a path derived from data_dir, a group) are shown commented out.
            #expect(text.contains("\n\(name) = ") || text.contains("\n# \(name) = "), "config/node.toml does not mention \(key)")
        }
    }
}

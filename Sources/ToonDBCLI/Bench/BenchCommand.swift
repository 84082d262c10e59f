import ArgumentParser
import ToonDBConfig
import ToonDBEngine

#if canImport(Glibc)
import Glibc
#endif

/// `toondb bench`: db_bench-style workloads on a fresh directory.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the engine on db_bench-style workloads (on a fresh directory).",
        discussion: """
            Workloads, run in the order given (one row each: ops, seconds, ops/s,
            p50/p99 latency in µs, MB/s where bytes move):
              fillseq      num puts in key order, sync off, fresh database
              fillrandom   num puts of random keys in [0, num), sync off, fresh database
              readrandom   num gets of random keys on the fillrandom database
              readseq      one full scan of the fillrandom database
              syncwrite    sync-num puts from one writer, sync full, fresh database
              syncwrite16  sync-num puts from --threads writers, sync full, fresh database
              rawsync      sync-num 4 KiB pwrite+fdatasync appends (the disk's baseline)
            Keys: the zero-padded decimal of the key number (key-size bytes); values:
            random bytes. Sync off means the WAL is written but never synced. Other
            engine options come from --config (or the defaults).
            """)

    static let allWorkloads = ["fillseq", "fillrandom", "readrandom", "readseq", "syncwrite", "syncwrite16", "rawsync"]

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("Operations per workload.", valueName: "n")) var num = 1_000_000
    @Option(name: .customLong("key-size"), help: ArgumentHelp("Key size in bytes.", valueName: "bytes")) var keySize = 16
    @Option(name: .customLong("value-size"), help: ArgumentHelp("Value size in bytes.", valueName: "bytes")) var valueSize = 100
    @Option(name: .customLong("sync-num"), help: ArgumentHelp("Operations of the synced workloads.", valueName: "n")) var syncNum = 10_000
    @Option(help: ArgumentHelp("Writer threads of syncwrite16.", valueName: "n")) var threads = 16
    @Option(help: ArgumentHelp("Comma-separated workloads: \(allWorkloads.joined(separator: ",")).", valueName: "list"))
    var benchmarks = allWorkloads.joined(separator: ",")
    @Option(help: ArgumentHelp("Directory to run in (must not exist or be empty). Default: a new temporary directory next to the data directory, else in /tmp.", valueName: "dir"))
    var dir: String?
    @Flag(help: "Keep the benchmark directory afterwards.") var keep = false
    @Flag(help: "One JSON object per workload on stdout (JSON lines).") var json = false
    @Option(help: ArgumentHelp("Seed of the key and value generator.", valueName: "n")) var seed: UInt64 = 301

    var workloads: [String] {
        benchmarks.split(separator: ",").map { $0.trimmingCharacters(in: " ") }.filter { !$0.isEmpty }
    }

    func validate() throws {
        guard num >= 1 else { throw ValidationError("--num must be at least 1") }
        guard syncNum >= 1 else { throw ValidationError("--sync-num must be at least 1") }
        guard threads >= 1 && threads <= 1024 else { throw ValidationError("--threads must be between 1 and 1024") }
        guard valueSize >= 0 && valueSize <= 16 << 20 else { throw ValidationError("--value-size must be between 0 and 16 MiB") }
        let digits = String(num - 1).count
        guard keySize >= digits && keySize <= 1024 else {
            throw ValidationError("--key-size must be between \(digits) (the digits of --num - 1) and 1024")
        }
        let list = workloads
        guard !list.isEmpty else { throw ValidationError("--benchmarks is empty") }
        for name in list where !Self.allWorkloads.contains(name) {
            throw ValidationError("unknown benchmark \"\(name)\"; expected some of \(Self.allWorkloads.joined(separator: ","))")
        }
    }

    func run() throws {
        let context = try global.makeContext()
        let (root, created) = try prepareDirectory(context)
        var options = context.options
        options.createIfMissing = true
        let settings = BenchSettings(num: num, keySize: keySize, valueSize: valueSize, syncNum: syncNum, threads: threads, seed: seed)
        let runner = BenchRunner(settings: settings, options: options, root: root, keep: keep)
        defer {
            runner.finish()
            if !keep { removeTree(root, includingRoot: created) }
        }
        if !json {
            Output.stdout("toondb bench: num=\(grouped(num)) key=\(keySize) B value=\(valueSize) B sync-num=\(grouped(syncNum)) "
                          + "threads=\(threads) dir=\(root)\(keep ? " (kept)" : "")\n")
            Output.stdout(BenchResult.header + "\n")
        }
        for name in workloads {
            let result = try runner.run(name)
            Output.stdout((json ? result.json : result.row) + "\n")
        }
    }

    /// The benchmark directory, and whether this run created it (then it removes it whole).
    private func prepareDirectory(_ context: CommandContext) throws -> (String, Bool) {
        if let dir {
            var info = stat()
            if stat(dir, &info) == 0 {
                guard (info.st_mode & S_IFMT) == S_IFDIR else { throw CLIError("--dir \(dir) is not a directory") }
                guard directoryEntries(dir).isEmpty else { throw CLIError("--dir \(dir) is not empty") }
                return (dir, false)
            }
            guard mkdir(dir, 0o755) == 0 else { throw CLIError("cannot create \(dir): \(String(cString: strerror(errno)))") }
            return (dir, true)
        }
        let data = NodeConfiguration.absolutePath(context.path)
        var parent = String(data[..<(data.lastIndex(of: "/") ?? data.startIndex)])
        if parent.isEmpty { parent = "/" }
        for candidate in [parent, "/tmp"] where access(candidate, W_OK) == 0 {
            var template = Array((candidate == "/" ? "" : candidate).utf8CString.dropLast()) + Array("/toondb-bench-XXXXXX".utf8CString)
            if let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) { return (String(cString: made), true) }
        }
        throw CLIError("cannot create a benchmark directory next to \(data) or in /tmp (use --dir)")
    }
}

/// The benchmark's parameters.
struct BenchSettings: Sendable {
    var num: Int
    var keySize: Int
    var valueSize: Int
    var syncNum: Int
    var threads: Int
    var seed: UInt64
}

/// One workload's measurements.
struct BenchResult {
    var name: String
    var ops: Int
    var nanoseconds: UInt64
    var p50: Double  // ns
    var p99: Double  // ns
    var bytes: Int64?
    var ioBackend: String
    var note: String = ""

    var seconds: Double { Double(nanoseconds) / 1e9 }
    var opsPerSecond: Double { seconds > 0 ? Double(ops) / seconds : 0 }
    var megabytesPerSecond: Double? { bytes.map { seconds > 0 ? Double($0) / 1_048_576 / seconds : 0 } }

    static let header = pad("benchmark", 12, left: true) + pad("ops", 10) + pad("seconds", 10) + pad("ops/s", 12)
        + pad("p50 µs", 10) + pad("p99 µs", 10) + pad("MB/s", 9) + "  notes"

    var row: String {
        Self.pad(name, 12, left: true) + Self.pad(grouped(ops), 10) + Self.pad(fixed(seconds, 3), 10)
            + Self.pad(grouped(Int(opsPerSecond.rounded())), 12) + Self.pad(fixed(p50 / 1000, 2), 10)
            + Self.pad(fixed(p99 / 1000, 2), 10) + Self.pad(megabytesPerSecond.map { fixed($0, 1) } ?? "-", 9)
            + "  io=\(ioBackend)" + (note.isEmpty ? "" : "; " + note)
    }

    var json: String {
        var members = [
            "\"benchmark\": \(Output.jsonString(name))", "\"ops\": \(ops)", "\"seconds\": \(fixed(seconds, 6))",
            "\"ops_per_sec\": \(fixed(opsPerSecond, 1))", "\"p50_us\": \(fixed(p50 / 1000, 3))", "\"p99_us\": \(fixed(p99 / 1000, 3))",
            "\"mb_per_sec\": \(megabytesPerSecond.map { fixed($0, 2) } ?? "null")", "\"io_backend\": \(Output.jsonString(ioBackend))",
        ]
        if !note.isEmpty { members.append("\"note\": \(Output.jsonString(note))") }
        return "{" + members.joined(separator: ", ") + "}"
    }

    private static func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
        let count = text.count
        guard count < width else { return text + (left ? " " : "") }
        let fill = String(repeating: " ", count: width - count)
        return left ? text + fill : fill + text
    }
}

/// The names in a directory (not . and ..).
func directoryEntries(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// Removes a directory tree (its contents, and itself when `includingRoot`); best effort.
func removeTree(_ path: String, includingRoot: Bool = true) {
    for name in directoryEntries(path) {
        let child = path + "/" + name
        var info = stat()
        if lstat(child, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
            removeTree(child)
        } else {
            unlink(child)
        }
    }
    if includingRoot { rmdir(path) }
}

private extension Substring {
    func trimmingCharacters(in set: Character) -> String {
        var s = self
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}

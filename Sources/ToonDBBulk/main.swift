// `toondb-bulk`: build, query and inspect HNSW index files from the command line (ToonDB's
// flags, docs/vector-index-format.md). Human output goes to stderr; `--json` prints one JSON
// object on stdout for scripts and the Python `toondb.bulk` module.
import ArgumentParser
import Foundation
import ToonDBVector

#if canImport(Glibc)
import Glibc
#endif

struct ToonDBBulk: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "toondb-bulk",
        abstract: "Build and query HNSW vector indexes from .npy or raw float32 files.",
        subcommands: [BuildIndex.self, Query.self, Info.self, Convert.self])
}

extension VectorMetric: ExpressibleByArgument {}
extension VectorFileFormat: ExpressibleByArgument {}
extension VectorEncoding: ExpressibleByArgument {}

/// What every subcommand reports: `--json` on stdout, text on stderr unless `--quiet`.
struct Report {
    var json: Bool
    var quiet: Bool

    func say(_ text: String) {
        if !quiet { FileHandleStderr.write(text + "\n") }
    }

    func emit(_ members: [(String, String)]) {
        if json { print("{" + members.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}") }
    }
}

enum FileHandleStderr {
    static func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// `text` as a JSON string literal.
func jsonString(_ text: String) -> String {
    (try? JSONEncoder().encode(text)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
}

func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

/// Fails with the message alone (exit 1), as every other ToonDB tool does.
struct BulkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// This process's resident memory now and at its peak since exec (`VmRSS`, `VmHWM` of
/// /proc/self/status, in bytes; 0 where unavailable). Unlike `getrusage`, `VmHWM` does not
/// include the memory of the process that forked this one before it exec'd.
func residentMemory() -> (current: Int, peak: Int) {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
    func field(_ name: String) -> Int {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return 0 }
        let number = line.dropFirst(name.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) } ?? 0
        return number * 1024  // reported in kB
    }
    return (field("VmRSS"), field("VmHWM"))
}

/// Resets `VmHWM` to the current RSS (Linux `clear_refs` 5) and returns that RSS, so the peak
/// read later is the build's own.
func resetPeakMemory() -> Int {
    let fd = open("/proc/self/clear_refs", O_WRONLY)
    if fd >= 0 {
        _ = write(fd, "5", 1)
        close(fd)
    }
    return residentMemory().current
}

func fileSize(_ path: String) -> Int {
    var info = stat()
    return stat(path, &info) == 0 ? Int(info.st_size) : 0
}

struct BuildIndex: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "build-index", abstract: "Build an index from a matrix of vectors.")

    @Option(name: [.short, .long], help: "Vectors: .npy (2-D float32) or raw float32.") var input: String
    @Option(name: [.short, .long], help: "The index file to write.") var output: String
    @Option(name: [.short, .long], help: "Dimension (required for raw input).") var dimension: Int?
    @Option(name: [.short, .long], help: "raw_f32 or npy (default: from the file's magic).") var format: VectorFileFormat?
    @Option(help: "Raw little-endian u64 ids, one per vector (default 0, 1, 2, ...).") var ids: String?
    @Option(name: [.short, .customLong("max-connections")], help: "M: neighbours per node (2·M on layer 0).") var m = 16
    @Option(name: [.short, .customLong("ef-construction")], help: "Candidate list size while building.") var efConstruction = 100
    @Option(name: .customLong("batch-size"), help: "Accepted for ToonDB compatibility (the build is one batch).") var batchSize = 1000
    @Option(name: [.short, .long], help: "Build threads (0 = all cores).") var threads = 0
    @Option(help: "cosine, ip or l2.") var metric: VectorMetric = .cosine
    @Option(help: "Seed of the level generator.") var seed: UInt64 = 42
    @Option(help: "What the graph walk reads: f32 (exact), f16 or int8 (compact copies; results re-ranked on f32).")
    var encoding: VectorEncoding = .float32
    @Flag(help: "No text on stderr.") var quiet = false
    @Flag(help: "Print the build statistics as JSON on stdout.") var json = false

    func run() throws {
        let report = Report(json: json, quiet: quiet)
        let matrix = try VectorMatrix(path: input, format: format, dimension: dimension)
        var idList = (0..<matrix.rows).map { UInt64($0) }
        if let ids {
            // A raw u64 file read as 8-byte rows (two float32 slots each), then reinterpreted.
            let idFile = try VectorMatrix(path: ids, format: .rawF32, dimension: 2)
            guard idFile.rows == matrix.rows else {
                throw BulkError("\(ids) holds \(idFile.rows) ids for \(matrix.rows) vectors")
            }
            idList = (0..<idFile.rows).map { UnsafeRawPointer(idFile.row($0).baseAddress!).loadUnaligned(as: UInt64.self) }
        }
        report.say("building: \(matrix.rows) vectors of dimension \(matrix.dimension) from \(input), metric \(metric.rawValue), M \(m), ef_construction \(efConstruction), encoding \(encoding.rawValue)")
        let residentBefore = resetPeakMemory()
        let start = DispatchTime.now().uptimeNanoseconds
        let index = try HNSWIndex(dimension: matrix.dimension, metric: metric, m: m, efConstruction: efConstruction, seed: seed,
                                  encoding: encoding)
        let bar = ProgressBar.onTerminal(label: "building", total: matrix.rows, quiet: quiet)
        var progress: (@Sendable (Int, Int) -> Void)?
        if let bar { progress = { linked, _ in bar.update(linked) } }
        try index.build(ids: idList, vectors: UnsafeBufferPointer(start: matrix.elements, count: matrix.rows * matrix.dimension),
                        count: matrix.rows, threads: threads, progress: progress)
        bar?.finish()
        let buildSeconds = seconds(since: start)
        // What the build added at its peak: the index, less the input's pages (memory-mapped,
        // read in full by the build, and counted as resident).
        let memory = max(0, residentMemory().peak - residentBefore - matrix.rows * matrix.dimension * 4)
        try index.write(to: output)
        let elapsed = seconds(since: start)
        let rate = Double(matrix.rows) / max(buildSeconds, 1e-9)
        let size = fileSize(output)
        report.say("built \(output): \(matrix.rows) vectors in \(String(format: "%.3f", elapsed)) s (\(Int(rate)) vectors/s), \(size) bytes")
        report.emit([("vectors", "\(matrix.rows)"), ("dimension", "\(matrix.dimension)"),
                     ("elapsed_seconds", String(format: "%.6f", elapsed)), ("rate", String(format: "%.1f", rate)),
                     ("index_size_bytes", "\(size)"), ("metric", jsonString(metric.rawValue)),
                     ("encoding", jsonString(encoding.rawValue)), ("memory_bytes", "\(memory)")])
    }
}

struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Find the nearest neighbours of one or more query vectors.")

    @Option(name: [.short, .long], help: "The index file.") var index: String
    @Option(name: [.short, .long], help: "Query vectors: raw float32 (one or more rows) or .npy (1-D or 2-D).") var query: String
    @Option(name: [.short, .long], help: "Neighbours per query.") var k = 10
    @Option(name: [.short, .long], help: "Candidate list size while searching (default 64).") var ef = 64
    @Flag(help: "No text on stderr.") var quiet = false
    @Flag(help: "Print the neighbours as JSON on stdout.") var json = false

    func run() throws {
        let report = Report(json: json, quiet: quiet)
        let loaded = try HNSWIndex.load(path: index)
        let queries = try VectorMatrix(path: query, dimension: loaded.dimension, allowSingleVector: true)
        var rows: [String] = []
        let start = DispatchTime.now().uptimeNanoseconds
        for row in 0..<queries.rows {
            let hits = try loaded.search(Array(queries.row(row)), k: k, efSearch: max(ef, k))
            rows.append("[" + hits.map { "{\"id\":\($0.id),\"distance\":\($0.distance)}" }.joined(separator: ",") + "]")
            if !quiet && !json {
                report.say("query \(row): " + hits.map { "\($0.id) (\(String(format: "%.4f", $0.distance)))" }.joined(separator: ", "))
            }
        }
        let elapsed = seconds(since: start)
        report.say("\(queries.rows) queries, k \(k), ef \(max(ef, k)): \(String(format: "%.6f", elapsed)) s")
        report.emit([("k", "\(k)"), ("ef", "\(max(ef, k))"), ("elapsed_seconds", String(format: "%.6f", elapsed)),
                     ("results", "[" + rows.joined(separator: ",") + "]")])
    }
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe an index file.")

    @Option(name: [.short, .long], help: "The index file.") var index: String
    @Flag(help: "No text on stderr.") var quiet = false
    @Flag(help: "Print the description as JSON on stdout.") var json = false

    func run() throws {
        let report = Report(json: json, quiet: quiet)
        let loaded = try HNSWIndex.load(path: index)
        let members: [(String, String)] = [
            ("vectors", "\(loaded.count)"), ("dimension", "\(loaded.dimension)"), ("metric", jsonString(loaded.metric.rawValue)),
            ("m", "\(loaded.m)"), ("ef_construction", "\(loaded.efConstruction)"), ("tombstones", "\(loaded.tombstoneCount)"),
            ("encoding", jsonString(loaded.encoding.rawValue)),
            ("index_size_bytes", "\(fileSize(index))"),
        ]
        report.say(members.map { "\($0.0): \($0.1)" }.joined(separator: "\n"))
        report.emit(members)
    }
}

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Convert vectors between .npy and raw float32.")

    @Option(name: [.short, .long], help: "Input file.") var input: String
    @Option(name: [.short, .long], help: "Output file (raw float32, row-major).") var output: String
    @Option(name: .customLong("from-format"), help: "raw_f32 or npy (default: from the file's magic).") var fromFormat: VectorFileFormat?
    @Option(name: .customLong("to-format"), help: "Only raw_f32 is written.") var toFormat: VectorFileFormat = .rawF32
    @Option(name: [.short, .long], help: "Dimension (required for raw input).") var dimension: Int?
    @Flag(help: "No text on stderr.") var quiet = false
    @Flag(help: "Print what was written as JSON on stdout.") var json = false

    func run() throws {
        guard toFormat == .rawF32 else { throw BulkError("--to-format \(toFormat.rawValue) is not supported; only raw_f32 is written") }
        let report = Report(json: json, quiet: quiet)
        let matrix = try VectorMatrix(path: input, format: fromFormat, dimension: dimension)
        try AtomicFile.write(to: output, contents: UnsafeRawBufferPointer(start: matrix.elements, count: matrix.rows * matrix.dimension * 4))
        report.say("wrote \(output): \(matrix.rows) × \(matrix.dimension) raw float32")
        report.emit([("vectors", "\(matrix.rows)"), ("dimension", "\(matrix.dimension)"), ("output", jsonString(output))])
    }
}

ToonDBBulk.main()

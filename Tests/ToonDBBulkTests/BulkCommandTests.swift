import Foundation
import Testing
import ToonDBTestSupport

/// `toondb-bulk` run as a user runs it: build an index from a slice of the MiniLM vectors,
/// describe it, query it (JSON on stdout), convert, and the error paths.
@Suite(.serialized) struct BulkCommandTests {
    let binary = buildProductsDirectory() + "/toondb-bulk"
    static let vectors = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../testdata/vectors").standardized.path

    func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let directory = TemporaryDirectory("toondb-bulk-out")
        let out = directory.child("stdout"), err = directory.child("stderr")
        let command = ([binary] + arguments).map { "'\($0)'" }.joined(separator: " ") + " > '\(out)' 2> '\(err)'"
        let (status, _) = try runProgram("/bin/sh", ["-c", command], timeout: 120)
        func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        return (status, text(out), text(err))
    }

    func json(_ text: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
    }

    /// The first `rows` 384-d vectors of a raw file, as a new raw file.
    func slice(_ name: String, rows: Int, into directory: TemporaryDirectory) throws -> String {
        let bytes = try FileDamage.read(Self.vectors + "/" + name)
        let path = directory.child("\(name).\(rows)")
        try FileDamage.write(path, Array(bytes.prefix(rows * 384 * 4)))
        return path
    }

    @Test func buildInfoQueryConvert() throws {
        let directory = TemporaryDirectory("toondb-bulk")
        let base = try slice("minilm384_base_5k.f32", rows: 600, into: directory)
        let queries = try slice("minilm384_query_200.f32", rows: 5, into: directory)
        let index = directory.child("index.hnsw")

        let build = try run(["build-index", "-i", base, "-o", index, "-d", "384", "--json", "-t", "2"])
        #expect(build.status == 0, "\(build.stderr)")
        let stats = try json(build.stdout)
        #expect(stats["vectors"] as? Int == 600 && stats["dimension"] as? Int == 384)
        #expect((stats["index_size_bytes"] as? Int ?? 0) > 600 * 384 * 4)
        // The index holds a copy of every vector: the memory the build reports covers at least that.
        #expect((stats["memory_bytes"] as? Int ?? 0) >= 600 * 384 * 4)
        #expect(build.stderr.contains("built \(index): 600 vectors"))
        #expect(!build.stderr.contains("\r"))  // not a terminal: no progress bar

        let info = try json(try run(["info", "-i", index, "--json", "--quiet"]).stdout)
        #expect(info["vectors"] as? Int == 600 && info["metric"] as? String == "cosine" && info["m"] as? Int == 16)
        #expect(info["encoding"] as? String == "f32")

        // An int8 index: recorded in the file, reported by info, and its query answers carry
        // the exact distances (re-ranked on f32), equal to the f32 index's for the same hit.
        let int8Index = directory.child("int8.hnsw")
        let int8Build = try run(["build-index", "-i", base, "-o", int8Index, "-d", "384", "--encoding", "int8", "--json", "--quiet"])
        #expect(int8Build.status == 0, "\(int8Build.stderr)")
        #expect(try json(int8Build.stdout)["encoding"] as? String == "int8")
        #expect(try json(try run(["info", "-i", int8Index, "--json", "--quiet"]).stdout)["encoding"] as? String == "int8")
        let exactTop = try json(try run(["query", "-i", index, "-q", queries, "-k", "1", "--ef", "200", "--json", "--quiet"]).stdout)["results"] as! [[[String: Any]]]
        let int8Top = try json(try run(["query", "-i", int8Index, "-q", queries, "-k", "1", "--ef", "200", "--json", "--quiet"]).stdout)["results"] as! [[[String: Any]]]
        for (a, b) in zip(exactTop, int8Top) {
            #expect(a[0]["id"] as? Int == b[0]["id"] as? Int)
            #expect(a[0]["distance"] as? Double == b[0]["distance"] as? Double)
        }
        let badEncoding = try run(["build-index", "-i", base, "-o", directory.child("x"), "-d", "384", "--encoding", "int4"])
        #expect(badEncoding.status != 0 && badEncoding.stderr.contains("int4"))

        let query = try run(["query", "-i", index, "-q", queries, "-k", "4", "--ef", "100", "--json", "--quiet"])
        #expect(query.status == 0, "\(query.stderr)")
        let results = try json(query.stdout)["results"] as! [[[String: Any]]]
        #expect(results.count == 5 && results.allSatisfy { $0.count == 4 })
        #expect(try json(query.stdout)["ef"] as? Int == 100)
        for hits in results {
            let distances = hits.map { $0["distance"] as! Double }
            #expect(distances == distances.sorted())
            #expect(hits.allSatisfy { ($0["id"] as! Int) < 600 })
        }

        let copy = directory.child("copy.f32")
        #expect(try run(["convert", "-i", base, "-o", copy, "-d", "384", "--quiet"]).status == 0)
        #expect(try FileDamage.read(copy) == FileDamage.read(base))
    }

    /// On a terminal (a pseudo-terminal from util-linux `script`) the build draws a progress bar
    /// on stderr; `--quiet` silences it.
    @Test func progressBarOnATerminal() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else { return }
        let directory = TemporaryDirectory("toondb-bulk")
        let base = try slice("minilm384_base_5k.f32", rows: 3000, into: directory)
        let transcript = directory.child("transcript")
        func onTerminal(_ extra: [String]) throws -> String {
            let command = ([binary, "build-index", "-i", base, "-o", directory.child("i.hnsw"), "-d", "384"] + extra)
                .map { "'\($0)'" }.joined(separator: " ")
            let (status, _) = try runProgram("/usr/bin/script", ["-qec", command, transcript], timeout: 120)
            #expect(status == 0)
            return (try? String(contentsOfFile: transcript, encoding: .utf8)) ?? ""
        }
        let shown = try onTerminal([])
        #expect(shown.contains("\rbuilding ["), "\(shown)")
        #expect(shown.contains("] 100%  3,000/3,000 vectors"), "\(shown)")
        #expect(!(try onTerminal(["--quiet"])).contains("building ["))
    }

    @Test func clearErrors() throws {
        let directory = TemporaryDirectory("toondb-bulk")
        let queries = try slice("minilm384_query_200.f32", rows: 3, into: directory)
        let missing = try run(["query", "-i", directory.child("missing.hnsw"), "-q", queries])
        #expect(missing.status == 1 && missing.stderr.contains("missing.hnsw") && missing.stderr.contains("No such file"))
        let wrongDimension = try run(["build-index", "-i", queries, "-o", directory.child("x"), "-d", "500"])
        #expect(wrongDimension.status == 1 && wrongDimension.stderr.contains("not a whole number of 500-d float32 rows"))
        let noDimension = try run(["build-index", "-i", queries, "-o", directory.child("x")])
        #expect(noDimension.status == 1 && noDimension.stderr.contains("its dimension must be given"))
        try FileDamage.write(directory.child("bad.hnsw"), "not an index")
        let corrupt = try run(["info", "-i", directory.child("bad.hnsw")])
        #expect(corrupt.status == 1 && corrupt.stderr.contains("bad.hnsw"))
    }
}

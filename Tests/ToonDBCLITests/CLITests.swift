import Testing
import ToonDBTestSupport

/// The `toondb` command line, run as a separate process against a temporary data directory.
@Suite("toondb command line", .serialized)
struct CLITests {
    let binary = buildProductsDirectory() + "/toondb"

    func run(_ arguments: [String], db: String) throws -> (status: Int32, output: String) {
        try runProgram(binary, arguments + ["--db", db, "--log-level", "error"])
    }

    @Test("put, get, delete, scan and paths round-trip through the data directory")
    func keyValueCommands() throws {
        let dir = TemporaryDirectory("toondb-cli")
        let db = dir.child("data")
        #expect(try run(["put", "greeting", "hello"], db: db).status == 0)
        #expect(try run(["put", "other", "x"], db: db).status == 0)
        let got = try run(["get", "greeting"], db: db)
        #expect(got.status == 0)
        #expect(got.output == "hello")

        #expect(try run(["put-path", "users/42/name", "Ada"], db: db).status == 0)
        #expect(try run(["put-path", "users/420/name", "Not Ada"], db: db).status == 0)
        let below = try run(["scan-path", "users/42"], db: db)
        #expect(below.output == "users/42/name\tAda")

        let scan = try run(["scan", "--keys-only"], db: db)
        #expect(scan.output.split(separator: "\n") == ["greeting", "other", "users/42/name", "users/420/name"])

        #expect(try run(["delete", "greeting"], db: db).status == 0)
        let missing = try run(["get", "greeting"], db: db)
        #expect(missing.status == 1)
        #expect(missing.output.contains("not found"))
    }

    @Test("checkpoint prints the LSN; stats --json reports it")
    func checkpointAndStats() throws {
        let dir = TemporaryDirectory("toondb-cli")
        let db = dir.child("data")
        for i in 0..<5 { #expect(try run(["put", "k\(i)", "v"], db: db).status == 0) }
        let checkpoint = try run(["checkpoint"], db: db)
        #expect(checkpoint.status == 0)
        #expect(checkpoint.output.trimmingSpaces == "5")
        let stats = try run(["stats", "--json"], db: db)
        #expect(stats.status == 0)
        #expect(stats.output.contains("\"last_lsn\": 5"))
        #expect(stats.output.contains("\"last_checkpoint_lsn\": 5"))
    }

    @Test("bad input gets a clear error and a non-zero exit, never a crash")
    func errors() throws {
        let dir = TemporaryDirectory("toondb-cli")
        let db = dir.child("data")
        let badPath = try run(["put-path", "users//x", "v"], db: db)
        #expect(badPath.status == 1)
        #expect(badPath.output.contains("toondb: error:"))
        #expect(badPath.output.contains("invalid path"))
        let noDatabase = try run(["get", "k"], db: dir.child("nowhere"))
        #expect(noDatabase.status == 1)
        #expect(noDatabase.output.contains("no database"))
        let usage = try run(["put"], db: db)
        #expect(usage.status == 2)
        let badConfig = dir.child("bad.toml")
        try FileDamage.write(badConfig, "[storage]\nsync_mode = \"fast\"\n")
        let config = try run(["stats", "--config", badConfig], db: db)
        #expect(config.status == 1)
        #expect(config.output.contains("storage.sync_mode"))
    }
}

extension String {
    var trimmingSpaces: String {
        var text = Substring(self)
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        while let first = text.first, first.isWhitespace { text = text.dropFirst() }
        return String(text)
    }
}

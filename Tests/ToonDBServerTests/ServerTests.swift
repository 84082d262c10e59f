#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOCore
import Testing
import ToonDBEngine
import ToonDBProtocol
import ToonDBTestSupport
@testable import ToonDBServer

/// A database and a server on it, in a temporary directory.
final class ServerFixture {
    let directory = TemporaryDirectory("toondb-server")
    let database: Database
    let server: ToonDBServer
    var socketPath: String { server.configuration.socketPath }

    init(syncMode: SyncMode = .normal, configure: (inout ServerConfiguration) -> Void = { _ in }) throws {
        var options = testOptions(memtable: 1 << 20)
        options.syncMode = syncMode
        database = try Database.open(path: directory.child("db"), options: options)
        var configuration = ServerConfiguration(socketPath: directory.child("s.sock"))
        configure(&configuration)
        server = try ToonDBServer.start(database: database, configuration: configuration)
    }

    func client() throws -> SocketClient { try SocketClient(socketPath) }

    deinit {
        server.shutdown()
        try? database.close()
    }
}

@Suite(.serialized) struct ServerTests {
    @Test func keyValueAndPaths() throws {
        let fixture = try ServerFixture()
        let client = try fixture.client()
        #expect(try client.call(.ping) == .pong)
        #expect(try client.put("k", "v") == .ok(ByteBuffer()))
        #expect(try client.get("k") == "v")
        #expect(try client.get("missing") == nil)
        // ToonDB's GET: an empty VALUE both for missing and for an empty value.
        #expect(try client.put("empty", "") == .ok(ByteBuffer()))
        #expect(try client.call(.get(transaction: 0, .key(bytes("empty")), .bare)) == .value(ByteBuffer()))
        #expect(try client.get("empty") == "")
        #expect(try client.call(.delete(transaction: 0, .key(bytes("k")))) == .ok(ByteBuffer()))
        #expect(try client.call(.delete(transaction: 0, .key(bytes("k")))) == .ok(ByteBuffer()))  // missing: still OK
        #expect(try client.get("k") == nil)
        // The same answers once the memtable is flushed to a table (GET reads it there).
        _ = try fixture.database.checkpoint()
        #expect(try client.get("empty") == "")
        #expect(try client.get("k") == nil)
        #expect(try client.call(.get(transaction: 0, .key(bytes("empty")), .bare)) == .value(ByteBuffer()))
        _ = try client.put("flushed", "yes")
        _ = try fixture.database.checkpoint()
        #expect(try client.get("flushed") == "yes")
        #expect(errorCode(try client.call(.get(transaction: 0, .key([]), .flagged))) == .invalidArgument)

        #expect(try client.call(.put(transaction: 0, .path(["users", "alice", "name"]), value: bytes("Alice"))) == .ok(ByteBuffer()))
        #expect(try fixture.database.getPath("users/alice/name") == bytes("Alice"))
        #expect(try client.call(.get(transaction: 0, .path(["users", "alice", "name"]), .bare)) == .value(ByteBuffer(bytes: bytes("Alice"))))
        #expect(try client.call(.delete(transaction: 0, .path(["users", "alice", "name"]))) == .ok(ByteBuffer()))
        #expect(try fixture.database.getPath("users/alice/name") == nil)
        // A key over the engine's limit is an error, and the connection goes on.
        let big = [UInt8](repeating: 0x61, count: DatabaseOptions.maxKeySize + 1)
        #expect(errorCode(try client.call(.put(transaction: 0, .key(big), value: []))) == .keyTooLarge)
        #expect(try client.call(.ping) == .pong)
    }

    @Test func toonDBScanAndStreams() throws {
        let fixture = try ServerFixture()
        for i in 0..<300 { _ = try fixture.database.put(bytes("s/\(String(format: "%04d", i))"), [UInt8](repeating: 0x41, count: 2000)) }
        _ = try fixture.database.put(bytes("t/other"), bytes("x"))
        let client = try fixture.client()
        guard case .value(var payload) = try client.call(.scan(prefix: bytes("s/"))) else { Issue.record("SCAN failed"); return }
        #expect(payload.readInteger(endianness: .little, as: UInt32.self) == 300)
        let firstKeyLength = payload.readInteger(endianness: .little, as: UInt16.self)
        #expect(firstKeyLength == 6 && payload.readString(length: 6) == "s/0000")

        // 300 × 2 KB = 600 KB: several ROW frames of about 256 KiB.
        let streamed = try client.scanStream(.prefix(bytes("s/")))
        #expect(streamed.pairs.count == 300 && streamed.rows >= 3)
        #expect(streamed.pairs.map(\.0) == (0..<300).map { "s/" + String(format: "%04d", $0) })
        let limited = try client.scanStream(.range(start: bytes("s/0100"), end: bytes("s/0200")), limit: 7)
        #expect(limited.pairs.map(\.0) == (100..<107).map { "s/" + String(format: "%04d", $0) })
        let empty = try client.scanStream(.prefix(bytes("nothing/")))
        #expect(empty.pairs.isEmpty && empty.rows == 0)
        let everything = try client.scanStream(.range(start: [], end: []))
        #expect(everything.pairs.count == 301)
    }

    @Test func scanTooLargeForOneFrameSaysSo() throws {
        let fixture = try ServerFixture { $0.maxFramePayload = 4096 }
        for i in 0..<10 { _ = try fixture.database.put(bytes("k\(i)"), [UInt8](repeating: 1, count: 1000)) }
        let client = try fixture.client()
        #expect(errorCode(try client.call(.scan(prefix: bytes("k")))) == .resultTooLarge)
        #expect(try client.scanStream(.prefix(bytes("k"))).pairs.count == 10)  // the stream is not limited
    }

    @Test func transactionsAreIsolatedAndOwnedByTheirConnection() throws {
        let fixture = try ServerFixture()
        let a = try fixture.client(), b = try fixture.client()
        let txn = try a.begin()
        #expect(try a.put("x", "1", txn: txn) == .ok(ByteBuffer()))
        #expect(try a.get("x", txn: txn) == "1")  // its own write
        #expect(try b.get("x") == nil)  // not yet visible
        #expect(try a.get("x") == nil)  // not outside the transaction either
        // Another connection cannot use it.
        #expect(errorCode(try b.call(.commit(transaction: txn))) == .unknownTransaction)
        #expect(errorCode(try b.put("y", "1", txn: txn)) == .unknownTransaction)
        // Reads in the transaction see its snapshot, not later commits.
        _ = try b.put("z", "later")
        #expect(try a.get("z", txn: txn) == nil)
        let pairs = try a.scanStream(.range(start: [], end: []), txn: txn).pairs
        #expect(pairs.map(\.0) == ["x"])
        guard case .transactionID(let commitTS) = try a.call(.commit(transaction: txn)) else { Issue.record("commit failed"); return }
        #expect(commitTS > 0)
        #expect(try b.get("x") == "1")
        guard case .error(let reuse) = try a.call(.commit(transaction: txn)) else { Issue.record("reuse accepted"); return }
        #expect(reuse == WireError(.transaction, "Transaction already committed"))

        let aborted = try a.begin()
        _ = try a.put("gone", "1", txn: aborted)
        #expect(try a.call(.abort(transaction: aborted)) == .ok(ByteBuffer()))
        #expect(try a.call(.abort(transaction: aborted)) == .error(WireError(.transaction, "Transaction already aborted")))
        #expect(try b.get("gone") == nil)
        #expect(errorCode(try a.call(.commit(transaction: 999_999))) == .unknownTransaction)
    }

    @Test func writeWriteConflict() throws {
        let fixture = try ServerFixture()
        let a = try fixture.client(), b = try fixture.client()
        let t1 = try a.begin(), t2 = try b.begin()
        _ = try a.put("k", "a", txn: t1)
        _ = try b.put("k", "b", txn: t2)
        guard case .transactionID = try a.call(.commit(transaction: t1)) else { Issue.record("first commit failed"); return }
        #expect(errorCode(try b.call(.commit(transaction: t2))) == .conflict)
        #expect(try a.get("k") == "a")
        #expect(try b.call(.commit(transaction: t2)) == .error(WireError(.transaction, "Transaction already aborted")))
    }

    @Test func disconnectAbortsOpenTransactions() throws {
        let fixture = try ServerFixture()
        do {
            let a = try fixture.client()
            let txn = try a.begin()
            _ = try a.put("k", "uncommitted", txn: txn)
        }  // closed without commit
        let b = try fixture.client()
        // The abort happens when the server notices the close: wait for it (bounded).
        let deadline = monotonicNow() + 10
        while fixture.database.stats().activeTransactions > 0 && monotonicNow() < deadline { usleep(10_000) }
        #expect(fixture.database.stats().activeTransactions == 0)
        let txn = try b.begin()
        _ = try b.put("k", "mine", txn: txn)
        guard case .transactionID = try b.call(.commit(transaction: txn)) else { Issue.record("commit after disconnect failed"); return }
        #expect(try b.get("k") == "mine")
    }

    @Test func writeBatchIsAtomic() throws {
        let fixture = try ServerFixture()
        let client = try fixture.client()
        _ = try client.put("old", "1")
        let ok = try client.call(.writeBatch(transaction: 0, [.put(key: bytes("a"), value: bytes("1")), .put(key: bytes("b"), value: bytes("2")), .delete(key: bytes("old"))]))
        #expect(ok == .ok(ByteBuffer(bytes: le32(3))))
        #expect(try client.get("a") == "1" && client.get("b") == "2" && client.get("old") == nil)
        // One bad operation (an oversized key) and nothing is written.
        let big = [UInt8](repeating: 0x62, count: DatabaseOptions.maxKeySize + 1)
        #expect(errorCode(try client.call(.writeBatch(transaction: 0, [.put(key: bytes("c"), value: bytes("3")), .put(key: big, value: [])]))) == .keyTooLarge)
        #expect(try client.get("c") == nil)
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let fixture = try ServerFixture()
        let client = try fixture.client()
        var buffer = ByteBuffer()
        for i in 0..<2000 {
            Request.put(transaction: 0, .key(bytes("p\(i)")), value: bytes("\(i)")).encode().write(into: &buffer)
            Request.get(transaction: 0, .key(bytes("p\(i)")), .bare).encode().write(into: &buffer)
        }
        try client.send(buffer.readBytes(length: buffer.readableBytes)!)
        for i in 0..<2000 {
            #expect(try client.readReply() == .ok(ByteBuffer()))
            #expect(try client.readReply() == .value(ByteBuffer(bytes: bytes("\(i)"))))
        }
    }

    /// Runs of GETs in one read are answered by one engine call: in order, from memtable and
    /// tables, bare and flagged, with a bad key in a run answered by its own error and the
    /// rest of the run unharmed; writes in between still come first.
    @Test func runsOfPipelinedGetsAreAnsweredInOrder() throws {
        let fixture = try ServerFixture()
        for i in 0..<100 { try fixture.database.put(bytes("g\(i)"), bytes("table \(i)")) }
        try fixture.database.flush()
        for i in 0..<100 where i % 3 == 0 { try fixture.database.put(bytes("g\(i)"), bytes("memtable \(i)")) }
        func stored(_ i: Int) -> [UInt8]? { i < 100 ? bytes(i % 3 == 0 ? "memtable \(i)" : "table \(i)") : nil }
        let client = try fixture.client()
        var buffer = ByteBuffer()
        var expected: [Reply?] = []  // nil: an ERROR frame
        var random = SeededRandom(seed: 4)
        // Bad keys in some runs (which then fall back to one GET at a time), long clean runs
        // between them, and writes that queue what follows behind their commit.
        for step in 0..<600 {
            let i = Int.random(in: 0..<110, using: &random)
            switch step % 150 {
            case 17:
                Request.get(transaction: 0, .key([]), .bare).encode().write(into: &buffer)
                expected.append(nil)
            case 100:
                Request.get(transaction: 0, .key([UInt8](repeating: 0x67, count: DatabaseOptions.maxKeySize + 1)), .bare).encode().write(into: &buffer)
                expected.append(nil)
            case 41, 60:
                // A write in the middle of a run: the GET after it sees it.
                Request.put(transaction: 0, .key(bytes("w\(step)")), value: bytes("written")).encode().write(into: &buffer)
                Request.get(transaction: 0, .key(bytes("w\(step)")), .bare).encode().write(into: &buffer)
                expected += [.ok(ByteBuffer()), .value(ByteBuffer(bytes: bytes("written")))]
            default:
                if step % 2 == 0 {
                    Request.get(transaction: 0, .key(bytes("g\(i)")), .bare).encode().write(into: &buffer)
                    expected.append(.value(ByteBuffer(bytes: stored(i) ?? [])))
                } else {
                    Request.get(transaction: 0, .key(bytes("g\(i)")), .flagged).encode().write(into: &buffer)
                    expected.append(.value(ByteBuffer(bytes: stored(i).map { [1] + $0 } ?? [0])))
                }
            }
        }
        try client.send(buffer.readBytes(length: buffer.readableBytes)!)
        var mismatches: [Int] = []
        for (n, reply) in expected.enumerated() {
            let got = try client.readReply()
            if let reply { if got != reply { mismatches.append(n) } } else if errorCode(got) == nil { mismatches.append(n) }
        }
        #expect(mismatches.isEmpty)
        #expect(try client.get("g3") == "memtable 3", "the connection still serves")
    }

    @Test func framesCutAcrossReadsAreReassembled() throws {
        let fixture = try ServerFixture()
        let client = try fixture.client()
        var buffer = ByteBuffer()
        for i in 0..<20 {
            Request.put(transaction: 0, .key(bytes("c\(i)")), value: bytes(String(repeating: "v", count: i))).encode().write(into: &buffer)
            Request.get(transaction: 0, .key(bytes("c\(i)")), .bare).encode().write(into: &buffer)
        }
        let stream = buffer.readBytes(length: buffer.readableBytes)!
        // Chunks of 1–7 bytes with a pause between them: most arrive in reads of their own.
        var random = SeededRandom(seed: 11)
        var start = 0
        while start < stream.count {
            let end = min(stream.count, start + Int.random(in: 1...7, using: &random))
            try client.send(Array(stream[start..<end]))
            usleep(200)
            start = end
        }
        for i in 0..<20 {
            #expect(try client.readReply() == .ok(ByteBuffer()))
            #expect(try client.readReply() == .value(ByteBuffer(bytes: bytes(String(repeating: "v", count: i)))))
        }
    }

    /// A client that pipelines GETs of a large value and reads nothing is answered only as fast
    /// as it reads: the server queues its requests instead of building replies in memory.
    @Test func clientThatDoesNotReadIsHeldBack() throws {
        func residentKiB() -> Int {
            let status = (try? FileDamage.read("/proc/self/status")).map { String(decoding: $0, as: UTF8.self) } ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        let fixture = try ServerFixture()
        let value = [UInt8](repeating: 0x76, count: 256 << 10)
        _ = try fixture.database.put(bytes("big"), value)
        let greedy = try fixture.client()
        var oneRequest = ByteBuffer()
        Request.get(transaction: 0, .key(bytes("big")), .bare).encode().write(into: &oneRequest)
        let request = oneRequest.readBytes(length: oneRequest.readableBytes)!
        let burst = Array([[UInt8]](repeating: request, count: 1000).joined())
        let before = residentKiB()
        // Send until the socket refuses more for a while (bounded: 3 s, 20,000 requests).
        var sent = 0
        let deadline = monotonicNow() + 3
        while monotonicNow() < deadline && sent < 20_000 * request.count {
            let n = burst.withUnsafeBytes { Glibc.send(greedy.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            if n > 0 { sent += n } else { usleep(20_000) }
        }
        let requests = sent / request.count
        // Unbounded answering would hold requests × 256 KiB (at least 1 GiB here).
        #expect(requests > 4_000)
        #expect(residentKiB() - before < 256 << 10, "the server built \(residentKiB() - before) KiB of replies nobody reads")
        #expect(try fixture.client().call(.ping) == .pong)  // others are served meanwhile
        // Its replies come in order as it reads; then it leaves with thousands unanswered.
        for _ in 0..<50 { #expect(try greedy.readReply() == .value(ByteBuffer(bytes: value))) }
        _ = consume greedy
        #expect(try fixture.client().call(.ping) == .pong)
    }

    @Test func badFramesGetErrorsAndOthersAreUnaffected() throws {
        let fixture = try ServerFixture()
        let bystander = try fixture.client()
        let bad = try fixture.client()
        try bad.send([0x7F] + le32(2) + [1, 2])
        #expect(try bad.readReply() == .error(WireError(.unknownOpcode, "unknown opcode 0x7F")))
        try bad.send([0x01] + le32(3) + [9, 0, 0])
        #expect(errorCode(try bad.readReply()) == .malformed)
        try bad.send([0x0A] + le32(5) + [1, 0, 1, 0, 0xFF])
        #expect(try bad.readReply() == .error(WireError(.invalidArgument, "GET_PATH: path segment 1 is not valid UTF-8")))
        try bad.send([0x05] + le32(8) + le64(12345))
        #expect(errorCode(try bad.readReply()) == .unknownTransaction)
        #expect(try bad.call(.ping) == .pong)  // still usable
        #expect(try bystander.put("safe", "yes") == .ok(ByteBuffer()))

        // An over-limit length: ERROR, then the server closes this connection only.
        try bad.send([0x01] + le32(UInt32.max))
        #expect(errorCode(try bad.readReply()) == .frameTooLarge)
        #expect(bad.isClosedByServer())
        #expect(try bystander.get("safe") == "yes")
        #expect(try fixture.client().call(.ping) == .pong)
    }

    @Test func queryReturnsTOONRows() throws {
        let fixture = try ServerFixture()
        for (user, fields) in [("alice", [("name", "Alice"), ("email", "alice@example.com")]), ("bob", [("name", "Bob, Jr."), ("age", "42")])] {
            for (column, value) in fields { _ = try fixture.database.putPath("users/\(user)/\(column)", bytes(value)) }
        }
        let client = try fixture.client()
        guard case .value(let text) = try client.call(.query(QueryRequest(path: "users/"))) else { Issue.record("QUERY failed"); return }
        #expect(String(buffer: text) == """
            result[2]{age,email,name}:
              null,alice@example.com,Alice
              "42",null,"Bob, Jr."
            """)
        guard case .value(let paged) = try client.call(.query(QueryRequest(path: "users/", limit: 1, offset: 1, columns: ["name"]))) else { return }
        #expect(String(buffer: paged) == "result[1]{name}:\n  \"Bob, Jr.\"")
    }

    @Test func tablesPersistTheirSchema() throws {
        let fixture = try ServerFixture()
        let client = try fixture.client()
        let schema = TableSchema(name: "users", columns: [.init(name: "id", type: .uint64, nullable: false), .init(name: "bio", type: .text, nullable: true)])
        #expect(try client.call(.createTable(schema)) == .ok(ByteBuffer()))
        #expect(errorCode(try client.call(.createTable(schema))) == .alreadyExists)
        #expect(try client.call(.describeTable(name: "users")) == .value(ByteBuffer(bytes: schema.encoded)))
        #expect(errorCode(try client.call(.describeTable(name: "nope"))) == .notFound)
        #expect(errorCode(try client.call(.createTable(TableSchema(name: "t", columns: [])))) == .invalidArgument)
        #expect(errorCode(try client.call(.executeSQL("SELECT 1"))) == .notImplemented)
    }

    @Test func checkpointAndStats() throws {
        let fixture = try ServerFixture()
        let client = try fixture.client()
        _ = try client.put("a", "1")
        guard case .ok(var payload) = try client.call(.checkpoint) else { Issue.record("CHECKPOINT failed"); return }
        let lsn = payload.readInteger(endianness: .little, as: UInt64.self)
        #expect(lsn == fixture.database.stats().lastCheckpointLSN && lsn! >= 1)
        guard case .stats(let json) = try client.call(.stats) else { Issue.record("STATS failed"); return }
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        for key in ["connections_total", "connections_active", "requests_total", "requests_success", "requests_error", "bytes_received",
                    "bytes_sent", "uptime_secs", "memtable_size_bytes", "wal_size_bytes", "active_transactions", "last_lsn", "role"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect(object["connections_active"] as? Int == 1)
        #expect(object["requests_total"] as? Int == 3)
        #expect(object["requests_success"] as? Int == 2)  // STATS itself is counted before it succeeds
        #expect((object["memtable_size_bytes"] as? Int ?? 0) > 0)
    }

    @Test func syncFullCommitsFromManyConnections() throws {
        let fixture = try ServerFixture(syncMode: .full)
        let clients = try (0..<8).map { _ in try fixture.client() }
        // Every client pipelines 50 puts; commits run on the blocking pool and share fsyncs.
        for (c, client) in clients.enumerated() {
            var buffer = ByteBuffer()
            for i in 0..<50 { Request.put(transaction: 0, .key(bytes("c\(c)/\(i)")), value: bytes("v")).encode().write(into: &buffer) }
            try client.send(buffer.readBytes(length: buffer.readableBytes)!)
        }
        for client in clients {
            for _ in 0..<50 { #expect(try client.readReply() == .ok(ByteBuffer())) }
        }
        #expect(fixture.database.stats().commits == 400)
        // A transaction commit takes the same path.
        let txn = try clients[0].begin()
        _ = try clients[0].put("t", "1", txn: txn)
        guard case .transactionID = try clients[0].call(.commit(transaction: txn)) else { Issue.record("commit failed"); return }
        #expect(try clients[1].get("t") == "1")
    }
}

@Suite(.serialized) struct ServerLifecycleTests {
    @Test func socketIsPrivateAndRemovedOnShutdown() throws {
        let fixture = try ServerFixture()
        var info = stat()
        #expect(lstat(fixture.socketPath, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        fixture.server.shutdown()
        #expect(access(fixture.socketPath, F_OK) != 0)
        #expect(throws: (any Error).self) { try fixture.client() }
    }

    @Test func staleSocketIsReplacedLiveOneIsNot() throws {
        let directory = TemporaryDirectory("toondb-sock")
        let path = directory.child("s.sock")
        // A stale socket file: bound, never listened on, closed.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8))
        }
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        #expect(bound == 0)
        close(fd)
        #expect(access(path, F_OK) == 0)

        let database = try Database.open(path: directory.child("db"), options: testOptions())
        defer { try? database.close() }
        let server = try ToonDBServer.start(database: database, configuration: ServerConfiguration(socketPath: path))
        defer { server.shutdown() }
        #expect(try SocketClient(path).call(.ping) == .pong)

        let other = try Database.open(path: directory.child("db2"), options: testOptions())
        defer { try? other.close() }
        #expect(throws: ServerError(.socketInUse, "another server is listening on \(path)")) {
            _ = try ToonDBServer.start(database: other, configuration: ServerConfiguration(socketPath: path))
        }
        #expect(try SocketClient(path).call(.ping) == .pong)  // the first server is untouched

        let notASocket = directory.child("file")
        try FileDamage.write(notASocket, "x")
        #expect(throws: ServerError(.socketPath, "\(notASocket) exists and is not a socket; remove it or choose another --socket")) {
            _ = try ToonDBServer.start(database: other, configuration: ServerConfiguration(socketPath: notASocket))
        }
    }

    @Test func clientLimit() throws {
        let fixture = try ServerFixture { $0.maxClients = 2 }
        let a = try fixture.client(), b = try fixture.client()
        #expect(try a.call(.ping) == .pong && b.call(.ping) == .pong)
        let c = try fixture.client()
        #expect(errorCode(try c.readReply()) == .busy)
        #expect(c.isClosedByServer())
        #expect(try a.call(.ping) == .pong)
        // A slot frees when a client leaves (the close is noticed asynchronously: bounded retry).
        _ = consume b
        var admitted = false
        let deadline = monotonicNow() + 10
        while !admitted && monotonicNow() < deadline {
            let d = try fixture.client()
            admitted = (try? d.call(.ping)) == .pong
            if !admitted { usleep(20_000) }
        }
        #expect(admitted)
    }

    @Test func idleConnectionsAreClosed() throws {
        let fixture = try ServerFixture { $0.idleTimeoutMilliseconds = 200 }
        let idle = try fixture.client()
        let txn = try idle.begin()
        _ = try idle.put("k", "v", txn: txn)
        #expect(idle.isClosedByServer())  // within the client's 10 s receive timeout
        let deadline = monotonicNow() + 10
        while fixture.database.stats().activeTransactions > 0 && monotonicNow() < deadline { usleep(10_000) }
        #expect(fixture.database.stats().activeTransactions == 0)
    }

    @Test func shutdownAnswersReceivedRequests() throws {
        let fixture = try ServerFixture(syncMode: .full)
        let client = try fixture.client()
        var buffer = ByteBuffer()
        for i in 0..<200 { Request.put(transaction: 0, .key(bytes("k\(i)")), value: bytes("v")).encode().write(into: &buffer) }
        try client.send(buffer.readBytes(length: buffer.readableBytes)!)
        _ = try client.readReply()  // the server has the requests
        fixture.server.shutdown()
        var answered = 1
        while let frame = try client.readFrame() {
            #expect(Reply(frame) == .ok(ByteBuffer()))
            answered += 1
        }
        // Every reply that arrived was for a write that is in the database.
        #expect(answered >= 1)
        for i in 0..<answered { #expect(try fixture.database.get(bytes("k\(i)")) == bytes("v")) }
    }
}

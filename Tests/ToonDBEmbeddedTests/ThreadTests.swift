#if canImport(Glibc)
import Glibc
#endif
import CToonDBABI
import Testing
import ToonDBEmbedded
import ToonDBTestSupport

@Suite("Embedded: threads")
struct ThreadTests {
    @Test("the last error is per thread: a failure on another thread leaves this thread's message alone")
    func lastErrorPerThread() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        let bits = UInt(bitPattern: db)
        #expect(cPut(db, autoCommit, [], bytes("v")) == -1)
        let mine = lastErrorMessage()
        #expect(lastErrorCode() == 1)
        #expect(mine.contains("empty"))

        struct Seen: Sendable {
            var initialCode: Int32 = -1
            var initialMessage = "unset"
            var code: Int32 = -1
            var message = ""
        }
        let seen = Shared(Seen())
        DispatchLikeGroup.run(1) { _ in
            let initialCode = lastErrorCode()
            let initialMessage = lastErrorMessage()
            // A different failure on this thread: a key over the limit (code 2).
            let db = OpaquePointer(bitPattern: bits)
            _ = cPut(db, autoCommit, [UInt8](repeating: 1, count: 70_000), bytes("v"))
            let code = lastErrorCode()
            let message = lastErrorMessage()
            seen.update { $0 = Seen(initialCode: initialCode, initialMessage: initialMessage, code: code, message: message) }
        }
        #expect(seen.value.initialCode == 0, "a new thread has had no failure")
        #expect(seen.value.initialMessage == "", "and an empty (non-NULL) message")
        #expect(seen.value.code == 2)
        #expect(seen.value.message.contains("70000"))
        #expect(lastErrorCode() == 1, "this thread's code is unchanged")
        #expect(lastErrorMessage() == mine, "this thread's message is unchanged")

        // Successful calls do not clear the last error, nor move or free its text.
        let pointer = ToonDBEmbedded.toondb_last_error()
        #expect(cPut(db, "k", "v") == 0)
        #expect(value(db, "k") == "v")
        #expect(lastErrorMessage() == mine)
        #expect(lastErrorCode() == 1)
        #expect(String(cString: pointer) == mine)
    }

    @Test("4 threads putting and getting through one handle: every value is correct at the end")
    func concurrentPutsAndGets() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"), "sync_mode=off; memtable_size_bytes=65536")
        defer { closeDB(db) }
        let bits = UInt(bitPattern: db)
        let perThread = 500
        let failures = Shared<[String]>([])
        DispatchLikeGroup.run(4) { thread in
            let db = OpaquePointer(bitPattern: bits)
            for i in 0..<perThread {
                let key = bytes("t\(thread)-\(i)")
                let value = bytes("value-\(thread)-\(i)-" + String(repeating: "x", count: i % 50))
                if cPut(db, autoCommit, key, value) != 0 { failures.update { $0.append("put \(thread)/\(i): \(lastErrorMessage())") } }
                if i % 3 == 0 {
                    // Read back one of this thread's and one of another thread's keys.
                    let (rc, read) = cGet(db, autoCommit, key)
                    if rc != 0 || read != value { failures.update { $0.append("get \(thread)/\(i): rc \(rc)") } }
                    let other = cGet(db, autoCommit, bytes("t\((thread + 1) % 4)-\(i)"))
                    if other.rc == -1 { failures.update { $0.append("get other \(thread)/\(i): \(lastErrorMessage())") } }
                }
                if i % 50 == 0 {
                    // A small transaction on a key of its own.
                    let txn = ToonDBEmbedded.toondb_begin_txn(db)
                    let ok = cPut(db, txn, bytes("own-txn-\(thread)"), bytes("\(i)")) == 0
                        && ToonDBEmbedded.toondb_commit(db, txn).error_code == 0
                    if !ok { failures.update { $0.append("txn \(thread)/\(i): \(lastErrorMessage())") } }
                }
            }
        }
        #expect(failures.value.isEmpty, "\(failures.value.prefix(5))")
        for thread in 0..<4 {
            for i in 0..<perThread {
                #expect(cGet(db, bytes("t\(thread)-\(i)")).value == bytes("value-\(thread)-\(i)-" + String(repeating: "x", count: i % 50)))
            }
            #expect(value(db, "own-txn-\(thread)") == "450")
        }
        #expect(drainBatches(cScan(db, autoCommit, bytes("t"), bytes("u")), max: 256).pairs.count == 4 * perThread)
    }

    @Test("concurrent transactions on one key: exactly one commit per round wins")
    func concurrentConflicts() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        let bits = UInt(bitPattern: db)
        for round in 0..<10 {
            let txns = (0..<4).map { _ in ToonDBEmbedded.toondb_begin_txn(db) }
            let outcomes = Shared<[Int32]>([])
            DispatchLikeGroup.run(4) { thread in
                let db = OpaquePointer(bitPattern: bits)
                _ = cPut(db, txns[thread], "hot", "r\(round)-t\(thread)")
                let result = ToonDBEmbedded.toondb_commit(db, txns[thread])
                outcomes.update { $0.append(result.error_code) }
            }
            #expect(outcomes.value.sorted() == [-2, -2, -2, 0], "round \(round)")
            #expect(value(db, "hot")?.hasPrefix("r\(round)-") == true)
        }
    }
}

@Suite("Embedded: closing under load")
struct CloseUnderLoadTests {
    @Test("closing a handle while 4 threads use it: every call succeeds or fails with code 6, nothing crashes")
    func closeWhileInUse() {
        let dir = TemporaryDirectory("toondb-emb")
        let path = dir.child("db")
        // A crash here ends the test run (and fails the pass): no call may trap.
        do {
            guard let db = openDB(path) else { Issue.record("open failed: \(lastErrorMessage())"); return }
            let bits = UInt(bitPattern: db)
            let bad = Shared<Int32>(0)
            let progress = Shared([0, 0, 0, 0])
            DispatchLikeGroup.run(5) { thread in
                let db = OpaquePointer(bitPattern: bits)
                if thread == 4 {
                    // Close once every worker is well under way.
                    let deadline = monotonicNow() + 5
                    while progress.value.contains(where: { $0 < 20 }) && monotonicNow() < deadline { usleep(1_000) }
                    closeDB(db)
                    return
                }
                for i in 0..<1_000_000 {
                    let key = bytes("t\(thread)-\(i)")
                    var rc = cPut(db, autoCommit, key, bytes("v"))
                    if rc == 0 { rc = cGet(db, autoCommit, key).rc }
                    if rc == 0, i % 10 == 0 {
                        let txn = ToonDBEmbedded.toondb_begin_txn(db)
                        rc = txn.txn_id == 0 ? -1 : cPut(db, txn, key, bytes("w"))
                        if rc == 0 { rc = ToonDBEmbedded.toondb_commit(db, txn).error_code }
                    }
                    if rc == 0, i % 25 == 0 {
                        let scan = cScanPrefix(db, autoCommit, bytes("t\(thread)-"))
                        rc = scan == nil ? -1 : (drainBatches(scan, max: 64).batches.last?.rc == 1 ? 0 : -1)
                        ToonDBEmbedded.toondb_scan_free(scan)
                    }
                    progress.update { $0[thread] += 1 }
                    if rc != 0 {
                        if lastErrorCode() != 6 { bad.update { $0 = 20 + lastErrorCode() } }
                        return
                    }
                }
                bad.update { $0 = 11 }  // never saw the close
            }
            #expect(bad.value == 0, "a worker failed with an unexpected code or never saw the close: \(bad.value)")
        }
        // What was acknowledged is there after reopening.
        let db = openDB(path)
        #expect(db != nil, "reopen failed: \(lastErrorMessage())")
        #expect(value(db, "t0-0") == "w")
        closeDB(db)
    }
}

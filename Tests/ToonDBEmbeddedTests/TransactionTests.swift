#if canImport(Glibc)
import Glibc
#endif
import CToonDBABI
import Testing
import ToonDBEmbedded
import ToonDBTestSupport

@Suite("Embedded: transactions")
struct TransactionTests {
    @Test("begin gives a non-zero id and the current snapshot; ids differ")
    func begin() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        for i in 0..<3 { #expect(cPut(db, "k\(i)", "v") == 0) }
        let lastLSN = statInt(statsJSON(db), "last_lsn")
        let first = ToonDBEmbedded.toondb_begin_txn(db)
        let second = ToonDBEmbedded.toondb_begin_txn(db)
        #expect(first.txn_id != 0)
        #expect(second.txn_id != 0)
        #expect(first.txn_id != second.txn_id)
        #expect(first.snapshot_ts > 0)
        #expect(lastLSN.map(UInt64.init) == first.snapshot_ts)
        #expect(ToonDBEmbedded.toondb_abort(db, first) == 0)
        #expect(ToonDBEmbedded.toondb_abort(db, second) == 0)
    }

    @Test("writes are invisible outside until commit; commit returns commit_ts > 0 and error_code 0")
    func isolationAndCommit() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        #expect(cPut(db, "old", "1") == 0)
        let txn = ToonDBEmbedded.toondb_begin_txn(db)
        #expect(cPut(db, txn, "new", "2") == 0)
        #expect(cDelete(db, txn, bytes("old")) == 0)
        // Inside: its own writes.
        #expect(value(db, txn, "new") == "2")
        #expect(value(db, txn, "old") == nil)
        var buffer = [UInt8](repeating: 0, count: 4)
        #expect(cGetInto(db, txn, bytes("new"), &buffer) == 1)
        #expect(buffer[0] == UInt8(ascii: "2"))
        // Outside: the committed state only.
        #expect(value(db, "new") == nil)
        #expect(value(db, "old") == "1")
        // A write committed by someone else after the snapshot is not seen inside.
        #expect(cPut(db, "later", "3") == 0)
        #expect(value(db, txn, "later") == nil)

        let result = ToonDBEmbedded.toondb_commit(db, txn)
        #expect(result.error_code == 0)
        #expect(result.commit_ts > 0)
        #expect(result.commit_ts > txn.snapshot_ts)
        #expect(value(db, "new") == "2")
        #expect(value(db, "old") == nil)
        #expect(value(db, "later") == "3")
        #expect(statInt(statsJSON(db), "last_lsn").map(UInt64.init) == result.commit_ts)
    }

    @Test("a committed transaction rejects every further use with \"Transaction already committed\"")
    func reuseCommitted() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        let txn = ToonDBEmbedded.toondb_begin_txn(db)
        #expect(cPut(db, txn, "k", "v") == 0)
        #expect(ToonDBEmbedded.toondb_commit(db, txn).error_code == 0)
        checkFinished(db, txn, message: "Transaction already committed")
        #expect(value(db, "k") == "v", "the failed reuse changed nothing")
    }

    @Test("an aborted transaction discards its writes and rejects reuse with \"Transaction already aborted\"")
    func reuseAborted() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        let txn = ToonDBEmbedded.toondb_begin_txn(db)
        #expect(cPut(db, txn, "k", "v") == 0)
        #expect(ToonDBEmbedded.toondb_abort(db, txn) == 0)
        #expect(value(db, "k") == nil)
        checkFinished(db, txn, message: "Transaction already aborted")
        #expect(value(db, "k") == nil)
    }

    /// Every call with a finished transaction fails with exactly `message` (code 5).
    private func checkFinished(_ db: OpaquePointer?, _ txn: C_TxnHandle, message: String,
                               sourceLocation: SourceLocation = #_sourceLocation) {
        func check(_ what: String, _ failed: () -> Bool) {
            primeLastError(differentFrom: 5)
            #expect(failed(), "\(what) did not fail", sourceLocation: sourceLocation)
            #expect(lastErrorMessage() == message, "\(what)", sourceLocation: sourceLocation)
            #expect(lastErrorCode() == 5, "\(what)", sourceLocation: sourceLocation)
        }
        var buffer = [UInt8](repeating: 0, count: 4)
        check("put") { cPut(db, txn, "k", "again") == -1 }
        check("get") { cGet(db, txn, bytes("k")).rc == -1 }
        check("get_into") { cGetInto(db, txn, bytes("k"), &buffer) == -2 }
        check("delete") { cDelete(db, txn, bytes("k")) == -1 }
        check("put_path") { cPutPath(db, txn, "a/b", bytes("v")) == -1 }
        check("get_path") { cGetPath(db, txn, "a/b").rc == -1 }
        check("scan") { cScan(db, txn, [], []) == nil }
        check("put_many") { cPutMany(db, txn, encodePutMany([(bytes("m"), bytes("v"))])) == -1 }
        check("get_many") { cGetMany(db, txn, encodeKeys([bytes("k")])).rc == -1 }
        check("delete_many") { cDeleteMany(db, txn, encodeKeys([bytes("k")])) == -1 }
        check("commit") {
            let result = ToonDBEmbedded.toondb_commit(db, txn)
            return result.error_code == -1 && result.commit_ts == 0
        }
        check("abort") { ToonDBEmbedded.toondb_abort(db, txn) == -1 }
    }

    @Test("a write-write conflict fails the second commit with error_code -2 and code 4, leaving it aborted")
    func conflict() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        let first = ToonDBEmbedded.toondb_begin_txn(db)
        let second = ToonDBEmbedded.toondb_begin_txn(db)
        #expect(cPut(db, first, "k", "first") == 0)
        #expect(cPut(db, second, "k", "second") == 0)
        #expect(cPut(db, second, "other", "x") == 0)
        #expect(ToonDBEmbedded.toondb_commit(db, first).error_code == 0)
        primeLastError(differentFrom: 4)
        let result = ToonDBEmbedded.toondb_commit(db, second)
        #expect(result.error_code == -2)
        #expect(result.commit_ts == 0)
        #expect(lastErrorCode() == 4, "\(lastErrorMessage())")
        #expect(value(db, "k") == "first")
        #expect(value(db, "other") == nil, "nothing of the losing transaction was applied")
        primeLastError(differentFrom: 5)
        #expect(cPut(db, second, "k", "retry") == -1)
        #expect(lastErrorMessage() == "Transaction already aborted")

        // An auto-commit write after the snapshot conflicts too.
        let third = ToonDBEmbedded.toondb_begin_txn(db)
        #expect(cPut(db, third, "k", "third") == 0)
        #expect(cPut(db, "k", "auto") == 0)
        #expect(ToonDBEmbedded.toondb_commit(db, third).error_code == -2)
        #expect(lastErrorCode() == 4)
        #expect(value(db, "k") == "auto")

        // Disjoint keys do not conflict.
        let a = ToonDBEmbedded.toondb_begin_txn(db)
        let b = ToonDBEmbedded.toondb_begin_txn(db)
        #expect(cPut(db, a, "a", "1") == 0)
        #expect(cPut(db, b, "b", "2") == 0)
        #expect(ToonDBEmbedded.toondb_commit(db, a).error_code == 0)
        #expect(ToonDBEmbedded.toondb_commit(db, b).error_code == 0)
    }

    @Test("an unknown transaction id is an error for every call")
    func unknownTransaction() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        let bogus = C_TxnHandle(txn_id: 987_654_321, snapshot_ts: 1)
        expectError(1, contains: "987654321", "put") { cPut(db, bogus, "k", "v") == -1 }
        expectError(1, "get") { cGet(db, bogus, bytes("k")).rc == -1 }
        expectError(1, "delete") { cDelete(db, bogus, bytes("k")) == -1 }
        expectError(1, "scan") { cScan(db, bogus, [], []) == nil }
        expectError(1, "commit") { ToonDBEmbedded.toondb_commit(db, bogus).error_code == -1 }
        expectError(1, "abort") { ToonDBEmbedded.toondb_abort(db, bogus) == -1 }
        expectError(1, "commit of txn_id 0") { ToonDBEmbedded.toondb_commit(db, autoCommit).error_code == -1 }
        expectError(1, "abort of txn_id 0") { ToonDBEmbedded.toondb_abort(db, autoCommit) == -1 }
        #expect(value(db, "k") == nil)

        // A transaction of another handle is unknown here.
        let otherDir = TemporaryDirectory("toondb-emb")
        let other = openDB(otherDir.child("db"))
        defer { closeDB(other) }
        // (Ids are numbered per database: this one's ids have not reached the foreign one.)
        let foreign = (0..<5).map { _ in ToonDBEmbedded.toondb_begin_txn(other) }.last!
        expectError(1, "a transaction of another database") { cPut(db, foreign, "k", "v") == -1 }
        #expect(cPut(other, foreign, "k", "v") == 0)
    }

    @Test("a transaction's scans see its snapshot plus its own writes")
    func scanSeesOwnWrites() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        for key in ["a1", "a2", "a3", "b1"] { #expect(cPut(db, key, "old") == 0) }
        let txn = ToonDBEmbedded.toondb_begin_txn(db)
        #expect(cPut(db, txn, "a0", "new") == 0)
        #expect(cPut(db, txn, "a2", "changed") == 0)
        #expect(cDelete(db, txn, bytes("a3")) == 0)
        #expect(cPut(db, txn, "a4", "new") == 0)
        #expect(cPut(db, "a5", "after-snapshot") == 0)

        let inside = drainNext(cScanPrefix(db, txn, bytes("a")))
        #expect(inside.end == 1)
        #expect(keys(inside.pairs) == ["a0", "a1", "a2", "a4"])
        #expect(inside.pairs.map { String(decoding: $0.value, as: UTF8.self) } == ["new", "old", "changed", "new"])
        let range = drainBatches(cScan(db, txn, bytes("a1"), bytes("a4")), max: 2)
        #expect(keys(range.pairs) == ["a1", "a2"])
        #expect(range.batches.last?.rc == 1)

        let outside = drainNext(cScanPrefix(db, autoCommit, bytes("a")))
        #expect(keys(outside.pairs) == ["a1", "a2", "a3", "a5"])
        #expect(ToonDBEmbedded.toondb_commit(db, txn).error_code == 0)
        #expect(keys(drainNext(cScanPrefix(db, autoCommit, bytes("a"))).pairs) == ["a0", "a1", "a2", "a4", "a5"])
    }

    @Test("a transaction that wrote nothing commits without error; closing aborts open transactions")
    func readOnlyAndClose() {
        let dir = TemporaryDirectory("toondb-emb")
        let path = dir.child("db")
        let db = openDB(path)
        #expect(cPut(db, "k", "v") == 0)
        let reader = ToonDBEmbedded.toondb_begin_txn(db)
        #expect(value(db, reader, "k") == "v")
        let result = ToonDBEmbedded.toondb_commit(db, reader)
        #expect(result.error_code == 0)
        let pending = ToonDBEmbedded.toondb_begin_txn(db)
        #expect(cPut(db, pending, "uncommitted", "x") == 0)
        closeDB(db)
        let reopened = openDB(path)
        #expect(value(reopened, "uncommitted") == nil)
        #expect(value(reopened, "k") == "v")
        closeDB(reopened)
    }
}

import Testing
import ToonDBEngine
import ToonDBTestSupport

@Suite("Transactions", .serialized)
struct TransactionTests {
    @Test("reads see the snapshot at begin plus the transaction's own writes")
    func snapshotIsolation() throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(path: dir.path, options: testOptions())
        try db.put(bytes("a"), bytes("1"))
        try db.put(bytes("b"), bytes("1"))
        let txn = try db.beginTransaction()
        try db.put(bytes("a"), bytes("2"))     // after the snapshot
        try db.delete(bytes("b"))
        try db.put(bytes("c"), bytes("new"))
        #expect(try txn.get(bytes("a")) == bytes("1"))
        #expect(try txn.get(bytes("b")) == bytes("1"))
        #expect(try txn.get(bytes("c")) == nil)
        try txn.put(bytes("d"), bytes("mine"))
        try txn.delete(bytes("a"))
        #expect(try txn.get(bytes("d")) == bytes("mine"))
        #expect(try txn.get(bytes("a")) == nil)
        #expect(try db.get(bytes("d")) == nil, "uncommitted writes are invisible outside")
        let pairs = try txn.scan()
        #expect(pairs.map { String(decoding: $0.key, as: UTF8.self) } == ["b", "d"])
        try db.flush()  // the snapshot survives a flush
        #expect(try txn.get(bytes("b")) == bytes("1"))
        try txn.abort()
        try db.close()
    }

    @Test("write-write conflict: first committer wins; the loser applies nothing")
    func conflicts() throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(path: dir.path, options: testOptions())
        try db.put(bytes("counter"), bytes("0"))
        let t1 = try db.beginTransaction()
        let t2 = try db.beginTransaction()
        try t1.put(bytes("counter"), bytes("1"))
        try t2.put(bytes("counter"), bytes("2"))
        try t2.put(bytes("other"), bytes("x"))
        let lsn = try t1.commit()
        #expect(lsn > t1.snapshot)
        do {
            try t2.commit()
            Issue.record("conflicting commit succeeded")
        } catch {
            #expect(error.code == .conflict)
            #expect(error.message.contains("counter"))
        }
        #expect(try db.get(bytes("counter")) == bytes("1"))
        #expect(try db.get(bytes("other")) == nil)
        #expect(t2.status == .aborted)
        try db.close()
    }

    @Test("a blind single put also conflicts with a transaction that wrote the key")
    func conflictWithAutocommit() throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(path: dir.path, options: testOptions())
        let txn = try db.beginTransaction()
        try txn.put(bytes("k"), bytes("txn"))
        try db.put(bytes("k"), bytes("auto"))
        #expect(throws: StorageError.self) { try txn.commit() }
        #expect(try db.get(bytes("k")) == bytes("auto"))
        try db.close()
    }

    @Test("conflicts are found when the tracker started after the snapshot (engine lookup)")
    func conflictDetectedFromStoredVersions() throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(path: dir.path, options: testOptions())
        // The only active transaction: its snapshot predates tracking, and the competing write
        // is flushed to a table.
        let txn = try db.beginTransaction()
        try db.put(bytes("k"), bytes("other"))
        try db.flush()
        try txn.put(bytes("k"), bytes("mine"))
        do {
            try txn.commit()
            Issue.record("conflict missed")
        } catch {
            #expect(error.code == .conflict)
        }
        // Disjoint keys do not conflict.
        let a = try db.beginTransaction()
        let b = try db.beginTransaction()
        try a.put(bytes("x"), bytes("1"))
        try b.put(bytes("y"), bytes("1"))
        try a.commit()
        try b.commit()
        try db.close()
    }

    @Test("a finished transaction rejects every call, naming how it finished")
    func reuse() throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(path: dir.path, options: testOptions())
        let committed = try db.beginTransaction()
        try committed.put(bytes("k"), bytes("v"))
        try committed.commit()
        let aborted = try db.beginTransaction()
        try aborted.abort()
        for (txn, word) in [(committed, "committed"), (aborted, "aborted")] {
            for call in [{ try txn.put(bytes("k"), bytes("v")) }, { _ = try txn.get(bytes("k")) }, { _ = try txn.commit() }, { try txn.abort() }] as [() throws -> Void] {
                do {
                    try call()
                    Issue.record("call on a \(word) transaction succeeded")
                } catch let error as StorageError {
                    #expect(error.code == .transactionClosed)
                    #expect(error.message == "Transaction already \(word)")
                }
            }
        }
        try db.close()
    }

    @Test("read-only commits write nothing to the WAL; abort leaves nothing behind")
    func readOnlyAndAbort() throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(path: dir.path, options: testOptions())
        try db.put(bytes("k"), bytes("v"))
        let before = db.stats()
        let reader = try db.beginTransaction()
        _ = try reader.get(bytes("k"))
        _ = try reader.scan()
        #expect(try reader.commit() == before.lastLSN)
        let writer = try db.beginTransaction()
        try writer.put(bytes("z"), bytes("1"))
        try writer.abort()
        let after = db.stats()
        #expect(after.lastLSN == before.lastLSN)
        #expect(after.walBytes == before.walBytes)
        #expect(after.activeTransactions == 0)
        #expect(try db.get(bytes("z")) == nil)
        try db.close()
    }

    @Test("concurrent increments with retry on conflict lose no update")
    func concurrentCounters() throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(path: dir.path, options: testOptions())
        try db.put(bytes("n"), bytes("0"))
        let threads = 4, perThread = 50
        let failures = Counter()
        DispatchLikeGroup.run(threads) { _ in
            for _ in 0..<perThread {
                while true {
                    do {
                        let txn = try db.beginTransaction()
                        let current = Int(String(decoding: try txn.get(bytes("n"))!, as: UTF8.self))!
                        try txn.put(bytes("n"), bytes(String(current + 1)))
                        try txn.commit()
                        break
                    } catch let error as StorageError where error.code == .conflict {
                        continue
                    } catch {
                        failures.increment()
                        break
                    }
                }
            }
        }
        #expect(failures.value == 0)
        #expect(try db.get(bytes("n")) == bytes(String(threads * perThread)))
        try db.close()
    }
}

#if canImport(Glibc)
import Glibc
#endif
import CToonDBABI
import Testing
import ToonDBEmbedded
import ToonDBTestSupport

@Suite("Embedded: scans")
struct ScanTests {
    static func key(_ i: Int) -> String { "k" + String(repeating: "0", count: 4 - String(i).count) + String(i) }

    /// k0000..k2499 with value "v<i>", and neighbours before ("a...") and after ("z...").
    static func populated(_ dir: TemporaryDirectory) -> OpaquePointer? {
        let db = openDB(dir.child("db"))
        var pairs: [([UInt8], [UInt8])] = (0..<2500).map { (bytes(key($0)), bytes("v\($0)")) }
        pairs += [(bytes("a"), bytes("before")), (bytes("k"), bytes("bare prefix")), (bytes("l"), bytes("after")), (bytes("z"), bytes("end"))]
        #expect(cPutMany(db, encodePutMany(pairs)) == Int64(pairs.count))
        return db
    }

    @Test("toondb_scan over [start, end) returns exactly those keys in order, via scan_next and scan_batch")
    func rangeScan() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = Self.populated(dir)
        defer { closeDB(db) }
        let expected = (100..<200).map(Self.key)

        let it = cScan(db, autoCommit, bytes("k0100"), bytes("k0200"))
        #expect(it != nil)
        let viaNext = drainNext(it)
        #expect(viaNext.end == 1)
        #expect(keys(viaNext.pairs) == expected)
        #expect(viaNext.pairs.map(\.value) == (100..<200).map { bytes("v\($0)") })
        #expect(scanNext(it).rc == 1, "an exhausted scan stays exhausted")
        ToonDBEmbedded.toondb_scan_free(it)

        let batched = cScan(db, autoCommit, bytes("k0100"), bytes("k0200"))
        let viaBatch = drainBatches(batched, max: 7)
        #expect(keys(viaBatch.pairs) == expected)
        #expect(viaBatch.pairs.map(\.value) == (100..<200).map { bytes("v\($0)") })
        ToonDBEmbedded.toondb_scan_free(batched)

        // Bounds between stored keys, and empty bounds meaning open.
        #expect(keys(drainNext(cScan(db, autoCommit, bytes("k0099x"), bytes("k0102x"))).pairs) == ["k0100", "k0101", "k0102"])
        #expect(keys(drainNext(cScan(db, autoCommit, [], bytes("k0002"))).pairs) == ["a", "k", "k0000", "k0001"])
        #expect(keys(drainNext(cScan(db, autoCommit, bytes("k2498"), [])).pairs) == ["k2498", "k2499", "l", "z"])
        #expect(drainNext(cScan(db, autoCommit, [], [])).pairs.count == 2504)
        #expect(drainNext(cScan(db, autoCommit, bytes("k0100"), bytes("k0100"))).pairs.isEmpty)
        #expect(drainNext(cScan(db, autoCommit, bytes("m"), bytes("y"))).pairs.isEmpty)
        let txn = ToonDBEmbedded.toondb_begin_txn(db)
        #expect(cPut(db, txn, "k0150x", "mine") == 0)
        for scanTxn in [autoCommit, txn] {
            let reversed = drainNext(cScan(db, scanTxn, bytes("k0200"), bytes("k0100")))
            #expect(reversed.pairs.isEmpty, "start after end is an empty range (txn \(scanTxn.txn_id))")
            #expect(reversed.end == 1)
        }
        #expect(keys(drainNext(cScan(db, txn, bytes("k0150"), bytes("k0152"))).pairs) == ["k0150", "k0150x", "k0151"])
    }

    @Test("toondb_scan_prefix returns exactly the keys with the prefix, in order")
    func prefixScan() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = Self.populated(dir)
        defer { closeDB(db) }
        #expect(keys(drainNext(cScanPrefix(db, autoCommit, bytes("k001"))).pairs) == (10..<20).map(Self.key))
        #expect(keys(drainNext(cScanPrefix(db, autoCommit, bytes("k24"))).pairs) == (2400..<2500).map(Self.key))
        let all = drainBatches(cScanPrefix(db, autoCommit, bytes("k")), max: 333)
        #expect(keys(all.pairs) == ["k"] + (0..<2500).map(Self.key))
        #expect(drainNext(cScanPrefix(db, autoCommit, bytes("q"))).pairs.isEmpty)
        #expect(drainNext(cScanPrefix(db, autoCommit, [])).pairs.count == 2504, "an empty prefix is every key")

        // A prefix ending in 0xFF bytes has no simple successor.
        #expect(cPut(db, autoCommit, [0xFF], bytes("1")) == 0)
        #expect(cPut(db, autoCommit, [0xFF, 0x00], bytes("2")) == 0)
        #expect(cPut(db, autoCommit, [0xFF, 0xFF, 0x01], bytes("3")) == 0)
        #expect(cPut(db, autoCommit, [0xFE, 0xFF], bytes("4")) == 0)
        #expect(drainNext(cScanPrefix(db, autoCommit, [0xFF])).pairs.map(\.key) == [[0xFF], [0xFF, 0x00], [0xFF, 0xFF, 0x01]])
        #expect(drainNext(cScanPrefix(db, autoCommit, [0xFF, 0xFF])).pairs.map(\.key) == [[0xFF, 0xFF, 0x01]])
        #expect(drainNext(cScanPrefix(db, autoCommit, [0xFE])).pairs.map(\.key) == [[0xFE, 0xFF]])
    }

    @Test("2,500 keys in batches of 100: 25 full batches, then 1 with count 0 and is_done")
    func manyBatches() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = Self.populated(dir)
        defer { closeDB(db) }
        let it = cScan(db, autoCommit, bytes("k0000"), bytes("k9999"))
        defer { ToonDBEmbedded.toondb_scan_free(it) }
        let result = drainBatches(it, max: 100)
        #expect(keys(result.pairs) == (0..<2500).map(Self.key))
        #expect(result.batches.count == 26)
        for batch in result.batches.dropLast() {
            #expect(batch.rc == 0)
            #expect(batch.count == 100)
            #expect(!batch.isDone)
        }
        let last = result.batches.last
        #expect(last?.rc == 1)
        #expect(last?.count == 0)
        #expect(last?.isDone == true)
        let again = scanBatch(it, max: 100)
        #expect(again.rc == 1 && again.count == 0 && again.isDone)
    }

    @Test("a short last batch carries is_done; the following call returns 1 with count 0")
    func shortLastBatch() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = Self.populated(dir)
        defer { closeDB(db) }
        for txn in [autoCommit, ToonDBEmbedded.toondb_begin_txn(db)] {
            let it = cScanPrefix(db, txn, bytes("k00"))  // k0000..k0099: 100 keys
            let batches = (0..<4).map { _ in scanBatch(it, max: 40) }
            #expect(batches.map(\.count) == [40, 40, 20, 0], "txn \(txn.txn_id)")
            #expect(batches.map(\.rc) == [0, 0, 0, 1], "txn \(txn.txn_id)")
            #expect(batches.map(\.isDone) == [false, false, true, true], "txn \(txn.txn_id)")
            #expect(keys(batches.flatMap(\.pairs)) == (0..<100).map(Self.key))
            ToonDBEmbedded.toondb_scan_free(it)
        }
        // A batch of exactly the remaining pairs inside a transaction ends the scan at once.
        let txn = ToonDBEmbedded.toondb_begin_txn(db)
        let it = cScanPrefix(db, txn, bytes("k00"))
        let whole = scanBatch(it, max: 100)
        #expect(whole.rc == 0 && whole.count == 100 && whole.isDone)
        let after = scanBatch(it, max: 100)
        #expect(after.rc == 1 && after.count == 0 && after.isDone)
        ToonDBEmbedded.toondb_scan_free(it)
    }

    @Test("scan_next and scan_batch can be mixed on one scan")
    func mixedNextAndBatch() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = Self.populated(dir)
        defer { closeDB(db) }
        let it = cScanPrefix(db, autoCommit, bytes("k000"))
        defer { ToonDBEmbedded.toondb_scan_free(it) }
        var seen: [String] = []
        seen += keys([scanNext(it).pair].compactMap { $0 })
        seen += keys(scanBatch(it, max: 3).pairs)
        seen += keys([scanNext(it).pair].compactMap { $0 })
        seen += keys(drainBatches(it, max: 4).pairs)
        #expect(seen == (0..<10).map(Self.key))
    }

    @Test("scan_free twice, on NULL and on made-up handles is harmless; freed scans give errors")
    func scanFree() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = Self.populated(dir)
        defer { closeDB(db) }
        let it = cScanPrefix(db, autoCommit, bytes("k"))
        #expect(scanNext(it).rc == 0)
        ToonDBEmbedded.toondb_scan_free(it)
        ToonDBEmbedded.toondb_scan_free(it)
        ToonDBEmbedded.toondb_scan_free(nil)
        ToonDBEmbedded.toondb_scan_free(OpaquePointer(bitPattern: 0x1234))
        ToonDBEmbedded.toondb_scan_free(db)  // a database handle is not a scan: nothing happens
        #expect(cPut(db, "still", "open") == 0)
        expectError(1, contains: "freed", "next on a freed scan") { scanNext(it).rc == -1 }
        expectError(1, "batch on a freed scan") { scanBatch(it, max: 10).rc == -1 }
        expectError(1, "NULL scan") { scanNext(nil).rc == -1 }
        expectError(1, "made-up scan") { scanNext(OpaquePointer(bitPattern: 0x1234)).rc == -1 }
        expectError(1, "a database handle as a scan") { scanNext(db).rc == -1 }
    }

    /// What toondb_scan_visit's visitor collects: the pairs, and after how many to stop.
    final class Visits {
        var pairs: [Pair] = []
        var stopAfter = Int.max
    }

    static let collect: toondb_scan_visitor = { context, key, keyLength, value, valueLength in
        let visits = Unmanaged<Visits>.fromOpaque(context!).takeUnretainedValue()
        visits.pairs.append((Array(UnsafeBufferPointer(start: key, count: keyLength)), Array(UnsafeBufferPointer(start: value, count: valueLength))))
        return visits.pairs.count >= visits.stopAfter ? 1 : 0
    }

    /// One toondb_scan_visit call: its result, done flag and the pairs visited.
    static func visit(_ it: OpaquePointer?, max: Int, stopAfter: Int = .max) -> (rc: Int64, done: UInt8, pairs: [Pair]) {
        let visits = Visits()
        visits.stopAfter = stopAfter
        var done: UInt8 = 7
        let rc = withExtendedLifetime(visits) {
            ToonDBEmbedded.toondb_scan_visit(it, max, collect, Unmanaged.passUnretained(visits).toOpaque(), &done)
        }
        return (rc, done, visits.pairs)
    }

    @Test("toondb_scan_visit hands out the pairs scan_batch returns, in place; the visitor can stop it")
    func visitScan() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = Self.populated(dir)
        defer { closeDB(db) }
        let expected = drainBatches(cScan(db, autoCommit, bytes("k0100"), bytes("k0300")), max: 50).pairs
        #expect(expected.count == 200)
        let it = cScan(db, autoCommit, bytes("k0100"), bytes("k0300"))
        defer { ToonDBEmbedded.toondb_scan_free(it) }
        let first = Self.visit(it, max: 64)
        #expect(first.rc == 64 && first.done == 0)
        let stopped = Self.visit(it, max: 64, stopAfter: 3)  // the visitor says stop after its third pair
        #expect(stopped.rc == 3 && stopped.done == 0)
        var rest: [Pair] = []
        var last = Self.visit(it, max: 100)
        while last.rc > 0 && last.done == 0 {
            rest += last.pairs
            last = Self.visit(it, max: 100)
        }
        rest += last.pairs
        #expect(last.done == 1)
        let all = first.pairs + stopped.pairs + rest
        #expect(all.count == expected.count)
        #expect(keys(all) == keys(expected) && all.map(\.value) == expected.map(\.value))
        let after = Self.visit(it, max: 10)
        #expect(after.rc == 0 && after.done == 1, "an exhausted scan stays exhausted")
        // Inside a transaction the scan is a list; it visits the same way.
        let txn = ToonDBEmbedded.toondb_begin_txn(db)
        let listed = cScanPrefix(db, txn, bytes("k01"))
        let visitedList = Self.visit(listed, max: 1_000, stopAfter: 5)
        #expect(visitedList.rc == 5 && keys(visitedList.pairs) == (100..<105).map(Self.key))
        #expect(Self.visit(listed, max: 1_000).rc == 95)
        ToonDBEmbedded.toondb_scan_free(listed)
        _ = ToonDBEmbedded.toondb_abort(db, txn)
        var done: UInt8 = 0
        expectError(1, "NULL visitor") { ToonDBEmbedded.toondb_scan_visit(it, 10, nil, nil, &done) == -1 }
        expectError(1, "NULL done") { ToonDBEmbedded.toondb_scan_visit(it, 10, Self.collect, nil, nil) == -1 }
        expectError(1, "max_items 0") { ToonDBEmbedded.toondb_scan_visit(it, 0, Self.collect, nil, &done) == -1 }
        expectError(1, "NULL scan") { ToonDBEmbedded.toondb_scan_visit(nil, 10, Self.collect, nil, &done) == -1 }
    }

    @Test("bad arguments to scan functions are invalid arguments")
    func badScanArguments() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = Self.populated(dir)
        defer { closeDB(db) }
        let it = cScanPrefix(db, autoCommit, bytes("k"))
        defer { ToonDBEmbedded.toondb_scan_free(it) }
        var out: UnsafeMutablePointer<UInt8>?
        var length = 0
        expectError(1, "max_items 0") { ToonDBEmbedded.toondb_scan_batch(it, 0, &out, &length) == -1 }
        expectError(1, "NULL out") { ToonDBEmbedded.toondb_scan_batch(it, 10, nil, &length) == -1 }
        expectError(1, "NULL outs for next") { ToonDBEmbedded.toondb_scan_next(it, nil, nil, nil, nil) == -1 }
        expectError(1, "NULL start with a length") { ToonDBEmbedded.toondb_scan(db, autoCommit, nil, 3, nil, 0) == nil }
        expectError(1, "NULL prefix with a length") { ToonDBEmbedded.toondb_scan_prefix(db, autoCommit, nil, 3) == nil }
        // The scan itself was not disturbed.
        #expect(scanNext(it).pair.map { keys([$0]) } == ["k"])
    }

    @Test("a scan whose database was closed returns -1 with code 6")
    func scanAfterClose() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = Self.populated(dir)
        let streaming = cScanPrefix(db, autoCommit, bytes("k"))
        let txn = ToonDBEmbedded.toondb_begin_txn(db)
        let listed = cScanPrefix(db, txn, bytes("k"))
        #expect(scanNext(streaming).rc == 0)
        #expect(scanNext(listed).rc == 0)
        closeDB(db)
        for it in [streaming, listed] {
            expectError(6, "next") { scanNext(it).rc == -1 }
            expectError(6, "batch") { scanBatch(it, max: 10).rc == -1 }
            ToonDBEmbedded.toondb_scan_free(it)
            ToonDBEmbedded.toondb_scan_free(it)
        }
    }

    @Test("an open scan keeps reading its snapshot while new writes arrive")
    func scanSnapshot() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = Self.populated(dir)
        defer { closeDB(db) }
        let it = cScanPrefix(db, autoCommit, bytes("k000"))
        defer { ToonDBEmbedded.toondb_scan_free(it) }
        #expect(scanNext(it).rc == 0)
        #expect(cPut(db, "k0005x", "new") == 0)
        #expect(cDelete(db, bytes("k0007")) == 0)
        #expect(keys(drainNext(it).pairs) == (1..<10).map(Self.key))
    }
}

@Suite("Embedded: scans with extreme batch sizes")
struct ScanBatchSizeTests {
    @Test("scan_batch with max_items = Int64.max returns the rest of the scan, never aborts the process",
          arguments: ["no transaction", "transaction"])
    func hugeMaxItems(mode: String) {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        #expect(cPutMany(db, encodePutMany((0..<10).map { (bytes("k\($0)"), bytes("v")) })) == 10)
        let txn = mode == "transaction" ? ToonDBEmbedded.toondb_begin_txn(db) : autoCommit
        let it = cScanPrefix(db, txn, bytes("k"))
        defer { ToonDBEmbedded.toondb_scan_free(it) }
        #expect(scanBatch(it, max: 3).count == 3)
        // Before the fix, `start + limit` overflowed here and trapped (which ends the test run).
        let rest = scanBatch(it, max: Int(Int64.max))
        #expect(rest.rc == 0 && rest.count == 7 && rest.isDone)
    }
}

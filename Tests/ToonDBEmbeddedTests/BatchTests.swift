#if canImport(Glibc)
import Glibc
#endif
import CToonDBABI
import Testing
import ToonDBEmbedded
import ToonDBTestSupport

@Suite("Embedded: batches")
struct BatchTests {
    @Test("put_many stores every pair and returns n; the last write of a repeated key wins")
    func putMany() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        let pairs: [([UInt8], [UInt8])] = (0..<50).map { (bytes("key\($0)"), bytes("value\($0)")) } + [(bytes("empty"), [])]
        #expect(cPutMany(db, encodePutMany(pairs)) == 51)
        for (key, value) in pairs { #expect(cGet(db, key).value == value) }
        #expect(cPutMany(db, encodePutMany([(bytes("dup"), bytes("1")), (bytes("dup"), bytes("2"))])) == 2)
        #expect(value(db, "dup") == "2")
        #expect(cPutMany(db, le32(0)) == 0, "an empty batch")
    }

    @Test("put_many outside a transaction is one commit: the LSN advances by one")
    func putManyIsOneCommit() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        #expect(cPut(db, "first", "x") == 0)
        let before = statInt(statsJSON(db), "last_lsn") ?? -1
        #expect(cPutMany(db, encodePutMany((0..<20).map { (bytes("k\($0)"), bytes("v")) })) == 20)
        #expect(statInt(statsJSON(db), "last_lsn") == before + 1)
    }

    @Test("put_many with an invalid key is refused whole: nothing is written", arguments: [0, 1])
    func putManyAtomic(bad: Int) {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        let badKey: [UInt8] = bad == 0 ? [] : [UInt8](repeating: 0x6B, count: 70_000)
        var pairs: [([UInt8], [UInt8])] = (0..<10).map { (bytes("key\($0)"), bytes("v")) }
        pairs.insert((badKey, bytes("v")), at: 7)
        expectError(Int32(bad + 1)) { cPutMany(db, encodePutMany(pairs)) == -1 }
        #expect(drainNext(cScan(db, autoCommit, [], [])).pairs.isEmpty)
    }

    /// Buffers that are not well-formed put_many input.
    static let malformedPutMany: [(String, [UInt8])] = {
        let good = encodePutMany([(bytes("a"), bytes("1")), (bytes("b"), bytes("2"))])
        return [
            ("empty", []),
            ("short count", [1, 0]),
            ("truncated last value", Array(good.dropLast())),
            ("truncated in a length", Array(good.prefix(4 + 8 + 2 + 3))),
            ("count too large", le32(3) + good.dropFirst(4)),
            ("count 2^32-1", le32(UInt32.max) + good.dropFirst(4)),
            ("trailing bytes", good + [0]),
            ("key length 2^32-1", le32(1) + le32(UInt32.max) + le32(1) + bytes("ab")),
            ("value length 2^31", le32(1) + le32(1) + le32(UInt32(1) << 31) + bytes("ab")),
            ("garbage", [0xDE, 0xAD, 0xBE, 0xEF, 0x01, 0x02, 0x03]),
        ]
    }()

    @Test("truncated or garbage put_many buffers return -1 with code 1 and write nothing",
          arguments: malformedPutMany.map(\.0))
    func putManyMalformed(name: String) {
        let buffer = Self.malformedPutMany.first { $0.0 == name }!.1
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        expectError(1, "\(name)") { cPutMany(db, buffer) == -1 }
        let txn = ToonDBEmbedded.toondb_begin_txn(db)
        expectError(1, "\(name) in a transaction") { cPutMany(db, txn, buffer) == -1 }
        #expect(ToonDBEmbedded.toondb_commit(db, txn).error_code == 0)
        #expect(drainNext(cScan(db, autoCommit, [], [])).pairs.isEmpty)
    }

    @Test("a NULL put_many buffer is refused")
    func putManyNull() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        expectError(1, contains: "NULL") { ToonDBEmbedded.toondb_put_many(db, autoCommit, C_ByteSlice(data: nil, len: 8)) == -1 }
        expectError(1) { ToonDBEmbedded.toondb_put_many(db, autoCommit, C_ByteSlice(data: nil, len: 0)) == -1 }
    }

    @Test("put_many inside a transaction is invisible until commit")
    func putManyInTransaction() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        let txn = ToonDBEmbedded.toondb_begin_txn(db)
        #expect(cPutMany(db, txn, encodePutMany([(bytes("a"), bytes("1")), (bytes("b"), bytes("2"))])) == 2)
        #expect(value(db, txn, "a") == "1")
        #expect(value(db, "a") == nil)
        #expect(ToonDBEmbedded.toondb_commit(db, txn).error_code == 0)
        #expect(value(db, "a") == "1")
        #expect(value(db, "b") == "2")
    }

    @Test("a put_many refused inside a transaction leaves none of its pairs in the transaction")
    func putManyInTransactionAtomic() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        let txn = ToonDBEmbedded.toondb_begin_txn(db)
        expectError(1) { cPutMany(db, txn, encodePutMany([(bytes("a"), bytes("1")), (bytes("b"), bytes("2")), ([], bytes("3"))])) == -1 }
        #expect(value(db, txn, "a") == nil, "the failed call put \"a\" into the transaction")
        #expect(ToonDBEmbedded.toondb_commit(db, txn).error_code == 0)
        #expect(value(db, "a") == nil, "a failed put_many was committed in part")
        #expect(value(db, "b") == nil)
    }

    @Test("a delete_many refused inside a transaction leaves none of its deletes in the transaction")
    func deleteManyInTransactionAtomic() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        #expect(cPut(db, "a", "1") == 0)
        #expect(cPut(db, "b", "2") == 0)
        let txn = ToonDBEmbedded.toondb_begin_txn(db)
        expectError(1) { cDeleteMany(db, txn, encodeKeys([bytes("a"), bytes("b"), []])) == -1 }
        #expect(value(db, txn, "a") == "1", "the failed call deleted \"a\" in the transaction")
        #expect(ToonDBEmbedded.toondb_commit(db, txn).error_code == 0)
        #expect(value(db, "a") == "1", "a failed delete_many was committed in part")
        #expect(value(db, "b") == "2")
    }

    @Test("get_many: status 0 with the value, 1 when missing, 2 for an invalid key, in input order")
    func getMany() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        #expect(cPut(db, "a", "apple") == 0)
        #expect(cPut(db, autoCommit, bytes("e"), []) == 0)
        #expect(cPut(db, "z", "zebra") == 0)
        let request: [[UInt8]] = [bytes("z"), bytes("missing"), [], bytes("a"), bytes("e"), [UInt8](repeating: 1, count: 70_000), bytes("a")]
        let expected: [ManyResult] = [.found(bytes("zebra")), .missing, .error, .found(bytes("apple")), .found([]), .error, .found(bytes("apple"))]

        let plain = cGetMany(db, encodeKeys(request))
        #expect(plain.rc == 0)
        #expect(plain.out.flatMap(parseGetMany) == expected)

        let txn = ToonDBEmbedded.toondb_begin_txn(db)
        #expect(cPut(db, txn, "missing", "found now") == 0)
        #expect(cDelete(db, txn, bytes("z")) == 0)
        let inside = cGetMany(db, txn, encodeKeys(request))
        #expect(inside.rc == 0)
        var expectedInside = expected
        expectedInside[0] = .missing
        expectedInside[1] = .found(bytes("found now"))
        #expect(inside.out.flatMap(parseGetMany) == expectedInside)
        #expect(ToonDBEmbedded.toondb_abort(db, txn) == 0)

        let empty = cGetMany(db, encodeKeys([]))
        #expect(empty.rc == 0)
        #expect(empty.out == le32(0))
    }

    @Test("get_many reads values that were flushed to tables")
    func getManyFromTables() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        #expect(cPutMany(db, encodePutMany((0..<100).map { (bytes("k\($0)"), bytes("v\($0)")) })) == 100)
        var lsn: UInt64 = 0
        #expect(ToonDBEmbedded.toondb_checkpoint_lsn(db, &lsn) == 0)
        #expect(cPut(db, "k5", "newer") == 0)
        let result = cGetMany(db, encodeKeys([bytes("k1"), bytes("k5"), bytes("k99"), bytes("k100")]))
        #expect(result.out.flatMap(parseGetMany) == [.found(bytes("v1")), .found(bytes("newer")), .found(bytes("v99")), .missing])
    }

    static let malformedKeys: [(String, [UInt8])] = {
        let good = encodeKeys([bytes("a"), bytes("bb")])
        return [
            ("empty", []),
            ("short count", [2, 0, 0]),
            ("truncated last key", Array(good.dropLast())),
            ("count too large", le32(3) + good.dropFirst(4)),
            ("count 2^32-1", le32(UInt32.max)),
            ("trailing bytes", good + [9, 9]),
            ("key length 2^32-1", le32(1) + le32(UInt32.max) + bytes("a")),
        ]
    }()

    @Test("truncated or garbage get_many and delete_many buffers return -1 with code 1 and change nothing",
          arguments: malformedKeys.map(\.0))
    func keysMalformed(name: String) {
        let buffer = Self.malformedKeys.first { $0.0 == name }!.1
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        #expect(cPut(db, "a", "1") == 0)
        #expect(cPut(db, "bb", "2") == 0)
        expectError(1, "get_many \(name)") {
            let result = cGetMany(db, buffer)
            return result.rc == -1 && !result.outTouched
        }
        expectError(1, "delete_many \(name)") { cDeleteMany(db, buffer) == -1 }
        #expect(value(db, "a") == "1")
        #expect(value(db, "bb") == "2")
        var out: UnsafeMutablePointer<UInt8>?
        var length = 0
        expectError(1, "get_many NULL keys") { ToonDBEmbedded.toondb_get_many(db, autoCommit, nil, 4, &out, &length) == -1 }
        expectError(1, "get_many NULL out") { buffer.withUnsafeBufferPointer { ToonDBEmbedded.toondb_get_many(db, autoCommit, $0.baseAddress, $0.count, nil, nil) } == -1 }
        expectError(1, "delete_many NULL keys") { ToonDBEmbedded.toondb_delete_many(db, autoCommit, nil, 4) == -1 }
    }

    @Test("delete_many deletes every listed key and returns how many were listed")
    func deleteMany() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        #expect(cPutMany(db, encodePutMany((0..<10).map { (bytes("k\($0)"), bytes("v")) })) == 10)
        #expect(cDeleteMany(db, encodeKeys([bytes("k1"), bytes("k3"), bytes("k5"), bytes("never")])) == 4)
        #expect(keys(drainNext(cScanPrefix(db, autoCommit, bytes("k"))).pairs) == ["k0", "k2", "k4", "k6", "k7", "k8", "k9"])
        #expect(cDeleteMany(db, le32(0)) == 0)

        // Refused whole when a key is invalid.
        expectError(1) { cDeleteMany(db, encodeKeys([bytes("k0"), [], bytes("k2")])) == -1 }
        #expect(value(db, "k0") == "v")

        // Inside a transaction: invisible outside until commit.
        let txn = ToonDBEmbedded.toondb_begin_txn(db)
        #expect(cDeleteMany(db, txn, encodeKeys([bytes("k0"), bytes("k2")])) == 2)
        #expect(value(db, txn, "k0") == nil)
        #expect(value(db, "k0") == "v")
        #expect(ToonDBEmbedded.toondb_commit(db, txn).error_code == 0)
        #expect(keys(drainNext(cScanPrefix(db, autoCommit, bytes("k"))).pairs) == ["k4", "k6", "k7", "k8", "k9"])
    }
}

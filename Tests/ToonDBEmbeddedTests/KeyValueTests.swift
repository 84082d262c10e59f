#if canImport(Glibc)
import Glibc
#endif
import CToonDBABI
import Testing
import ToonDBEmbedded
import ToonDBTestSupport

@Suite("Embedded: single keys and paths")
struct KeyValueTests {
    @Test("put, get, overwrite, delete with txn_id 0; a missing key returns 1 with NULL and 0")
    func putGetDelete() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        #expect(cPut(db, "alpha", "one") == 0)
        #expect(cGet(db, bytes("alpha")).rc == 0)
        #expect(cGet(db, bytes("alpha")).value == bytes("one"))
        #expect(cPut(db, "alpha", "two") == 0)
        #expect(value(db, "alpha") == "two")

        let missing = cGet(db, bytes("nope"))
        #expect(missing.rc == 1)
        #expect(missing.value == nil)

        #expect(cDelete(db, bytes("alpha")) == 0)
        #expect(cGet(db, bytes("alpha")).rc == 1)
        #expect(cDelete(db, bytes("never-there")) == 0, "deleting a missing key is not an error")

        // Binary keys and values, zero bytes included, round-trip exactly.
        let key: [UInt8] = [0, 1, 0xFF, 0, 7]
        let binary: [UInt8] = (0..<256).map { UInt8($0) }
        #expect(cPut(db, autoCommit, key, binary) == 0)
        #expect(cGet(db, key).value == binary)
        #expect(cGet(db, [0, 1, 0xFF, 0]).rc == 1, "a key's prefix is another key")
    }

    @Test("an empty value is found, with length 0 and a non-NULL buffer to free")
    func emptyValue() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        #expect(ToonDBEmbedded.toondb_put(db, autoCommit, "e", 1, nil, 0) == 0)
        var out: UnsafeMutablePointer<UInt8>?
        var length = 99
        let rc = ToonDBEmbedded.toondb_get(db, autoCommit, "e", 1, &out, &length)
        #expect(rc == 0)
        #expect(length == 0)
        #expect(out != nil)
        ToonDBEmbedded.toondb_free_bytes(out, length)
        ToonDBEmbedded.toondb_free_bytes(nil, 0)  // harmless

        var buffer: [UInt8] = [0xAA]
        #expect(cGetInto(db, bytes("e"), &buffer) == 0)
        #expect(ToonDBEmbedded.toondb_get_into(db, autoCommit, "e", 1, nil, 0) == 0)
        #expect(buffer == [0xAA])
    }

    @Test("toondb_get_into: fits, too small (length, nothing copied), missing (-1), error (-2)")
    func getInto() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        #expect(cPut(db, "k", "hello") == 0)

        var exact = [UInt8](repeating: 0xAA, count: 5)
        #expect(cGetInto(db, bytes("k"), &exact) == 5)
        #expect(exact == bytes("hello"))

        var roomy = [UInt8](repeating: 0xAA, count: 16)
        #expect(cGetInto(db, bytes("k"), &roomy) == 5)
        #expect(Array(roomy[0..<5]) == bytes("hello"))
        #expect(roomy[5...].allSatisfy { $0 == 0xAA }, "nothing written past the value")

        var small = [UInt8](repeating: 0xAA, count: 4)
        #expect(cGetInto(db, bytes("k"), &small) == 5)
        #expect(small == [0xAA, 0xAA, 0xAA, 0xAA], "a too-small buffer is left untouched")
        #expect(ToonDBEmbedded.toondb_get_into(db, autoCommit, "k", 1, nil, 0) == 5, "capacity 0 asks for the length")

        var buffer = [UInt8](repeating: 0xAA, count: 8)
        #expect(cGetInto(db, bytes("missing"), &buffer) == -1)
        #expect(buffer.allSatisfy { $0 == 0xAA })

        expectError(1, "empty key") { cGetInto(db, [], &buffer) == -2 }
        expectError(1, "NULL key with a length") { ToonDBEmbedded.toondb_get_into(db, autoCommit, nil, 3, nil, 0) == -2 }
        expectError(1, "NULL buffer with room for the value") { ToonDBEmbedded.toondb_get_into(db, autoCommit, "k", 1, nil, 100) == -2 }
    }

    @Test("an empty key and a 70,000-byte key are refused with codes 1 and 2; 65,536 bytes is allowed")
    func keyLimits() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        let huge = [UInt8](repeating: 0x6B, count: 70_000)
        var buffer = [UInt8](repeating: 0, count: 8)
        for (key, code) in [([UInt8](), Int32(1)), (huge, 2)] {
            expectError(code, "put") { cPut(db, autoCommit, key, bytes("v")) == -1 }
            expectError(code, "get") { cGet(db, key).rc == -1 }
            expectError(code, "delete") { cDelete(db, key) == -1 }
            expectError(code, "get_into") { cGetInto(db, key, &buffer) == -2 }
        }
        let largest = [UInt8](repeating: 0x6B, count: 65_536)
        #expect(cPut(db, autoCommit, largest, bytes("big key")) == 0)
        #expect(cGet(db, largest).value == bytes("big key"))
        #expect(cGet(db, huge).rc == -1)
    }

    @Test("values over max_value_size_bytes are refused with code 3")
    func valueLimit() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"), "sync_mode=off; max_value_size_bytes=16")
        defer { closeDB(db) }
        #expect(cPut(db, autoCommit, bytes("k"), [UInt8](repeating: 1, count: 16)) == 0)
        expectError(3) { cPut(db, autoCommit, bytes("k"), [UInt8](repeating: 2, count: 17)) == -1 }
        #expect(cGet(db, bytes("k")).value == [UInt8](repeating: 1, count: 16))
    }

    @Test("NULL pointers with non-zero lengths and NULL out-parameters are invalid arguments")
    func nullPointers() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        expectError(1, contains: "key") { ToonDBEmbedded.toondb_put(db, autoCommit, nil, 3, nil, 0) == -1 }
        expectError(1, contains: "value") { ToonDBEmbedded.toondb_put(db, autoCommit, "k", 1, nil, 3) == -1 }
        expectError(1) { ToonDBEmbedded.toondb_delete(db, autoCommit, nil, 3) == -1 }
        #expect(cPut(db, "k", "v") == 0)
        var length = 0
        expectError(1, "NULL value_out") { ToonDBEmbedded.toondb_get(db, autoCommit, "k", 1, nil, &length) == -1 }
        var out: UnsafeMutablePointer<UInt8>?
        expectError(1, "NULL len_out") { ToonDBEmbedded.toondb_get(db, autoCommit, "k", 1, &out, nil) == -1 }
        #expect(out == nil)
        expectError(1, "get_path NULL out") { "k".withCString { ToonDBEmbedded.toondb_get_path(db, autoCommit, $0, nil, nil) } == -1 }
        expectError(1, "checkpoint_lsn NULL out") { ToonDBEmbedded.toondb_checkpoint_lsn(db, nil) == -1 }
        expectError(1, "stats_json NULL out") { ToonDBEmbedded.toondb_stats_json(db, nil, nil) == -1 }
    }

    @Test("put_path, get_path and delete_path; the key of users/alice is its bytes")
    func paths() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        #expect(cPutPath(db, "users/alice", bytes("A")) == 0)
        #expect(cPutPath(db, "users/alice/email", bytes("a@x")) == 0)
        #expect(cPutPath(db, "single", bytes("S")) == 0)
        #expect(cGetPath(db, "users/alice").rc == 0)
        #expect(cGetPath(db, "users/alice").value == bytes("A"))
        #expect(cGetPath(db, "users/alice/email").value == bytes("a@x"))
        #expect(cGetPath(db, "single").value == bytes("S"))
        #expect(cGet(db, bytes("users/alice")).value == bytes("A"), "the path's key is exactly its bytes")
        #expect(keys(drainNext(cScanPrefix(db, autoCommit, [])).pairs) == ["single", "users/alice", "users/alice/email"])
        #expect(cGetPath(db, "users/bob").rc == 1)
        #expect(cDeletePath(db, "users/alice") == 0)
        #expect(cGetPath(db, "users/alice").rc == 1)
        #expect(cGetPath(db, "users/alice/email").value == bytes("a@x"), "deleting a path does not delete below it")
        // A plain put is visible through the path API too.
        #expect(cPut(db, "x/y", "plain") == 0)
        #expect(cGetPath(db, "x/y").value == bytes("plain"))
    }

    @Test("invalid paths are refused with code 1 and write nothing", arguments: ["", "a//b", "/a", "a/", "/", "//"])
    func invalidPaths(path: String) {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        expectError(1, contains: "path", "put_path") { cPutPath(db, path, bytes("v")) == -1 }
        expectError(1, contains: "path", "get_path") { cGetPath(db, path).rc == -1 }
        expectError(1, contains: "path", "delete_path") { cDeletePath(db, path) == -1 }
        let txn = ToonDBEmbedded.toondb_begin_txn(db)
        expectError(1, contains: "path", "put_path in a txn") { cPutPath(db, txn, path, bytes("v")) == -1 }
        #expect(ToonDBEmbedded.toondb_commit(db, txn).error_code == 0)
        #expect(drainNext(cScanPrefix(db, autoCommit, [])).pairs.isEmpty, "nothing was written")
    }

    @Test("a NULL path is refused with code 1")
    func nullPath() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        var out: UnsafeMutablePointer<UInt8>?
        var length = 0
        expectError(1, contains: "path") { ToonDBEmbedded.toondb_put_path(db, autoCommit, nil, "v", 1) == -1 }
        expectError(1, contains: "path") { ToonDBEmbedded.toondb_get_path(db, autoCommit, nil, &out, &length) == -1 }
        expectError(1, contains: "path") { ToonDBEmbedded.toondb_delete_path(db, autoCommit, nil) == -1 }
    }

    @Test("path operations inside a transaction are invisible outside until commit")
    func pathsInTransaction() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        #expect(cPutPath(db, "docs/old", bytes("1")) == 0)
        let txn = ToonDBEmbedded.toondb_begin_txn(db)
        #expect(cPutPath(db, txn, "docs/new", bytes("2")) == 0)
        #expect(cDeletePath(db, txn, "docs/old") == 0)
        #expect(cGetPath(db, txn, "docs/new").value == bytes("2"))
        #expect(cGetPath(db, txn, "docs/old").rc == 1)
        #expect(cGetPath(db, "docs/new").rc == 1)
        #expect(cGetPath(db, "docs/old").value == bytes("1"))
        #expect(ToonDBEmbedded.toondb_commit(db, txn).error_code == 0)
        #expect(cGetPath(db, "docs/new").value == bytes("2"))
        #expect(cGetPath(db, "docs/old").rc == 1)
    }
}

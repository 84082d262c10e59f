#if canImport(Glibc)
import Glibc
#endif
import CToonDBABI
import Testing
import ToonDBEmbedded
import ToonDBTestSupport

@Suite("Embedded: checkpoints, statistics, index policies, durability")
struct MaintenanceTests {
    @Test("checkpoint_lsn after N puts is at least N; stats report it as the last checkpoint")
    func checkpoint() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        var empty: UInt64 = 99
        #expect(ToonDBEmbedded.toondb_checkpoint_lsn(db, &empty) == 0)
        #expect(empty == 0, "an empty database checkpoints at LSN 0")
        #expect(ToonDBEmbedded.toondb_stats(db).last_checkpoint_lsn == 0)

        let n = 40
        for i in 0..<n { #expect(cPut(db, "k\(i)", "v") == 0) }
        var lsn: UInt64 = 0
        #expect(ToonDBEmbedded.toondb_checkpoint_lsn(db, &lsn) == 0)
        #expect(lsn >= UInt64(n))
        let stats = ToonDBEmbedded.toondb_stats(db)
        #expect(stats.last_checkpoint_lsn == lsn)
        #expect(statInt(statsJSON(db), "last_checkpoint_lsn").map(UInt64.init) == lsn)
        #expect(statInt(statsJSON(db), "sstable_count").map { $0 >= 1 } == true, "the checkpoint flushed the memtable")

        #expect(cPut(db, "more", "v") == 0)
        let next = ToonDBEmbedded.toondb_checkpoint(db)
        #expect(next > lsn)
        #expect(ToonDBEmbedded.toondb_stats(db).last_checkpoint_lsn == next)
        for i in 0..<n { #expect(value(db, "k\(i)") == "v") }
    }

    @Test("toondb_stats: active_transactions and min_active_snapshot follow open transactions")
    func stats() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        for i in 0..<5 { #expect(cPut(db, "k\(i)", String(repeating: "v", count: 100)) == 0) }
        var stats = ToonDBEmbedded.toondb_stats(db)
        #expect(stats.active_transactions == 0)
        #expect(stats.min_active_snapshot == 0)
        #expect(stats.memtable_size_bytes > 500)
        #expect(stats.wal_size_bytes > 500)

        let txn = ToonDBEmbedded.toondb_begin_txn(db)
        stats = ToonDBEmbedded.toondb_stats(db)
        #expect(stats.active_transactions == 1)
        #expect(stats.min_active_snapshot == txn.snapshot_ts)
        #expect(statInt(statsJSON(db), "active_transactions") == 1)

        #expect(cPut(db, "later", "v") == 0)
        let second = ToonDBEmbedded.toondb_begin_txn(db)
        stats = ToonDBEmbedded.toondb_stats(db)
        #expect(stats.active_transactions == 2)
        #expect(stats.min_active_snapshot == txn.snapshot_ts, "the oldest snapshot")

        #expect(ToonDBEmbedded.toondb_commit(db, txn).error_code == 0)
        stats = ToonDBEmbedded.toondb_stats(db)
        #expect(stats.active_transactions == 1)
        #expect(stats.min_active_snapshot == second.snapshot_ts)
        #expect(ToonDBEmbedded.toondb_abort(db, second) == 0)
        stats = ToonDBEmbedded.toondb_stats(db)
        #expect(stats.active_transactions == 0)
        #expect(stats.min_active_snapshot == 0)
    }

    @Test("toondb_stats_json is one JSON object with last_lsn")
    func statsJSONObject() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        for i in 0..<7 { #expect(cPut(db, "k\(i)", "v") == 0) }
        var out: UnsafeMutablePointer<UInt8>?
        var length = 0
        #expect(ToonDBEmbedded.toondb_stats_json(db, &out, &length) == 0)
        let text = String(decoding: UnsafeBufferPointer(start: out, count: length), as: UTF8.self)
        ToonDBEmbedded.toondb_free_bytes(out, length)
        #expect(text.hasPrefix("{") && text.hasSuffix("}"))
        #expect(text.contains("\"last_lsn\""))
        let stats = statsJSON(db)
        #expect(statInt(stats, "last_lsn") == 7)
        #expect(stats["sync_mode"] as? String == "off")
        #expect(stats["io_backend"] is String)
    }

    @Test("index policies: set and get per table, default balanced, invalid policies refused")
    func indexPolicies() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        defer { closeDB(db) }
        func get(_ table: String) -> UInt8 { table.withCString { ToonDBEmbedded.toondb_get_table_index_policy(db, $0) } }
        func set(_ table: String, _ policy: UInt8) -> Int32 { table.withCString { ToonDBEmbedded.toondb_set_table_index_policy(db, $0, policy) } }
        #expect(get("users") == 1, "the default is balanced")
        for policy: UInt8 in 0...3 {
            #expect(set("users", policy) == 0)
            #expect(get("users") == policy)
        }
        #expect(set("events", 3) == 0)
        #expect(set("users", 2) == 0)
        #expect(get("events") == 3)
        #expect(get("users") == 2)
        #expect(get("other") == 1)
        expectError(1, contains: "4") { set("users", 4) == -1 }
        expectError(1) { set("users", 255) == -1 }
        #expect(get("users") == 2, "a refused policy changes nothing")
        expectError(1, "empty table name") { set("", 0) == -1 }
        expectError(1, "NULL table name") { ToonDBEmbedded.toondb_set_table_index_policy(db, nil, 0) == -1 }
        expectError(1, "NULL table name on get") { ToonDBEmbedded.toondb_get_table_index_policy(db, nil) == 255 }
    }

    @Test("the default index policy comes from the config", arguments: [UInt8(0), 2, 3])
    func indexPolicyDefault(policy: UInt8) {
        let dir = TemporaryDirectory("toondb-emb")
        var config = C_DatabaseConfig()
        config.default_index_policy = policy
        config.default_index_policy_set = true
        config.sync_mode_set = true
        let db = dir.child("db").withCString { ToonDBEmbedded.toondb_open_with_config($0, config) }
        #expect(db != nil, "open failed: \(lastErrorMessage())")
        #expect("any".withCString { ToonDBEmbedded.toondb_get_table_index_policy(db, $0) } == policy)
        #expect("set".withCString { ToonDBEmbedded.toondb_set_table_index_policy(db, $0, 1) } == 0)
        #expect("set".withCString { ToonDBEmbedded.toondb_get_table_index_policy(db, $0) } == 1)
        closeDB(db)
    }

    @Test("index policies persist across close and reopen in INDEX_POLICIES")
    func indexPoliciesPersist() {
        let dir = TemporaryDirectory("toondb-emb")
        let path = dir.child("db")
        let db = openDB(path)
        #expect(!fileExists(path + "/INDEX_POLICIES"))
        #expect("users".withCString { ToonDBEmbedded.toondb_set_table_index_policy(db, $0, 3) } == 0)
        #expect("logs".withCString { ToonDBEmbedded.toondb_set_table_index_policy(db, $0, 0) } == 0)
        #expect(fileExists(path + "/INDEX_POLICIES"))
        closeDB(db)
        // Reopened with another default: the stored policies win, the rest take the new default.
        let reopened = openDB(path, "sync_mode=off; default_index_policy=2")
        #expect(reopened != nil)
        #expect("users".withCString { ToonDBEmbedded.toondb_get_table_index_policy(reopened, $0) } == 3)
        #expect("logs".withCString { ToonDBEmbedded.toondb_get_table_index_policy(reopened, $0) } == 0)
        #expect("new".withCString { ToonDBEmbedded.toondb_get_table_index_policy(reopened, $0) } == 2)
        closeDB(reopened)
    }

    @Test("a corrupted INDEX_POLICIES file makes open fail with code 8 and leaves the directory unlocked",
          arguments: ["flipped byte", "truncated", "garbage"])
    func indexPoliciesCorrupted(damage: String) throws {
        let dir = TemporaryDirectory("toondb-emb")
        let path = dir.child("db")
        let db = openDB(path)
        #expect("users".withCString { ToonDBEmbedded.toondb_set_table_index_policy(db, $0, 3) } == 0)
        #expect(cPut(db, "k", "v") == 0)
        closeDB(db)
        let file = path + "/INDEX_POLICIES"
        switch damage {
        case "flipped byte": try FileDamage.flip(file, at: 6)
        case "truncated": try FileDamage.write(file, Array(try FileDamage.read(file).prefix(5)))
        default: try FileDamage.write(file, [UInt8](repeating: 0x41, count: 40))
        }
        expectError(8, contains: "INDEX_POLICIES") { openDB(path) == nil }
        // The failed open released the directory: with the file gone it opens again.
        #expect(unlink(file) == 0)
        let again = openDB(path)
        #expect(again != nil, "open after removing the damaged file failed: \(lastErrorMessage())")
        #expect(value(again, "k") == "v")
        closeDB(again)
    }

    @Test("with wal_enabled=false, writes survive a clean close and reopen")
    func walDisabledFlushedAtClose() {
        let dir = TemporaryDirectory("toondb-emb")
        let path = dir.child("db")
        var config = C_DatabaseConfig()
        config.wal_enabled = false
        config.wal_enabled_set = true
        config.sync_mode = 0
        config.sync_mode_set = true
        let db = path.withCString { ToonDBEmbedded.toondb_open_with_config($0, config) }
        #expect(db != nil)
        let walBefore = ToonDBEmbedded.toondb_stats(db).wal_size_bytes
        for i in 0..<200 { #expect(cPut(db, "k\(i)", "v\(i)") == 0) }
        #expect(cPutMany(db, encodePutMany([(bytes("batch"), bytes("b"))])) == 1)
        let txn = ToonDBEmbedded.toondb_begin_txn(db)
        #expect(cPut(db, txn, "txn", "t") == 0)
        #expect(ToonDBEmbedded.toondb_commit(db, txn).error_code == 0)
        #expect(cDelete(db, bytes("k0")) == 0)
        #expect(ToonDBEmbedded.toondb_stats(db).wal_size_bytes == walBefore, "nothing went to the WAL")
        closeDB(db)

        let reopened = openDB(path, "sync_mode=off; wal_enabled=false")
        #expect(reopened != nil)
        #expect(value(reopened, "k0") == nil)
        for i in 1..<200 { #expect(value(reopened, "k\(i)") == "v\(i)") }
        #expect(value(reopened, "batch") == "b")
        #expect(value(reopened, "txn") == "t")
        closeDB(reopened)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import CToonDBABI
import Testing
import ToonDBEmbedded
import ToonDBTestSupport

@Suite("Embedded: open and close")
struct OpenCloseTests {
    @Test("toondb_open creates the directory; data survives close and reopen")
    func openCreates() {
        let dir = TemporaryDirectory("toondb-emb")
        let path = dir.child("db")
        #expect(!fileExists(path))
        let db = path.withCString { ToonDBEmbedded.toondb_open($0) }
        #expect(db != nil, "open failed: \(lastErrorMessage())")
        #expect(fileExists(path))
        #expect(cPut(db, "k", "v") == 0)
        ToonDBEmbedded.toondb_close(db)
        let again = path.withCString { ToonDBEmbedded.toondb_open($0) }
        #expect(again != nil)
        #expect(value(again, "k") == "v")
        ToonDBEmbedded.toondb_close(again)
    }

    @Test("closing twice and closing NULL do nothing (not even set an error)")
    func closeTwice() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        #expect(db != nil)
        ToonDBEmbedded.toondb_close(db)
        primeLastError(differentFrom: 6)  // code 1, "database handle is NULL"
        let message = lastErrorMessage()
        ToonDBEmbedded.toondb_close(db)
        ToonDBEmbedded.toondb_close(nil)
        #expect(lastErrorCode() == 1)
        #expect(lastErrorMessage() == message)
        // The directory was released by the first close.
        let reopened = openDB(dir.child("db"))
        #expect(reopened != nil, "reopen failed: \(lastErrorMessage())")
        closeDB(reopened)
    }

    @Test("every call on a closed handle returns its error value with code 6 (database closed)")
    func callsAfterClose() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"))
        #expect(cPut(db, "k", "v") == 0)
        let txn = ToonDBEmbedded.toondb_begin_txn(db)
        #expect(txn.txn_id != 0)
        ToonDBEmbedded.toondb_close(db)

        let key = bytes("k")
        expectError(6, "put") { cPut(db, "k", "v2") == -1 }
        expectError(6, "put in txn") { cPut(db, txn, "k", "v2") == -1 }
        expectError(6, "get") { cGet(db, key).rc == -1 }
        expectError(6, "get_into") {
            var buffer = [UInt8](repeating: 0, count: 8)
            return cGetInto(db, key, &buffer) == -2
        }
        expectError(6, "delete") { cDelete(db, key) == -1 }
        expectError(6, "put_path") { cPutPath(db, "a/b", bytes("v")) == -1 }
        expectError(6, "get_path") { cGetPath(db, "a/b").rc == -1 }
        expectError(6, "delete_path") { cDeletePath(db, "a/b") == -1 }
        expectError(6, "begin") { ToonDBEmbedded.toondb_begin_txn(db).txn_id == 0 }
        expectError(6, "commit") {
            let result = ToonDBEmbedded.toondb_commit(db, txn)
            return result.error_code == -1 && result.commit_ts == 0
        }
        expectError(6, "abort") { ToonDBEmbedded.toondb_abort(db, txn) == -1 }
        expectError(6, "scan") { cScan(db, autoCommit, [], []) == nil }
        expectError(6, "scan_prefix") { cScanPrefix(db, autoCommit, bytes("k")) == nil }
        expectError(6, "put_many") { cPutMany(db, encodePutMany([(bytes("x"), bytes("y"))])) == -1 }
        expectError(6, "get_many") { cGetMany(db, encodeKeys([key])).rc == -1 }
        expectError(6, "delete_many") { cDeleteMany(db, encodeKeys([key])) == -1 }
        expectError(6, "checkpoint") { ToonDBEmbedded.toondb_checkpoint(db) == 0 }
        expectError(6, "checkpoint_lsn") {
            var lsn: UInt64 = 77
            return ToonDBEmbedded.toondb_checkpoint_lsn(db, &lsn) == -1 && lsn == 77
        }
        expectError(6, "stats") {
            let s = ToonDBEmbedded.toondb_stats(db)
            return s.memtable_size_bytes == 0 && s.wal_size_bytes == 0 && s.active_transactions == 0
                && s.min_active_snapshot == 0 && s.last_checkpoint_lsn == 0
        }
        expectError(6, "stats_json") {
            var out: UnsafeMutablePointer<UInt8>?
            var length = 0
            return ToonDBEmbedded.toondb_stats_json(db, &out, &length) == -1 && out == nil
        }
        expectError(6, "set_table_index_policy") { "t".withCString { ToonDBEmbedded.toondb_set_table_index_policy(db, $0, 1) } == -1 }
        expectError(6, "get_table_index_policy") { "t".withCString { ToonDBEmbedded.toondb_get_table_index_policy(db, $0) } == 255 }

        // The data written before the close is intact.
        let reopened = openDB(dir.child("db"))
        #expect(value(reopened, "k") == "v")
        closeDB(reopened)
    }

    @Test("NULL, made-up and wrong-kind handles give errors, never a crash",
          arguments: ["NULL", "made-up 0x1234", "a scan handle", "misaligned 0x1235"])
    func badDatabaseHandles(kind: String) {
        let dir = TemporaryDirectory("toondb-emb")
        let real = openDB(dir.child("db"))
        #expect(real != nil)
        defer { closeDB(real) }
        let scan = cScan(real, autoCommit, [], [])
        #expect(scan != nil)
        defer { ToonDBEmbedded.toondb_scan_free(scan) }
        let db: OpaquePointer? = switch kind {
        case "NULL": nil
        case "made-up 0x1234": OpaquePointer(bitPattern: 0x1234)
        case "misaligned 0x1235": OpaquePointer(bitPattern: 0x1235)
        default: scan
        }
        let key = bytes("k")
        expectError(1, "put") { cPut(db, "k", "v") == -1 }
        expectError(1, "get") { cGet(db, key).rc == -1 }
        expectError(1, "get_into") {
            var buffer = [UInt8](repeating: 0, count: 8)
            return cGetInto(db, key, &buffer) == -2
        }
        expectError(1, "delete") { cDelete(db, key) == -1 }
        expectError(1, "put_path") { cPutPath(db, "a/b", bytes("v")) == -1 }
        expectError(1, "get_path") { cGetPath(db, "a/b").rc == -1 }
        expectError(1, "delete_path") { cDeletePath(db, "a/b") == -1 }
        expectError(1, "begin") { ToonDBEmbedded.toondb_begin_txn(db).txn_id == 0 }
        expectError(1, "commit") { ToonDBEmbedded.toondb_commit(db, C_TxnHandle(txn_id: 1, snapshot_ts: 0)).error_code == -1 }
        expectError(1, "abort") { ToonDBEmbedded.toondb_abort(db, C_TxnHandle(txn_id: 1, snapshot_ts: 0)) == -1 }
        expectError(1, "scan") { cScan(db, autoCommit, [], []) == nil }
        expectError(1, "scan_prefix") { cScanPrefix(db, autoCommit, key) == nil }
        expectError(1, "put_many") { cPutMany(db, encodePutMany([(key, key)])) == -1 }
        expectError(1, "get_many") { cGetMany(db, encodeKeys([key])).rc == -1 }
        expectError(1, "delete_many") { cDeleteMany(db, encodeKeys([key])) == -1 }
        expectError(1, "checkpoint") { ToonDBEmbedded.toondb_checkpoint(db) == 0 }
        expectError(1, "checkpoint_lsn") {
            var lsn: UInt64 = 0
            return ToonDBEmbedded.toondb_checkpoint_lsn(db, &lsn) == -1
        }
        expectError(1, "stats") { ToonDBEmbedded.toondb_stats(db).memtable_size_bytes == 0 }
        expectError(1, "stats_json") {
            var out: UnsafeMutablePointer<UInt8>?
            var length = 0
            return ToonDBEmbedded.toondb_stats_json(db, &out, &length) == -1
        }
        expectError(1, "set policy") { "t".withCString { ToonDBEmbedded.toondb_set_table_index_policy(db, $0, 1) } == -1 }
        expectError(1, "get policy") { "t".withCString { ToonDBEmbedded.toondb_get_table_index_policy(db, $0) } == 255 }
        ToonDBEmbedded.toondb_close(db)  // harmless
        // The real database is untouched and usable.
        #expect(cPut(real, "after", "ok") == 0)
        #expect(value(real, "after") == "ok")
    }

    @Test("NULL paths are refused by every open function")
    func nullPaths() {
        expectError(1, contains: "path") { ToonDBEmbedded.toondb_open(nil) == nil }
        expectError(1, contains: "path") { ToonDBEmbedded.toondb_open_with_config(nil, C_DatabaseConfig()) == nil }
        expectError(1, contains: "path") { ToonDBEmbedded.toondb_open_with_options(nil, nil) == nil }
    }

    @Test("opening an open directory again fails with code 7 (locked) until it is closed")
    func lockedTwice() {
        let dir = TemporaryDirectory("toondb-emb")
        let path = dir.child("db")
        let first = openDB(path)
        #expect(first != nil)
        expectError(7, contains: "locked") { path.withCString { ToonDBEmbedded.toondb_open($0) } == nil }
        expectError(7, "a different spelling of the same directory") { openDB(path + "/") == nil }
        // The failed opens did not disturb the open handle.
        #expect(cPut(first, "k", "v") == 0)
        closeDB(first)
        let second = path.withCString { ToonDBEmbedded.toondb_open($0) }
        #expect(second != nil, "open after close failed: \(lastErrorMessage())")
        #expect(value(second, "k") == "v")
        closeDB(second)
    }

    @Test("toondb_open_with_config honours sync_mode", arguments: [(UInt8(0), "off"), (1, "normal"), (2, "full")])
    func configSyncMode(mode: UInt8, name: String) {
        let dir = TemporaryDirectory("toondb-emb")
        var config = C_DatabaseConfig()
        config.sync_mode = mode
        config.sync_mode_set = true
        let db = dir.child("db").withCString { ToonDBEmbedded.toondb_open_with_config($0, config) }
        #expect(db != nil, "open failed: \(lastErrorMessage())")
        #expect(statsJSON(db)["sync_mode"] as? String == name)
        closeDB(db)
    }

    @Test("a config field counts only when its *_set flag is true")
    func configUnsetFieldsIgnored() {
        let dir = TemporaryDirectory("toondb-emb")
        var config = C_DatabaseConfig()
        config.sync_mode = 9
        config.default_index_policy = 7
        config.wal_enabled = false
        let db = dir.child("db").withCString { ToonDBEmbedded.toondb_open_with_config($0, config) }
        #expect(db != nil, "open failed: \(lastErrorMessage())")
        #expect(statsJSON(db)["sync_mode"] as? String == "full")
        #expect("t".withCString { ToonDBEmbedded.toondb_get_table_index_policy(db, $0) } == 1)
        closeDB(db)
    }

    @Test("toondb_open_with_config rejects sync_mode 9 and default_index_policy 7")
    func configRejects() {
        let dir = TemporaryDirectory("toondb-emb")
        let path = dir.child("db")
        var badSync = C_DatabaseConfig()
        badSync.sync_mode = 9
        badSync.sync_mode_set = true
        expectError(1, contains: "sync_mode") { path.withCString { ToonDBEmbedded.toondb_open_with_config($0, badSync) } == nil }
        var badPolicy = C_DatabaseConfig()
        badPolicy.default_index_policy = 7
        badPolicy.default_index_policy_set = true
        expectError(1, contains: "default_index_policy") { path.withCString { ToonDBEmbedded.toondb_open_with_config($0, badPolicy) } == nil }
        // Neither rejected open left the directory locked.
        let db = path.withCString { ToonDBEmbedded.toondb_open_with_config($0, C_DatabaseConfig()) }
        #expect(db != nil, "open failed: \(lastErrorMessage())")
        closeDB(db)
    }

    @Test("toondb_open_with_options parses ';' and newline separated name=value pairs")
    func optionsParsed() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"), "sync_mode=off; memtable_size_bytes=65536\nwal_enabled=false")
        #expect(db != nil, "open failed: \(lastErrorMessage())")
        let before = statsJSON(db)
        #expect(before["sync_mode"] as? String == "off")
        let value = [UInt8](repeating: 0x61, count: 1024)
        for i in 0..<300 { #expect(cPut(db, autoCommit, bytes("key\(1000 + i)"), value) == 0) }
        // wal_enabled=false: the puts wrote nothing to the WAL.
        #expect(statInt(statsJSON(db), "wal_bytes") == statInt(before, "wal_bytes"))
        // memtable_size_bytes=65536: 300 KiB of writes switched memtables (flushes follow).
        let deadline = monotonicNow() + 5
        var flushed = false
        while !flushed && monotonicNow() < deadline {
            let stats = statsJSON(db)
            flushed = (statInt(stats, "flushes_completed") ?? 0) > 0 || (statInt(stats, "immutable_memtables") ?? 0) > 0
            if !flushed { usleep(10_000) }
        }
        #expect(flushed, "no memtable switch after 300 KiB with a 64 KiB memtable")
        closeDB(db)

        // For contrast: the default options log to the WAL and keep 300 KiB in one memtable.
        let other = TemporaryDirectory("toondb-emb")
        let plain = openDB(other.child("db"), "sync_mode=normal")
        #expect(statsJSON(plain)["sync_mode"] as? String == "normal")
        let walBefore = statInt(statsJSON(plain), "wal_bytes") ?? 0
        for i in 0..<300 { #expect(cPut(plain, autoCommit, bytes("key\(1000 + i)"), value) == 0) }
        let stats = statsJSON(plain)
        #expect((statInt(stats, "wal_bytes") ?? 0) > walBefore + 300 * 1024)
        #expect(statInt(stats, "flushes_completed") == 0)
        #expect(statInt(stats, "immutable_memtables") == 0)
        closeDB(plain)
    }

    @Test("NULL, empty and whitespace-only option strings mean the defaults; whitespace around names is ignored")
    func optionsDefaultsAndWhitespace() {
        for options in [nil, "", " ;\n ; "] as [String?] {
            let dir = TemporaryDirectory("toondb-emb")
            let db = openDB(dir.child("db"), options)
            #expect(db != nil, "open with \(String(describing: options)) failed: \(lastErrorMessage())")
            #expect(statsJSON(db)["sync_mode"] as? String == "full")
            closeDB(db)
        }
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"), "  sync_mode = normal \t;\n default_index_policy = scan_optimized \t\n")
        #expect(db != nil, "open failed: \(lastErrorMessage())")
        #expect(statsJSON(db)["sync_mode"] as? String == "normal")
        #expect("t".withCString { ToonDBEmbedded.toondb_get_table_index_policy(db, $0) } == 2)
        closeDB(db)
    }

    @Test("options separated by CRLF line endings are parsed like LF ones")
    func optionsCRLF() {
        let dir = TemporaryDirectory("toondb-emb")
        let db = openDB(dir.child("db"), "sync_mode=off\r\ndefault_index_policy=append_only\r\n")
        #expect(db != nil, "open failed: \(lastErrorMessage())")
        #expect(statsJSON(db)["sync_mode"] as? String == "off")
        #expect("t".withCString { ToonDBEmbedded.toondb_get_table_index_policy(db, $0) } == 3)
        closeDB(db)
    }

    @Test("an empty path, a path that is a file, and a missing directory with create_if_missing=false are refused")
    func badPaths() {
        let dir = TemporaryDirectory("toondb-emb")
        expectError(1, contains: "empty") { openDB("") == nil }
        let file = dir.child("file")
        let fd = open(file, O_CREAT | O_WRONLY, 0o644)
        close(fd)
        primeLastError(differentFrom: 6)
        #expect(openDB(file + "/db") == nil)
        #expect(lastErrorCode() != 1 || lastErrorMessage() != "database handle is NULL", "no error was set")
        expectError(1, contains: "no database") { openDB(dir.child("missing"), "create_if_missing=false") == nil }
        #expect(!fileExists(dir.child("missing")))
    }

    @Test("toondb_open_with_options rejects unknown names and bad values, naming the option",
          arguments: [("bogus_option=1", "bogus_option"),
                      ("sync_mode=off; Sync_Mode=off", "Sync_Mode"),
                      ("sync_mode=sometimes", "sync_mode"),
                      ("memtable_size_bytes=big", "memtable_size_bytes"),
                      ("memtable_size_bytes=-5", "memtable_size_bytes"),
                      ("wal_enabled=maybe", "wal_enabled"),
                      ("wal_enabled", "wal_enabled"),
                      ("io_backend=floppy", "io_backend"),
                      ("default_index_policy=7", "default_index_policy")])
    func optionsRejected(options: String, named: String) {
        let dir = TemporaryDirectory("toondb-emb")
        let path = dir.child("db")
        expectError(1, contains: named) { openDB(path, options) == nil }
        #expect(!fileExists(path + "/LOCK"), "a rejected open must not create the database")
        let db = openDB(path)
        #expect(db != nil, "open after a rejected one failed: \(lastErrorMessage())")
        closeDB(db)
    }

    @Test("an out-of-range option value is rejected with a message naming the option as the caller spelled it")
    func optionsOutOfRangeNamesOption() {
        let dir = TemporaryDirectory("toondb-emb")
        expectError(1, contains: "memtable_size_bytes") { openDB(dir.child("db"), "memtable_size_bytes=100") == nil }
        expectError(1, contains: "block_size_bytes") { openDB(dir.child("db"), "block_size_bytes=1") == nil }
    }

    @Test("toondb_version is a non-empty dotted version")
    func version() {
        let text = String(cString: ToonDBEmbedded.toondb_version())
        #expect(!text.isEmpty)
        #expect(text.split(separator: ".").count == 3)
        #expect(text.split(separator: ".").allSatisfy { Int($0) != nil })
    }
}

import Testing
import ToonDBEngine
import ToonDBIO
import ToonDBTestSupport
import ToonDBWAL

/// Files of a data directory, read and damaged byte by byte (shared by the corruption and
/// fault-injection suites).
enum DataDirectory {
    static func wal(_ path: String) throws -> [WALSegmentInfo] { try WALDirectory.segments(in: path + "/wal") }

    static func tables(_ path: String) throws -> [String] {
        try FileSystem.listDirectory(path + "/tables").filter { $0.hasSuffix(".sst") }.map { path + "/tables/" + $0 }
    }

    static func key(_ i: Int) -> [UInt8] {
        let digits = String(i)
        return Array(("key-" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits).utf8)
    }

    static func value(_ i: Int, size: Int = 32, round: Int = 0) -> [UInt8] {
        (0..<size).map { UInt8(truncatingIfNeeded: i &* 7 &+ $0 &+ round &* 13) }
    }

    /// The result of opening a database: the handle or the error.
    static func open(_ path: String, _ options: DatabaseOptions) -> (Database?, StorageError?) {
        do { return (try Database.open(path: path, options: options), nil) } catch { return (nil, error) }
    }

    /// Every value of `keys` that reads differently than `expected` (nil = absent).
    static func mismatches(_ db: Database, _ expected: [[UInt8]: [UInt8]?]) throws -> [String] {
        var wrong: [String] = []
        for (key, value) in expected.sorted(by: { compareBytes($0.key, $1.key) < 0 }) {
            let got = try db.get(key)
            if got != value { wrong.append("\(String(decoding: key, as: UTF8.self)): got \(got.map { "\($0.count) bytes" } ?? "nil"), want \(value.map { "\($0.count) bytes" } ?? "nil")") }
        }
        return wrong
    }

    static func scanAll(_ db: Database) -> Result<[[UInt8]], StorageError> {
        do {
            let iterator = try db.scan()
            var keys: [[UInt8]] = []
            while let pair = try iterator.next() { keys.append(pair.key) }
            return .success(keys)
        } catch {
            return .failure(error)
        }
    }
}

@Suite("Corruption is detected, reported with its location, and never traps", .serialized)
struct CorruptionTests {
    static func walOnlyOptions() -> DatabaseOptions {
        var options = testOptions(memtable: 8 << 20)   // everything stays in the WAL
        options.syncMode = .full
        return options
    }

    @Test("a flipped byte in the last WAL record: reopen drops that commit only, keeps the rest, stats are sane")
    func flippedTailRecord() throws {
        let dir = TemporaryDirectory("toondb-corrupt")
        let options = Self.walOnlyOptions()
        let db = try Database.open(path: dir.path, options: options)
        var last: LSN = 0
        for i in 0..<40 { last = try db.put(DataDirectory.key(i), DataDirectory.value(i)) }
        try db.close()
        #expect(last == 40)

        let segment = try #require(try DataDirectory.wal(dir.path).last)
        let records = try FileDamage.walRecords(segment.path)
        let final = try #require(records.last)
        #expect(final.lsn == 40)
        #expect(final.offset + final.size == Int(segment.size))
        try FileDamage.flip(segment.path, at: final.offset + final.size - 5)

        let reopened = try Database.open(path: dir.path, options: options)
        #expect(try reopened.get(DataDirectory.key(39)) == nil, "the damaged last commit is gone")
        var expected: [[UInt8]: [UInt8]?] = [:]
        for i in 0..<39 { expected[DataDirectory.key(i)] = DataDirectory.value(i) }
        #expect(try DataDirectory.mismatches(reopened, expected).isEmpty)
        let stats = reopened.stats()
        #expect(stats.lastLSN == 39)
        #expect(stats.writeError == nil)
        #expect(stats.tableCount == 0)
        #expect(stats.flushedLSN == 0)
        #expect(stats.memtableBytes > 0)
        #expect(stats.walSegments >= 1)
        #expect(stats.walBytes == Int64(final.offset), "the torn tail was cut off")
        #expect(try FileSystem.fileSize(segment.path) == Int64(final.offset))

        // Writing continues at the freed LSN, and a second reopen sees it all.
        #expect(try reopened.put(DataDirectory.key(39), DataDirectory.value(39, round: 1)) == 40)
        try reopened.close()
        let again = try Database.open(path: dir.path, options: options)
        expected[DataDirectory.key(39)] = DataDirectory.value(39, round: 1)
        #expect(try DataDirectory.mismatches(again, expected).isEmpty)
        #expect(again.stats().lastLSN == 40)
        try again.close()
    }

    @Test("a flipped byte in a WAL record followed by valid records: open fails with .corruption naming the file and offset")
    func flippedMiddleRecord() throws {
        let dir = TemporaryDirectory("toondb-corrupt")
        let options = Self.walOnlyOptions()
        let db = try Database.open(path: dir.path, options: options)
        for i in 0..<40 { try db.put(DataDirectory.key(i), DataDirectory.value(i)) }
        try db.close()

        let segment = try #require(try DataDirectory.wal(dir.path).last)
        let records = try FileDamage.walRecords(segment.path)
        #expect(records.count == 40)
        let victim = records[20]
        // Every record has the same size here, so the offset is also predictable by hand.
        #expect(victim.offset == 32 + 20 * victim.size)
        try FileDamage.flip(segment.path, at: victim.offset + victim.size / 2)

        let (opened, error) = DataDirectory.open(dir.path, options)
        #expect(opened == nil)
        #expect(error?.code == .corruption)
        #expect(error?.message.contains(segment.path) == true, "names the WAL file: \(error?.message ?? "")")
        #expect(error?.message.contains("at offset \(victim.offset)") == true)
        #expect(try FileSystem.fileSize(segment.path) == segment.size, "nothing was truncated")

        // The failed open released the directory: the next attempt reports the same damage.
        let (second, again) = DataDirectory.open(dir.path, options)
        #expect(second == nil)
        #expect(again?.code == .corruption)
    }

    /// 300 keys with 100-byte values flushed into one table (about 9 data blocks of 4 KiB).
    static func flushedTable(_ dir: TemporaryDirectory) throws -> (options: DatabaseOptions, table: String) {
        let options = Self.walOnlyOptions()
        let db = try Database.open(path: dir.path, options: options)
        for first in stride(from: 0, to: 300, by: 10) {
            var batch = WriteBatch()
            for i in first..<(first + 10) { batch.put(DataDirectory.key(i), DataDirectory.value(i, size: 100)) }
            try db.write(batch)
        }
        try db.flush()
        let stats = db.stats()
        try db.close()
        #expect(stats.tableCount == 1)
        #expect(stats.flushedLSN == 30)
        let tables = try DataDirectory.tables(dir.path)
        #expect(tables.count == 1)
        return (options, try #require(tables.first))
    }

    @Test("a flipped byte inside an SSTable data block: open succeeds, reads of that block throw .corruption naming the table")
    func flippedDataBlock() throws {
        let dir = TemporaryDirectory("toondb-corrupt")
        let (options, table) = try Self.flushedTable(dir)
        #expect(try FileSystem.fileSize(table) > 20_000)
        try FileDamage.flip(table, at: 2000)   // well inside the first 4 KiB data block

        let db = try Database.open(path: dir.path, options: options)
        var getError: StorageError?
        do { _ = try db.get(DataDirectory.key(5)) } catch { getError = error }
        #expect(getError?.code == .corruption)
        #expect(getError?.message.contains(table) == true, "names the table: \(getError?.message ?? "")")

        let scan = DataDirectory.scanAll(db)
        var scanError: StorageError?
        if case .failure(let error) = scan { scanError = error }
        #expect(scanError?.code == .corruption)
        #expect(scanError?.message.contains(table) == true)

        // Other blocks still read; the damage is reported again, never cached as "missing".
        #expect(try db.get(DataDirectory.key(299)) == DataDirectory.value(299, size: 100))
        var again: StorageError?
        do { _ = try db.get(DataDirectory.key(5)) } catch { again = error }
        #expect(again?.code == .corruption)

        // Compaction that has to read the block (a second, overlapping table forces a merge
        // rather than a trivial move) fails instead of laundering the damage into a clean table.
        try db.put(Array("key-0002x".utf8), Array("new".utf8))
        try db.flush()
        #expect(db.stats().levels[0].tables == 2)
        var compactError: StorageError?
        do { try db.compactAll() } catch { compactError = error }
        #expect(compactError?.code == .corruption)
        var afterCompaction: StorageError?
        do { _ = try db.get(DataDirectory.key(5)) } catch { afterCompaction = error }
        #expect(afterCompaction?.code == .corruption)
        #expect(try db.get(Array("key-0002x".utf8)) == Array("new".utf8))
        #expect(db.stats().lastLSN == 31)
        try db.close()
    }

    @Test("a truncated SSTable: reads throw .corruption naming the table", arguments: [10, 5000, -1])
    func truncatedTable(keep: Int) throws {
        let dir = TemporaryDirectory("toondb-corrupt")
        let (options, table) = try Self.flushedTable(dir)
        let size = try FileSystem.fileSize(table)
        let length = keep < 0 ? size - 1 : Int64(keep)
        try FileDamage.truncate(table, to: length)

        let (opened, openError) = DataDirectory.open(dir.path, options)
        #expect(openError == nil, "tables are opened on first use")
        let db = try #require(opened)
        var getError: StorageError?
        do { _ = try db.get(DataDirectory.key(150)) } catch { getError = error }
        #expect(getError?.code == .corruption)
        #expect(getError?.message.contains(table) == true, "names the table: \(getError?.message ?? "")")
        let scan = DataDirectory.scanAll(db)
        var scanError: StorageError?
        if case .failure(let error) = scan { scanError = error }
        #expect(scanError?.code == .corruption)
        try db.close()
    }

    @Test("WAL records already in tables lost with the WAL tail (a machine crash in sync mode off): reopen, write, reopen",
          arguments: [45, 0])
    func lostFlushedWALTail(keepRecords: Int) throws {
        let dir = TemporaryDirectory("toondb-corrupt")
        var options = testOptions(memtable: 8 << 20)
        options.syncMode = .off
        let db = try Database.open(path: dir.path, options: options)
        var expected: [[UInt8]: [UInt8]?] = [:]
        for i in 0..<50 {
            try db.put(DataDirectory.key(i), DataDirectory.value(i))
            expected[DataDirectory.key(i)] = DataDirectory.value(i)
        }
        try db.flush()   // tables and manifest are synced; the WAL was never synced
        #expect(db.stats().flushedLSN == 50)
        try db.close()

        // The unsynced WAL tail did not survive the crash (records that are all in tables).
        let segment = try #require(try DataDirectory.wal(dir.path).last)
        let records = try FileDamage.walRecords(segment.path)
        #expect(records.count == 50)
        let cut = keepRecords == 0 ? 32 : records[keepRecords].offset
        try FileDamage.truncate(segment.path, to: Int64(cut))

        let first = try Database.open(path: dir.path, options: options)
        #expect(try DataDirectory.mismatches(first, expected).isEmpty)
        #expect(first.stats().lastLSN == 50)
        #expect(try first.put(DataDirectory.key(50), DataDirectory.value(50)) == 51)
        expected[DataDirectory.key(50)] = DataDirectory.value(50)
        try first.close()

        let (second, error) = DataDirectory.open(dir.path, options)
        #expect(error == nil, "the second reopen fails: \(error?.message ?? "")")
        if let second {
            #expect(try DataDirectory.mismatches(second, expected).isEmpty)
            #expect(second.stats().lastLSN == 51)
            try second.close()
        }
    }

    @Test("CURRENT naming a missing manifest, or garbage, fails open with .corruption")
    func badCurrent() throws {
        let dir = TemporaryDirectory("toondb-corrupt")
        let options = Self.walOnlyOptions()
        let db = try Database.open(path: dir.path, options: options)
        try db.put(DataDirectory.key(1), DataDirectory.value(1))
        try db.close()

        try FileDamage.write(dir.child("CURRENT"), Array("MANIFEST-999999\n".utf8))
        let (missing, missingError) = DataDirectory.open(dir.path, options)
        #expect(missing == nil)
        #expect(missingError?.code == .corruption)
        #expect(missingError?.message.contains("MANIFEST-999999") == true)

        try FileDamage.write(dir.child("CURRENT"), Array("not a manifest name".utf8))
        let (garbage, garbageError) = DataDirectory.open(dir.path, options)
        #expect(garbage == nil)
        #expect(garbageError?.code == .corruption)
        #expect(garbageError?.message.contains("CURRENT") == true)
    }

    @Test("a table listed in the manifest but missing on disk fails open with .corruption")
    func missingTable() throws {
        let dir = TemporaryDirectory("toondb-corrupt")
        let (options, table) = try Self.flushedTable(dir)
        try FileSystem.remove(table)
        let (opened, error) = DataDirectory.open(dir.path, options)
        #expect(opened == nil)
        #expect(error?.code == .corruption)
        #expect(error?.message.contains(table) == true)
    }

    @Test("a damaged manifest record followed by another record fails open with .corruption naming the manifest")
    func damagedManifest() throws {
        let dir = TemporaryDirectory("toondb-corrupt")
        let (options, _) = try Self.flushedTable(dir)
        // One more flush appends a second edit after the snapshot record the open wrote.
        let db = try Database.open(path: dir.path, options: options)
        try db.put(DataDirectory.key(1000), DataDirectory.value(1000))
        try db.flush()
        try db.close()
        let current = String(decoding: try FileDamage.read(dir.child("CURRENT")), as: UTF8.self)
        let manifest = dir.child(String(current.split(separator: "\n")[0]))
        let bytes = try FileDamage.read(manifest)
        let firstLength = Int(bytes.withUnsafeBytes { loadFixed32($0.baseAddress!, 0) })
        #expect(8 + firstLength < bytes.count, "the manifest holds more than one record")
        try FileDamage.flip(manifest, at: 8 + firstLength / 2)
        let (opened, error) = DataDirectory.open(dir.path, options)
        #expect(opened == nil)
        #expect(error?.code == .corruption)
        #expect(error?.message.contains(manifest) == true)
    }
}

import Testing
import ToonDBFormat
import ToonDBIO
import ToonDBTestSupport
@testable import ToonDBEngine

/// The row cache alone (admission, versions, bounds, bypass) and inside the database (answers
/// equal to a table search across flushes, compactions, deletes and older snapshots).
@Suite struct RowCacheTests {
    /// The cached answer for `key`, `.some(nil)` for a cached "none", or nil on a miss, with
    /// whether the miss was admitted.
    private func ask(_ cache: RowCache, _ key: String, version: UInt64) -> (answer: [UInt8]??, miss: RowCache.Lookup) {
        var answer: [UInt8]?? = nil
        let lookup = bytes(key).withUnsafeBytes { raw in
            cache.lookup(raw, version: version) { value in answer = .some(value.map { [UInt8]($0) }) }
        }
        return (lookup.hit ? answer : nil, lookup)
    }

    private func insert(_ cache: RowCache, _ key: String, _ miss: RowCache.Lookup, _ value: String?) {
        bytes(key).withUnsafeBytes { raw in
            if let value {
                bytes(value).withUnsafeBytes { cache.insert(raw, miss, value: $0) }
            } else {
                cache.insert(raw, miss, value: nil)
            }
        }
    }

    @Test func aKeyIsCachedOnItsSecondMissAndOnlyForItsVersion() {
        let cache = RowCache(capacity: 1 << 20, shardCount: 1)
        let first = ask(cache, "k", version: 7)
        #expect(first.answer == nil && !first.miss.hit && !first.miss.admit, "a first miss is not admitted")
        let second = ask(cache, "k", version: 7)
        #expect(second.answer == nil && second.miss.admit, "a second miss is")
        insert(cache, "k", second.miss, "v1")
        #expect(ask(cache, "k", version: 7).answer == .some(bytes("v1")))
        // Another version (a flush or a compaction happened): the entry is not answered and goes.
        #expect(ask(cache, "k", version: 8).answer == nil)
        #expect(cache.statistics.entries == 0)
        // "None" answers are cached too.
        _ = ask(cache, "gone", version: 8)
        let admitted = ask(cache, "gone", version: 8)
        #expect(admitted.miss.admit)
        insert(cache, "gone", admitted.miss, nil)
        #expect(ask(cache, "gone", version: 8).answer == .some(nil))
        // Empty values are values.
        _ = ask(cache, "empty", version: 8)
        insert(cache, "empty", ask(cache, "empty", version: 8).miss, "")
        #expect(ask(cache, "empty", version: 8).answer == .some([]))
    }

    @Test func usageStaysWithinCapacityAndEveryKeptKeyAnswersRight() {
        let capacity = 64 << 10
        let cache = RowCache(capacity: capacity, shardCount: 4)
        var random = SeededRandom(seed: 11)
        var kept: [String: String] = [:]
        for round in 0..<20_000 {
            let key = "key\(Int.random(in: 0..<3_000, using: &random))"
            let (answer, miss) = ask(cache, key, version: 1)
            if let answer {
                #expect(answer == .some(bytes(kept[key]!)), "round \(round): \(key)")
            } else if miss.admit {
                let value = String(repeating: "v", count: Int.random(in: 0..<200, using: &random)) + key
                insert(cache, key, miss, value)
                kept[key] = value
            }
            if round % 1000 == 0 { #expect(cache.statistics.bytes <= capacity) }
        }
        let stats = cache.statistics
        #expect(stats.bytes <= capacity)
        #expect(stats.entries > 100, "the cache holds entries (\(stats.entries))")
        #expect(stats.hits > 1000, "and answers from them (\(stats.hits) hits)")
    }

    @Test func readOnceLookupsTurnTheBypassOnAndRepeatedOnesOff() {
        let cache = RowCache(capacity: 1 << 20)
        // Each key once: nothing is worth it, so after a window every shard is mostly skipped.
        for n in 0..<(2 * RowCache.window) { _ = ask(cache, "once\(n)", version: 1) }
        #expect(cache.bypassingShards == cache.shardCount)
        // A few hundred keys over and over: the sampled lookups find them (admitted, then
        // hits), so the next windows turn the bypass off again in the shards they fall in.
        for i in 0..<(4 * RowCache.window) {
            let key = "hot\(i % 400)"
            let (_, miss) = ask(cache, key, version: 1)
            if miss.admit { insert(cache, key, miss, "v") }
        }
        #expect(cache.bypassingShards == 0)
    }

    /// Point reads through the database equal a model while flushes and compactions change
    /// the version under cached keys, keys are overwritten and deleted (in memtables over
    /// cached table answers), and a transaction reads at an older snapshot.
    @Test(arguments: availableBackends)
    func databaseReadsEqualTheModelAcrossVersionsAndSnapshots(backend: IOBackendSelector.Preference) throws {
        let dir = TemporaryDirectory("toondb-rowcache")
        var options = testOptions(backend: backend, memtable: 32 << 10)
        options.rowCacheSize = 256 << 10
        let db = try Database.open(path: dir.path, options: options)
        var model: [[UInt8]: [UInt8]] = [:]
        var random = SeededRandom(seed: 3)
        let keys = (0..<200).map { bytes("key\($0)") }
        for step in 0..<12_000 {
            let key = keys[Int.random(in: 0..<keys.count, using: &random)]
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<12:
                let value = bytes("v\(step)-") + [UInt8](repeating: UInt8(step % 251), count: Int.random(in: 0..<120, using: &random))
                _ = try db.put(key, value)
                model[key] = value
            case 12..<15:
                _ = try db.delete(key)
                model[key] = nil
            case 15 where step % 5 == 0:
                try db.flush()
            case 16 where step % 13 == 0:
                try db.compactAll()
            case 17 where step % 3 == 0:
                // A snapshot older than the newest tables: never answered from the cache.
                let txn = try db.beginTransaction()
                let before = model[key]
                _ = try db.put(key, bytes("after-\(step)"))
                try db.flush()
                _ = try db.get(key)
                _ = try db.get(key)  // now cached for this version, with the new value
                #expect(try txn.get(key) == before, "step \(step): the transaction's snapshot")
                try txn.abort()
                model[key] = bytes("after-\(step)")
            default:
                #expect(try db.get(key) == model[key], "step \(step): \(modelShow(key))")
            }
        }
        #expect(try db.getMany(keys) == keys.map { model[$0] })
        let stats = db.stats()
        #expect(stats.rowCacheHits > 500, "reads were answered from the row cache (\(stats.rowCacheHits))")
        #expect(stats.rowCacheMisses > 0 && stats.rowCacheBytes > 0 && stats.rowCacheBytes <= options.rowCacheSize)
        try db.close()
    }
}

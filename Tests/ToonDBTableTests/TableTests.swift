import ToonDBTestSupport
#if canImport(Glibc)
import Glibc
#endif
import Testing
import ToonDBFormat
import ToonDBIO
@testable import ToonDBTable

@Suite("SSTable round trips")
struct TableRoundTripTests {
    static let model = Model.random(count: 100_000, seed: 42)

    @Test("100k entries: iteration order and content, properties", arguments: BackendChoice.available)
    func roundTrip(_ choice: BackendChoice) throws {
        let backend = try #require(choice.make())
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let model = Self.model
        let path = dir.file("000001.sst")
        let built = try buildTable(path, model.entries, backend: backend)
        #expect(built.fileSize == (try FileSystem.fileSize(path)))

        let reader = try TableReader.open(path: path, fileNumber: 1, backend: backend, cache: BlockCache())
        let p = reader.properties
        #expect(p.entryCount == UInt64(model.entries.count))
        #expect(p.deletionCount == UInt64(model.entries.filter { $0.kind == .deletion }.count))
        #expect(p.smallestKey == model.keys.first)
        #expect(p.largestKey == model.keys.last)
        #expect(p.minLSN == model.entries.map(\.lsn).min())
        #expect(p.maxLSN == model.entries.map(\.lsn).max())
        #expect(p.fileSize == built.fileSize)
        #expect(p.dataBlockCount > 100)
        #expect(p == built)

        let all = try collect(reader.makeIterator())
        #expect(all.count == model.entries.count)
        var mismatches = 0
        for (i, entry) in all.enumerated() where i < model.entries.count {
            if entry.key != model.keys[i] || entry.value != model.entries[i].value { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    @Test("seek to random targets agrees with a sorted model", arguments: [4096, 256])
    func seek(blockSize: Int) throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let model = Self.model
        let backend = POSIXBackend()
        let path = dir.file("t.sst")
        try buildTable(path, model.entries, backend: backend, options: TableOptions(blockSize: blockSize))
        let reader = try TableReader.open(path: path, fileNumber: 7, backend: backend, cache: nil)
        let iterator = reader.makeIterator()
        var rng = SeededGenerator(seed: 7)
        for round in 0..<3000 {
            let target: [UInt8]
            switch round % 3 {
            case 0: target = model.keys[Int.random(in: 0..<model.keys.count, using: &rng)]
            case 1:
                let user = model.userKeys[Int.random(in: 0..<model.userKeys.count, using: &rng)]
                target = InternalKey.encode(user, LSN.random(in: 0...10_001, using: &rng), .value)
            default:
                target = InternalKey.encode(randomBytes(Int.random(in: 0...25, using: &rng), using: &rng),
                                            LSN.random(in: 0...10_001, using: &rng), .deletion)
            }
            try iterator.seek(target)
            let expected = model.lowerBound(target)
            if expected == model.keys.count {
                #expect(!iterator.isValid)
                continue
            }
            #expect(iterator.isValid)
            for step in 0..<3 where expected + step < model.keys.count {
                #expect([UInt8](iterator.key) == model.keys[expected + step])
                #expect([UInt8](iterator.value) == model.entries[expected + step].value)
                try iterator.next()
            }
        }
        // Before everything and past everything.
        try iterator.seek(InternalKey.encode([], InternalKey.maxLSN, .value))
        #expect([UInt8](iterator.key) == model.keys[0])
        try iterator.seek(InternalKey.encode([UInt8](repeating: 0xFF, count: 30), 0, .deletion))
        #expect(!iterator.isValid)
    }

    @Test("get at snapshots returns the right version; multiGet agrees", arguments: BackendChoice.available)
    func getAtSnapshots(_ choice: BackendChoice) throws {
        let backend = try #require(choice.make())
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let model = Self.model
        let path = dir.file("t.sst")
        try buildTable(path, model.entries, backend: backend)
        // Through the cache, the backend alone, and the file's mapping.
        for (cache, mapReads) in [(BlockCache(), false), (nil, false), (BlockCache(), true)] {
            let reader = try TableReader.open(path: path, fileNumber: 3, backend: backend, cache: cache,
                                              options: TableOptions(mapReads: mapReads))
            var rng = SeededGenerator(seed: 99)
            var batch: [[UInt8]] = []
            var seen = (value: 0, deleted: 0, notFound: 0)
            for i in 0..<6000 {
                let userKey = i % 4 == 3 ? randomBytes(Int.random(in: 1...24, using: &rng), using: &rng)
                                         : model.userKeys[Int.random(in: 0..<model.userKeys.count, using: &rng)]
                let snapshot: LSN = i % 5 == 0 ? .max : LSN.random(in: 0...10_001, using: &rng)
                let got = try reader.get(userKey, snapshot: snapshot)
                let expected = model.expected(userKey, snapshot: snapshot)
                #expect(got == expected, "key \(userKey) at \(snapshot)")
                switch got {
                case .value: seen.value += 1
                case .deleted: seen.deleted += 1
                case .notFound: seen.notFound += 1
                }
                batch.append(userKey)
                if batch.count == 97 || i == 5999 {
                    let snap = LSN.random(in: 0...10_001, using: &rng)
                    batch.append(batch[0])   // a duplicate in the batch
                    let many = try reader.multiGet(batch, snapshot: snap)
                    let one = try batch.map { try reader.get($0, snapshot: snap) }
                    let expected = batch.map { model.expected($0, snapshot: snap) }
                    #expect(many.count == batch.count)
                    #expect(zip(many, one).filter { $0 != $1 }.count == 0, "multiGet disagrees with get")
                    #expect(zip(many, expected).filter { $0 != $1 }.count == 0, "multiGet disagrees with the model")
                    batch.removeAll()
                }
            }
            #expect(seen.value > 1000 && seen.deleted > 100 && seen.notFound > 1000)
        }
    }

    @Test("readers are shared across threads")
    func concurrentReads() async throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let model = Self.model
        let backend = POSIXBackend()
        let path = dir.file("t.sst")
        try buildTable(path, model.entries, backend: backend)
        let reader = try TableReader.open(path: path, fileNumber: 1, backend: backend, cache: BlockCache(capacity: 256 << 10))
        let failures = await withTaskGroup(of: Int.self) { group in
            for t in 0..<4 {
                group.addTask {
                    var rng = SeededGenerator(seed: UInt64(t))
                    var bad = 0
                    for _ in 0..<2000 {
                        let userKey = model.userKeys[Int.random(in: 0..<model.userKeys.count, using: &rng)]
                        if (try? reader.get(userKey, snapshot: .max)) != model.expected(userKey, snapshot: .max) { bad += 1 }
                    }
                    return bad
                }
            }
            return await group.reduce(0, +)
        }
        #expect(failures == 0)
    }
}

@Suite("SSTable details")
struct TableDetailTests {
    /// Enough entries for several hundred data blocks (the read-ahead tests).
    static let scanModel = Model.random(count: 60_000, seed: 12)

    /// `scanModel` built into a table in `dir`, opened with a 64 MiB cache of its own.
    static func scanTable(_ dir: TemporaryDirectory, fileNumber: UInt64) throws -> (TableReader, BlockCache) {
        let backend = POSIXBackend()
        let path = dir.file("\(fileNumber).sst")
        try buildTable(path, scanModel.entries, backend: backend)
        let cache = BlockCache(capacity: 64 << 20)
        return (try TableReader.open(path: path, fileNumber: fileNumber, backend: backend, cache: cache, options: TableOptions(mapReads: false)), cache)
    }

    @Test("bloom filter: no false negatives, false positives under 2% at 10 bits per key")
    func bloom() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        var rng = SeededGenerator(seed: 5)
        var present = Set<[UInt8]>()
        while present.count < 20_000 { present.insert(randomBytes(16, using: &rng)) }
        let keys = present.sorted { compareBytes($0, $1) < 0 }
        let path = dir.file("bloom.sst")
        try buildTable(path, keys.map { ModelEntry(userKey: $0, lsn: 1, kind: .value, value: [1]) }, backend: POSIXBackend())
        let reader = try TableReader.open(path: path, fileNumber: 1, backend: POSIXBackend(), cache: nil)
        #expect(keys.allSatisfy { reader.mayContain($0) })
        var positives = 0, absent = 0
        while absent < 10_000 {
            let key = randomBytes(Int.random(in: 4...20, using: &rng), using: &rng)
            if present.contains(key) { continue }
            absent += 1
            if reader.mayContain(key) { positives += 1 }
        }
        let rate = Double(positives) / Double(absent)
        #expect(rate < 0.02, "false positive rate \(rate)")
        // Sequential keys (the common shape) too.
        let seqPath = dir.file("seq.sst")
        let seq = (0..<20_000).map { i in Array("key\(1_000_000 + i)".utf8) }
        try buildTable(seqPath, seq.map { ModelEntry(userKey: $0, lsn: 1, kind: .value, value: []) }, backend: POSIXBackend())
        let seqReader = try TableReader.open(path: seqPath, fileNumber: 2, backend: POSIXBackend(), cache: nil)
        #expect(seq.allSatisfy { seqReader.mayContain($0) })
        let seqPositives = (0..<10_000).filter { seqReader.mayContain(Array("key\(3_000_000 + $0)".utf8)) }.count
        #expect(Double(seqPositives) / 10_000 < 0.02, "sequential false positives \(seqPositives)")
        #expect(BloomFilter.probeCount(bitsPerKey: 10) == 7)
        #expect(BloomFilter.probeCount(bitsPerKey: 0) == 1)
        #expect(BloomFilter.probeCount(bitsPerKey: 100) == 30)
    }

    @Test("empty values, a 1 MiB value, and an empty table")
    func valuesOfEveryShape() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let backend = POSIXBackend()
        var rng = SeededGenerator(seed: 11)
        let huge = randomBytes(1 << 20, using: &rng)
        var entries: [ModelEntry] = []
        for i in 0..<2000 {
            let key = Array("k\(10_000 + i)".utf8)
            let value: [UInt8] = i == 1000 ? huge : (i % 2 == 0 ? [] : [UInt8(i & 0xFF)])
            entries.append(ModelEntry(userKey: key, lsn: LSN(i + 1), kind: .value, value: value))
        }
        let path = dir.file("shapes.sst")
        try buildTable(path, entries, backend: backend)
        let reader = try TableReader.open(path: path, fileNumber: 1, backend: backend, cache: BlockCache())
        #expect(try reader.get(Array("k11000".utf8), snapshot: .max) == .value(huge, lsn: 1001))
        #expect(try reader.get(Array("k10000".utf8), snapshot: .max) == .value([], lsn: 1))
        #expect(try reader.get(Array("k10000".utf8), snapshot: 0) == .notFound)
        let all = try collect(reader.makeIterator())
        #expect(all.map(\.key) == entries.map(\.internalKey))
        #expect(all.map(\.value) == entries.map(\.value))

        let emptyPath = dir.file("empty.sst")
        let properties = try TableBuilder(path: emptyPath, backend: backend).finish()
        #expect(properties.entryCount == 0)
        let empty = try TableReader.open(path: emptyPath, fileNumber: 2, backend: backend, cache: nil)
        #expect(try empty.get([1, 2, 3], snapshot: .max) == .notFound)
        #expect(try empty.multiGet([[1], [2]], snapshot: .max) == [.notFound, .notFound])
        #expect(try collect(empty.makeIterator()).isEmpty)
        let iterator = empty.makeIterator()
        try iterator.seek(InternalKey.encode([0], 1, .value))
        #expect(!iterator.isValid)
    }

    @Test("long keys (beyond the stack key buffers) round trip through get, multiGet and iteration")
    func longKeys() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        var rng = SeededGenerator(seed: 21)
        var keys = Set<[UInt8]>()
        for length in [600, 1000, 5000, 40_000] {
            for _ in 0..<50 { keys.insert(randomBytes(8, using: &rng) + [UInt8](repeating: 0x61, count: length)) }
        }
        let sorted = keys.sorted { compareBytes($0, $1) < 0 }
        var entries: [ModelEntry] = []
        for (i, key) in sorted.enumerated() {
            entries.append(ModelEntry(userKey: key, lsn: 10, kind: .value, value: [UInt8(i & 0xFF)]))
            entries.append(ModelEntry(userKey: key, lsn: 5, kind: .deletion, value: []))
        }
        let path = dir.file("long.sst")
        try buildTable(path, entries, backend: POSIXBackend(), options: TableOptions(blockSize: 1024, restartInterval: 4))
        let reader = try TableReader.open(path: path, fileNumber: 1, backend: POSIXBackend(), cache: BlockCache())
        for (i, key) in sorted.enumerated() {
            #expect(try reader.get(key, snapshot: 11) == .value([UInt8(i & 0xFF)], lsn: 10))
            #expect(try reader.get(key, snapshot: 9) == .deleted(lsn: 5))
            #expect(try reader.get(key, snapshot: 4) == .notFound)
        }
        let many = try reader.multiGet(sorted, snapshot: 7)
        #expect(many == sorted.map { _ in TableLookup.deleted(lsn: 5) })
        let all = try collect(reader.makeIterator())
        #expect(all.map(\.key) == entries.map(\.internalKey))
        let iterator = reader.makeIterator()
        try iterator.seek(InternalKey.encode(sorted[77], 7, .value))
        #expect([UInt8](iterator.key) == InternalKey.encode(sorted[77], 5, .deletion))
    }

    @Test("I/O failures: a full disk fails the build with .diskFull, a read error fails get with .io")
    func ioFailures() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let faulty = FaultInjectingBackend(wrapping: POSIXBackend())
        let model = Model.random(count: 2000, seed: 12)
        let path = dir.file("full.sst")
        let builder = try TableBuilder(path: path, backend: faulty)
        for entry in model.entries { try builder.add(entry.internalKey, entry.value) }
        faulty.inject(.init(writeErrno: ENOSPC))
        do {
            try builder.finish()
            Issue.record("expected diskFull")
        } catch {
            #expect(error.code == .diskFull && error.message.contains(path))
        }
        #expect(throws: StorageError.self) { try builder.finish() }
        builder.abandon()
        #expect(!FileSystem.exists(path))

        faulty.heal()
        let good = dir.file("good.sst")
        try buildTable(good, model.entries, backend: faulty)
        let reader = try TableReader.open(path: good, fileNumber: 1, backend: faulty, cache: nil, options: TableOptions(mapReads: false))
        faulty.inject(.init(readErrno: EIO))
        do {
            _ = try reader.get(model.userKeys[0], snapshot: .max)
            Issue.record("expected an I/O error")
        } catch {
            #expect(error.code == .io && error.ioError?.errno == EIO)
        }
        #expect(throws: StorageError.self) { try reader.multiGet([model.userKeys[0]], snapshot: .max) }
        faulty.heal()
        #expect(try reader.get(model.userKeys[0], snapshot: .max) == model.expected(model.userKeys[0], snapshot: .max))
    }

    @Test("builder rejects out-of-order and duplicate keys; abandon deletes the file")
    func builderRejects() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let path = dir.file("bad.sst")
        let builder = try TableBuilder(path: path, backend: POSIXBackend())
        try builder.add(InternalKey.encode([2], 5, .value), [1])
        #expect(throws: StorageError.self) { try builder.add(InternalKey.encode([1], 5, .value), [1]) }
        #expect(throws: StorageError.self) { try builder.add(InternalKey.encode([2], 5, .value), [1]) }
        // Same user key, higher LSN sorts before: out of order.
        do {
            try builder.add(InternalKey.encode([2], 6, .value), [1])
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .internal)
        }
        try builder.add(InternalKey.encode([2], 4, .deletion), [])
        #expect(throws: StorageError.self) { try builder.add([1, 2, 3], [1]) }
        #expect(FileSystem.exists(path))
        #expect(throws: StorageError.self) { try TableBuilder(path: path, backend: POSIXBackend()) }
        #expect(FileSystem.exists(path), "a failed create must not delete someone else's file")
        builder.abandon()
        #expect(!FileSystem.exists(path))
    }

    @Test("mapped point reads: answers without the block cache; a file truncated under the mapping fails with .io, then reads go through the backend")
    func mappedReads() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let model = Model.random(count: 20_000, seed: 21)
        let backend = POSIXBackend()
        let path = dir.file("m.sst")
        try buildTable(path, model.entries, backend: backend)
        let cache = BlockCache(capacity: 8 << 20)
        let reader = try TableReader.open(path: path, fileNumber: 4, backend: backend, cache: cache)
        #expect(reader.mapped != nil)
        for key in model.userKeys.prefix(500) {
            #expect(try reader.get(key, snapshot: .max) == model.expected(key, snapshot: .max))
        }
        #expect(cache.hits == 0 && cache.misses == 0 && cache.statistics.count == 0)

        // Cut the file to its first quarter while it is mapped: loads beyond the new end
        // raise SIGBUS, which the guard absorbs. The last key's block lies past the cut.
        let first = model.userKeys[0]
        let last = model.userKeys[model.userKeys.count - 1]
        try FileDamage.truncate(path, to: reader.fileSize / 4)
        do {
            _ = try reader.get(last, snapshot: .max)
            Issue.record("expected an I/O error")
        } catch {
            #expect(error.code == .io && error.message.contains(path) && error.message.contains("mapping"))
        }
        #expect(reader.mapped?.isIntact == false)
        // From now on the backend reads the table: the missing block is a short read, and a
        // block before the cut still reads (through the cache).
        #expect(throws: StorageError.self) { try reader.get(last, snapshot: .max) }
        #expect(try reader.get(first, snapshot: .max) == model.expected(first, snapshot: .max))
        #expect(cache.misses > 0)
    }

    @Test("block cache: hits grow on repeated reads, evict drops a table's blocks")
    func blockCache() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let model = Model.random(count: 5000, seed: 3)
        let backend = POSIXBackend()
        let path = dir.file("c.sst")
        try buildTable(path, model.entries, backend: backend)
        let cache = BlockCache(capacity: 8 << 20)
        let reader = try TableReader.open(path: path, fileNumber: 9, backend: backend, cache: cache, options: TableOptions(mapReads: false))
        let key = model.userKeys[100]
        _ = try reader.get(key, snapshot: .max)
        let first = cache.statistics
        #expect(first.misses == 1 && first.hits == 0 && first.count == 1 && first.usage > 4000)
        for _ in 0..<5 { _ = try reader.get(key, snapshot: .max) }
        #expect(cache.hits == first.hits + 5)
        _ = try collect(reader.makeIterator())
        #expect(cache.statistics.count == Int(reader.properties.dataBlockCount))
        cache.evict(fileNumber: 8)
        #expect(cache.statistics.count == Int(reader.properties.dataBlockCount))
        cache.evict(fileNumber: 9)
        #expect(cache.usage == 0 && cache.statistics.count == 0)
        let misses = cache.misses
        _ = try reader.get(key, snapshot: .max)
        #expect(cache.misses == misses + 1)
        // An iterator that does not fill the cache leaves it alone.
        cache.removeAll()
        _ = try collect(reader.makeIterator(fillCache: false))
        #expect(cache.statistics.count == 0)
    }

    @Test("a full iteration reads ahead: far fewer cache lookups than blocks, every entry intact, with and without filling the cache",
          arguments: [true, false])
    func readAhead(fillCache: Bool) throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let model = Self.scanModel
        let (reader, cache) = try Self.scanTable(dir, fileNumber: 4)
        let blocks = Int(reader.properties.dataBlockCount)
        #expect(blocks > 500)

        let all = try collect(reader.makeIterator(fillCache: fillCache))
        #expect(all.map(\.key) == model.keys)
        #expect(all.map(\.value) == model.entries.map(\.value))
        // Runs double up to 2 MiB: a few dozen reads, not one per block.
        #expect(cache.misses < blocks / 10, "\(cache.misses) lookups missed for \(blocks) blocks")
        #expect(cache.statistics.count == (fillCache ? blocks : 0))
        let handles = try reader.dataHandles()
        #expect(handles.count == blocks)
        if fillCache {
            // A block read in a run and wanted again gets memory of its own (the run can go).
            let offset = handles[blocks / 2].offset
            let first = try #require(cache.lookup(fileNumber: 4, offset: offset))
            #expect(!first.isInRun)
            let again = try #require(cache.lookup(fileNumber: 4, offset: offset))
            #expect(again === first)
            #expect(try reader.get(model.userKeys[0], snapshot: .max) == model.expected(model.userKeys[0], snapshot: .max))
        }
    }

    @Test("read-ahead stops at a cached block and resumes after it; the entries are the same")
    func readAheadAroundCachedBlocks() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let model = Self.scanModel
        let (reader, cache) = try Self.scanTable(dir, fileNumber: 5)
        // Point reads put scattered blocks in the cache first.
        for i in stride(from: 0, to: model.userKeys.count, by: 997) { _ = try reader.get(model.userKeys[i], snapshot: .max) }
        let cached = cache.statistics.count
        #expect(cached > 20)
        let all = try collect(reader.makeIterator())
        #expect(all.map(\.key) == model.keys)
        #expect(all.map(\.value) == model.entries.map(\.value))
        #expect(cache.statistics.count == Int(reader.properties.dataBlockCount))
    }

    @Test("a flipped byte in a block read ahead fails the iteration with .corruption naming the file and the block")
    func readAheadCorruption() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let backend = POSIXBackend()
        let good = dir.file("good.sst")
        try buildTable(good, Self.scanModel.entries, backend: backend)
        let reader = try TableReader.open(path: good, fileNumber: 6, backend: backend, cache: nil)
        let handles = try reader.dataHandles()
        // A block deep in the table, so it is read as part of a run, not alone.
        let victim = handles[handles.count / 2]
        var bytes = try FileDamage.read(good)
        bytes[Int(victim.offset) + Int(victim.size) / 2] ^= 0x10
        let path = dir.file("broken.sst")
        try FileDamage.write(path, bytes)
        let broken = try TableReader.open(path: path, fileNumber: 7, backend: backend, cache: BlockCache())
        do {
            _ = try collect(broken.makeIterator())
            Issue.record("expected corruption")
        } catch {
            #expect(error.code == .corruption)
            #expect(error.message.contains(path))
            #expect(error.message.contains("offset \(victim.offset)"), "\(error.message)")
        }
    }

    @Test("LRU evicts the least recently used blocks first and respects the capacity")
    func lruOrder() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let model = Model.random(count: 20_000, seed: 4)
        let backend = POSIXBackend()
        let path = dir.file("lru.sst")
        try buildTable(path, model.entries, backend: backend)
        let cache = BlockCache(capacity: 64 << 10, shardCount: 1)
        let reader = try TableReader.open(path: path, fileNumber: 1, backend: backend, cache: cache, options: TableOptions(mapReads: false))
        _ = try collect(reader.makeIterator())
        let stats = cache.statistics
        #expect(stats.usage <= 64 << 10 && stats.count > 5 && stats.count < Int(reader.properties.dataBlockCount))
        // The last blocks read are cached; the first are gone.
        let last = model.userKeys[model.userKeys.count - 1]
        let hits = cache.hits
        _ = try reader.get(last, snapshot: .max)
        #expect(cache.hits == hits + 1)
        let misses = cache.misses
        _ = try reader.get(model.userKeys[0], snapshot: .max)
        #expect(cache.misses == misses + 1)
    }
}

@Suite("SSTable corruption")
struct TableCorruptionTests {
    static func makeTable(_ dir: TemporaryDirectory) throws -> (path: String, model: Model, bytes: [UInt8]) {
        let model = Model.random(count: 3000, seed: 8)
        let path = dir.file("good.sst")
        try buildTable(path, model.entries, backend: POSIXBackend())
        return (path, model, try FileDamage.read(path))
    }

    @Test("a flipped byte in a data block fails get and iteration with .corruption naming the file", arguments: [false, true])
    func dataBlock(mapReads: Bool) throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let (_, model, bytes) = try Self.makeTable(dir)
        var broken = bytes
        broken[20] ^= 0x40
        let path = dir.file("broken.sst")
        try FileDamage.write(path, broken)
        let reader = try TableReader.open(path: path, fileNumber: 1, backend: POSIXBackend(), cache: BlockCache(),
                                          options: TableOptions(mapReads: mapReads))
        // Twice: a block that failed its check is checked again, never taken as good.
        for _ in 0..<2 {
            do {
                _ = try reader.get(model.userKeys[0], snapshot: .max)
                Issue.record("expected corruption")
            } catch {
                #expect(error.code == .corruption)
                #expect(error.message.contains(path))
                #expect(error.message.contains("offset 0"))
            }
        }
        do {
            _ = try reader.multiGet([model.userKeys[0]], snapshot: .max)
            Issue.record("expected corruption")
        } catch {
            #expect(error.code == .corruption)
        }
        do {
            _ = try collect(reader.makeIterator())
            Issue.record("expected corruption")
        } catch {
            #expect(error.code == .corruption && error.message.contains(path))
        }
        // Keys in other blocks are still readable.
        let lastKey = model.userKeys[model.userKeys.count - 1]
        #expect(try reader.get(lastKey, snapshot: .max) == model.expected(lastKey, snapshot: .max))
    }

    @Test("a flipped footer byte, bad magic or an unknown version fail open with .corruption")
    func footer() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let (_, _, bytes) = try Self.makeTable(dir)
        let footer = bytes.count - TableFormat.footerSize
        for (name, position) in [("handle", footer + 3), ("version", footer + 48), ("crc", footer + 53), ("magic", bytes.count - 1)] {
            var broken = bytes
            broken[position] ^= 0x01
            let path = dir.file("footer-\(name).sst")
            try FileDamage.write(path, broken)
            do {
                _ = try TableReader.open(path: path, fileNumber: 1, backend: POSIXBackend(), cache: nil)
                Issue.record("expected corruption for \(name)")
            } catch {
                #expect(error.code == .corruption, "\(name)")
                #expect(error.message.contains(path) && error.message.contains("offset"), "\(error)")
                if name == "magic" { #expect(error.message.contains("magic")) }
            }
        }
        // A footer whose CRC is right but whose version is unknown.
        var future = bytes
        future.storeFixed32(2, at: footer + 48)
        let crc = future.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[footer..<(footer + 52)])) }
        future.storeFixed32(CRC32C.mask(crc), at: footer + 52)
        let path = dir.file("future.sst")
        try FileDamage.write(path, future)
        do {
            _ = try TableReader.open(path: path, fileNumber: 1, backend: POSIXBackend(), cache: nil)
            Issue.record("expected corruption")
        } catch {
            #expect(error.code == .corruption && error.message.contains("version 2"))
        }
    }

    @Test("a truncated file fails open with .corruption")
    func truncated() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let (_, _, bytes) = try Self.makeTable(dir)
        for length in [0, 10, TableFormat.footerSize, bytes.count / 2, bytes.count - 1] {
            let path = dir.file("short-\(length).sst")
            try FileDamage.write(path, Array(bytes.prefix(length)))
            do {
                _ = try TableReader.open(path: path, fileNumber: 1, backend: POSIXBackend(), cache: nil)
                Issue.record("expected corruption at length \(length)")
            } catch {
                #expect(error.code == .corruption && error.message.contains(path), "\(error)")
            }
        }
    }

    @Test("byte flips in the filter, properties, index and footer are caught or harmless")
    func metaBlocks() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let (goodPath, model, bytes) = try Self.makeTable(dir)
        let good = try TableReader.open(path: goodPath, fileNumber: 1, backend: POSIXBackend(), cache: nil)
        // Flip every 7th byte after the data blocks: open, get and iterate must throw or agree with the model.
        var rng = SeededGenerator(seed: 1)
        var caught = 0
        for position in stride(from: Int(good.properties.dataSize), to: bytes.count, by: 7) {
            var broken = bytes
            broken[position] ^= UInt8.random(in: 1...255, using: &rng)
            let path = dir.file("flip.sst")
            try FileDamage.write(path, broken)
            do {
                let reader = try TableReader.open(path: path, fileNumber: 1, backend: POSIXBackend(), cache: nil)
                let key = model.userKeys[position % model.userKeys.count]
                #expect(try reader.get(key, snapshot: .max) == model.expected(key, snapshot: .max))
                #expect(try collect(reader.makeIterator()).count == model.entries.count)
            } catch {
                #expect(error.code == .corruption)
                caught += 1
            }
        }
        #expect(caught > 0)
        // Random garbage in the data area (caught by the CRC) never traps.
        for trial in 0..<200 {
            var broken = bytes
            for _ in 0..<8 { broken[Int.random(in: 0..<Int(good.properties.dataSize), using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            let path = dir.file("garbage-\(trial % 2).sst")
            try FileDamage.write(path, broken)
            let reader = try TableReader.open(path: path, fileNumber: 1, backend: POSIXBackend(), cache: nil)
            do { _ = try collect(reader.makeIterator()) } catch { #expect(error.code == .corruption) }
        }
    }

    @Test("malformed data blocks with valid checksums throw .corruption or decode, never trap")
    func fuzzedBlockContents() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let model = Model.random(count: 300, seed: 13, maxValue: 8)
        let goodPath = dir.file("one-block.sst")
        let options = TableOptions(blockSize: 1 << 16, restartInterval: 4)
        try buildTable(goodPath, model.entries, backend: POSIXBackend(), options: options)
        let bytes = try FileDamage.read(goodPath)
        let good = try TableReader.open(path: goodPath, fileNumber: 1, backend: POSIXBackend(), cache: nil)
        #expect(good.properties.dataBlockCount == 1)
        let contentsSize = Int(good.properties.dataSize) - TableFormat.blockTrailerSize
        var rng = SeededGenerator(seed: 14)
        var outcomes = (ok: 0, corrupt: 0)
        for trial in 0..<400 {
            var broken = bytes
            let edits = Int.random(in: 1...6, using: &rng)
            for _ in 0..<edits {
                // Favour the restart array and entry headers at the ends, plus anywhere.
                let position: Int
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: position = Int.random(in: Swift.max(0, contentsSize - 40)..<contentsSize, using: &rng)
                case 1: position = Int.random(in: 0..<Swift.min(40, contentsSize), using: &rng)
                default: position = Int.random(in: 0..<contentsSize, using: &rng)
                }
                broken[position] = Int.random(in: 0..<4, using: &rng) == 0 ? 0xFF : UInt8.random(in: 0...255, using: &rng)
            }
            // Re-seal the block so only the decoder can notice.
            let crc = broken.withUnsafeBytes { raw in
                CRC32C.checksum([TableFormat.uncompressedBlockType], extending: CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<contentsSize])))
            }
            broken.storeFixed32(CRC32C.mask(crc), at: contentsSize + 1)
            let path = dir.file("fuzz-\(trial % 2).sst")
            try FileDamage.write(path, broken)
            let reader = try TableReader.open(path: path, fileNumber: 1, backend: POSIXBackend(), cache: nil)
            do {
                _ = try collect(reader.makeIterator())
                let iterator = reader.makeIterator()
                for key in model.userKeys.prefix(20) {
                    _ = try reader.get(key, snapshot: .max)
                    try iterator.seek(InternalKey.encode(key, 50, .value))
                }
                _ = try reader.multiGet(Array(model.userKeys.suffix(20)), snapshot: 100)
                outcomes.ok += 1
            } catch {
                #expect(error.code == .corruption && error.message.contains(path), "\(error)")
                outcomes.corrupt += 1
            }
        }
        #expect(outcomes.corrupt > 50)
    }
}

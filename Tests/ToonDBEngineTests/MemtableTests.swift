import Synchronization
import Testing
import ToonDBFormat
import ToonDBTestSupport
@testable import ToonDBEngine

/// A writer's progress and readers' failures, shared between test threads.
private final class Progress: Sendable {
    let published = Atomic<Int>(0)
    let failures = Atomic<Int>(0)
}

/// The memtable's point reads (through its hash index) against a model, across index growth,
/// many versions per key, snapshots and tombstones; and readers running while it grows.
@Suite struct MemtableTests {
    @Test func pointReadsMatchAModelAtEverySnapshot() {
        let memtable = Memtable(id: 1)
        var random = SeededRandom(seed: 7)
        // key -> [(lsn, value or nil for a tombstone)], oldest first
        var model: [[UInt8]: [(LSN, [UInt8]?)]] = [:]
        var lsn: LSN = 0
        for _ in 0..<30_000 {  // enough keys to grow the index several times
            lsn += 1
            // A quarter of the writes update one hot key (a long run of its versions).
            let key = Int.random(in: 0..<4, using: &random) == 0 ? bytes("k5000x") : bytes("k\(Int.random(in: 0..<12_000, using: &random))")
            var batch = WriteBatch()
            if Int.random(in: 0..<10, using: &random) == 0 {
                batch.delete(key)
                model[key, default: []].append((lsn, nil))
            } else {
                let value = random.bytes(Int.random(in: 0..<20, using: &random))
                batch.put(key, value)
                model[key, default: []].append((lsn, value))
            }
            memtable.insert(batch, lsn: lsn)
        }
        for snapshot in [LSN(0), 1, 500, 15_000, 29_999, lsn, InternalKey.maxLSN] {
            for (key, versions) in model {
                let visible = versions.last { $0.0 <= snapshot }
                switch (memtable.get(key, snapshot: snapshot), visible) {
                case (.notFound, nil): break
                case (.value(let value, let at), .some((let expectedLSN, .some(let expected)))):
                    #expect(value == expected && at == expectedLSN)
                case (.deleted(let at), .some((let expectedLSN, nil))):
                    #expect(at == expectedLSN)
                case (let got, let want):
                    Issue.record("key \(String(decoding: key, as: UTF8.self)) at snapshot \(snapshot): got \(got), want \(String(describing: want))")
                }
            }
        }
        // Level 0 holds every version exactly once, in internal-key order (new versions of
        // existing keys are linked in place, without a search).
        let iterator = memtable.makeIterator()
        iterator.seekToFirst()
        var previousKey: [UInt8]?
        var seen = 0
        while iterator.isValid {
            let key = [UInt8](iterator.key)
            if let previousKey {
                #expect(previousKey.withUnsafeBytes { a in key.withUnsafeBytes { b in InternalKey.compare(a, b) < 0 } })
            }
            previousKey = key
            seen += 1
            iterator.next()
        }
        #expect(seen == model.values.reduce(0) { $0 + $1.count })
        // Keys never written, including ones sharing prefixes with written keys.
        for key in ["k", "k12000", "k1 ", "", "x"] {
            if case .notFound = memtable.get(bytes(key), snapshot: lsn) {} else { Issue.record("found unwritten key \(key)") }
        }
    }

    @Test func readersSeeEveryPublishedKeyWhileTheIndexGrows() {
        let memtable = Memtable(id: 2)
        let progress = Progress()
        let total = 60_000
        DispatchLikeGroup.run(3) { thread in
            if thread == 0 {  // the single writer; the index grows from 4,096 slots to 131,072
                for i in 1...total {
                    var batch = WriteBatch()
                    batch.put(bytes("key-\(i)"), bytes("\(i)"))
                    memtable.insert(batch, lsn: LSN(i))
                    progress.published.store(i, ordering: .releasing)
                }
                return
            }
            var random = SeededRandom(seed: UInt64(thread))
            var reads = 0
            while reads < 2_000_000 {  // bounded even if the writer stalls
                let upTo = progress.published.load(ordering: .acquiring)
                if upTo == total { return }
                guard upTo > 0 else { continue }
                let i = Int.random(in: 1...upTo, using: &random)
                reads += 1
                guard case .value(let value, _) = memtable.get(bytes("key-\(i)"), snapshot: LSN(upTo)), value == bytes("\(i)") else {
                    progress.failures.add(1, ordering: .relaxed)
                    return
                }
            }
        }
        #expect(progress.failures.load(ordering: .relaxed) == 0)
        #expect(progress.published.load(ordering: .relaxed) == total)
    }

    /// Every (key, LSN) version in list order, read by walking level 0 from the first node.
    private func contents(_ memtable: Memtable) -> [[UInt8]] {
        var result: [[UInt8]] = []
        var node = memtable.first
        while let current = node {
            result.append([UInt8](Memtable.key(current)) + [UInt8](Memtable.value(current)))
            node = Memtable.next(current, 0)
        }
        return result
    }

    /// A memtable built in recycled arena blocks (left full of an earlier memtable's nodes)
    /// holds exactly what was written to it; the pool keeps at most its capacity.
    @Test func recycledArenaBlocksHoldNothingOfTheirPast() {
        func fill(_ memtable: Memtable, seed: UInt64) -> [[UInt8]: [UInt8]] {
            var random = SeededRandom(seed: seed)
            var model: [[UInt8]: [UInt8]] = [:]
            var commits: [(batch: WriteBatch, lsn: LSN)] = []
            for lsn in 1...20_000 {  // about 3 MiB of nodes: several blocks
                var batch = WriteBatch()
                let key = bytes("s\(seed)-\(Int.random(in: 0..<5_000, using: &random))")
                let value = random.bytes(Int.random(in: 80..<160, using: &random))
                batch.put(key, value)
                model[key] = value
                commits.append((batch, LSN(lsn)))
                if commits.count == 64 {
                    memtable.insert(commits)
                    commits.removeAll()
                }
            }
            memtable.insert(commits)
            memtable.linkPending()
            return model
        }
        do { _ = fill(Memtable(id: 20), seed: 1) }  // gone: its blocks go to the pool
        let memtable = Memtable(id: 21)
        let model = fill(memtable, seed: 2)
        var wrong = 0
        for (key, value) in model {
            if case .value(let found, _) = memtable.get(key, snapshot: InternalKey.maxLSN), found == value { continue }
            wrong += 1
        }
        #expect(wrong == 0)
        let walked = contents(memtable)
        #expect(walked.count == memtable.count)
        #expect(walked.allSatisfy { $0.starts(with: bytes("s2-")) }, "no node of the earlier memtable")

        var spare: [UnsafeMutableRawPointer] = []
        for _ in 0..<(ArenaBlockPool.capacity + 8) { spare.append(.allocate(byteCount: Arena.blockSize, alignment: 8)) }
        ArenaBlockPool.give(spare[...])
        #expect(ArenaBlockPool.count <= ArenaBlockPool.capacity)
    }

    /// Groups of commits inserted together (new keys linked by interleaved searches, repeated
    /// and existing keys after them) give the very list, index and reads that inserting each
    /// commit alone gives: every version in order, the newest first, at every snapshot.
    @Test(arguments: [1, 2, 7, 300])
    func groupedInsertsEqualOneByOne(groupSize: Int) {
        let grouped = Memtable(id: 3)
        let single = Memtable(id: 4)
        var random = SeededRandom(seed: UInt64(groupSize))
        var lsn: LSN = 0
        var written: Set<[UInt8]> = []
        for _ in 0..<(6_000 / groupSize) {
            var commits: [(batch: WriteBatch, lsn: LSN)] = []
            for _ in 0..<groupSize {
                lsn += 1
                var batch = WriteBatch()
                var inBatch: Set<[UInt8]> = []
                for _ in 0..<Int.random(in: 1...3, using: &random) {
                    // Few enough keys that groups repeat keys and revisit old ones; some share
                    // long prefixes, and a few are empty-valued or deleted.
                    let key = bytes("k\(Int.random(in: 0..<2_500, using: &random))" + (Bool.random(using: &random) ? "/suffix" : ""))
                    guard inBatch.insert(key).inserted else { continue }
                    written.insert(key)
                    if Int.random(in: 0..<8, using: &random) == 0 { batch.delete(key) } else {
                        batch.put(key, random.bytes(Int.random(in: 0..<12, using: &random)))
                    }
                }
                commits.append((batch, lsn))
            }
            grouped.insert(commits)
            for (batch, at) in commits { single.insert(batch, lsn: at) }
        }
        #expect(grouped.count == single.count)
        #expect(grouped.maxLSN == single.maxLSN)
        // Point reads before linking: nodes that wait are found through the index.
        for key in written.prefix(300) {
            #expect("\(grouped.get(key, snapshot: lsn))" == "\(single.get(key, snapshot: lsn))")
        }
        grouped.linkPending()  // what the database has done before anyone walks the list
        #expect(!grouped.hasUnlinked)
        #expect(contents(grouped) == contents(single), "the same versions in the same order")
        for snapshot in [LSN(1), lsn / 3, lsn / 2, lsn] {
            for key in written {
                let a = grouped.get(key, snapshot: snapshot), b = single.get(key, snapshot: snapshot)
                switch (a, b) {
                case (.notFound, .notFound): break
                case (.value(let x, let i), .value(let y, let j)): #expect(x == y && i == j)
                case (.deleted(let i), .deleted(let j)): #expect(i == j)
                default: Issue.record("\(key) at \(snapshot): \(a) against \(b)")
                }
            }
        }
        // Seeks land where a search of the one-by-one list lands.
        for key in written.prefix(500) {
            withLookupKey(key, lsn / 2) { target in
                let a = grouped.seek(target).map { [UInt8](Memtable.key($0)) }
                let b = single.seek(target).map { [UInt8](Memtable.key($0)) }
                #expect(a == b)
            }
        }
    }

    /// A reader walking the list while groups are linked sees it sorted and never loses a
    /// key published before its walk began.
    @Test func scansStaySortedWhileGroupsAreLinked() {
        let memtable = Memtable(id: 5)
        let progress = Progress()
        let groups = 300, perGroup = 64
        DispatchLikeGroup.run(2) { thread in
            if thread == 0 {
                var random = SeededRandom(seed: 11)
                for g in 0..<groups {
                    var commits: [(batch: WriteBatch, lsn: LSN)] = []
                    for i in 0..<perGroup {
                        var batch = WriteBatch()
                        let number = String(random.next() % 100_000_000)
                        batch.put(bytes(String(repeating: "0", count: 8 - number.count) + number), bytes("\(g)"))
                        commits.append((batch, LSN(g * perGroup + i + 1)))
                    }
                    memtable.insert(commits)
                    progress.published.store(memtable.count, ordering: .releasing)
                }
                return
            }
            var walks = 0
            while walks < 2_000 && progress.published.load(ordering: .acquiring) < groups * perGroup {
                let before = progress.published.load(ordering: .acquiring)
                var seen = 0
                var previous: [UInt8]? = nil
                var node = memtable.first
                while let current = node {
                    let key = [UInt8](Memtable.key(current))
                    if let previous, previous.withUnsafeBytes({ a in key.withUnsafeBytes { InternalKey.compare(a, $0) } }) >= 0 {
                        progress.failures.add(1, ordering: .relaxed)
                        return
                    }
                    previous = key
                    seen += 1
                    node = Memtable.next(current, 0)
                }
                if seen < before { progress.failures.add(1, ordering: .relaxed); return }
                walks += 1
            }
        }
        #expect(progress.failures.load(ordering: .relaxed) == 0)
        #expect(memtable.count == groups * perGroup)
    }
}

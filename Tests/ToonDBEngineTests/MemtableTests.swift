import Synchronization
import Testing
import ToonDBFormat
import ToonDBTestSupport
@testable import ToonDBEngine

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
        final class Progress: Sendable {
            let published = Atomic<Int>(0)
            let failures = Atomic<Int>(0)
        }
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
}

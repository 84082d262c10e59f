import Testing
import ToonDBEngine
import ToonDBIO
import ToonDBTestSupport

/// The database against an in-memory dictionary under random operations: puts (empty values,
/// overwrites), deletes (present and absent keys), batches (repeated keys), range, prefix and
/// path scans, scans held open across writes, up to three interleaved transactions (committed,
/// conflicting, aborted; snapshot reads, scans and own writes checked against a copy of the
/// model taken at begin), flushes, compactions (small tables and levels, so background
/// compactions run too), checkpoints, checkpoint copies, and reopens with varying options.
/// LSNs must stay dense. After every reopen and at the end the whole database (full scan,
/// point gets, getMany) must equal the model. Each case is reproducible from its seed.
@Suite("Randomized model", .serialized)
struct ModelTests {
    static let seeds: [UInt64] = [0x5EED_0001, 0x5EED_0002, 0x5EED_0003]

    @Test("the database equals the model after several thousand random operations",
          arguments: availableBackends, ModelTests.seeds)
    func randomized(backend: IOBackendSelector.Preference, seed: UInt64) throws {
        let dir = TemporaryDirectory("toondb-model")
        let run = try ModelRun(path: dir.path, backend: backend, seed: seed)
        do { try run.run(steps: 4000) } catch {
            Issue.record("seed \(seed), backend \(backend.rawValue): step \(run.step) threw \(error)")
        }
        #expect(!run.failed, "seed \(seed), backend \(backend.rawValue): first mismatch at step \(run.failedStep)")
        #expect(run.counts["reopen", default: 0] >= 3, "the run reopened the database")
        #expect(run.counts["commit", default: 0] >= 20)
        #expect(run.counts["conflict", default: 0] >= 1)
        #expect(run.counts["abort", default: 0] >= 5)
        #expect(run.flushes >= 5, "enough data went through tables (saw \(run.flushes) flushes)")
        try run.db.close()
    }
}

/// A key-value pair that compares as a whole (tuples are not Equatable).
struct ModelKV: Equatable, CustomStringConvertible {
    var key: [UInt8]
    var value: [UInt8]
    var description: String { "\(modelShow(key))=\(value.count)b" }
}

func modelShow(_ bytes: [UInt8]) -> String {
    if let text = String(validating: bytes, as: UTF8.self), text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }) {
        return "\"\(text)\""
    }
    return "0x" + bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

func modelCollect(_ iterator: ScanIterator) throws -> [ModelKV] {
    var result: [ModelKV] = []
    while let pair = try iterator.next() { result.append(ModelKV(key: pair.key, value: pair.value)) }
    return result
}

final class ModelRun {
    let path: String
    let baseOptions: DatabaseOptions
    var options: DatabaseOptions
    var db: Database
    var rng: SeededRandom
    let seed: UInt64
    var model: [[UInt8]: [UInt8]] = [:]
    /// The LSN of the last commit that wrote (put or deleted) each key.
    var lastWrite: [[UInt8]: LSN] = [:]
    /// The LSN of the last successful non-empty write: every such write must get the next one.
    var lastLSN: LSN = 0
    var step = 0
    var failed = false
    var failedStep = -1
    var counts: [String: Int] = [:]
    let keySpace: [[UInt8]]

    init(path: String, backend: IOBackendSelector.Preference, seed: UInt64) throws {
        self.path = path
        self.seed = seed
        var options = testOptions(backend: backend)
        // Small tables and a small level 1, so background compactions move single tables
        // between levels 1..3 (round robin, partial overlaps), not only compactAll.
        options.targetTableSize = 8 << 10
        options.level1MaxBytes = 16 << 10
        options.levelSizeMultiplier = 4
        self.baseOptions = options
        self.options = options
        db = try Database.open(path: path, options: options)
        rng = SeededRandom(seed: seed)
        var keys: [[UInt8]] = [Array("a".utf8), Array("a/".utf8), [0xFF], [0x00]]
        for i in 0..<240 {
            switch i % 6 {
            case 0: keys.append(Array("a/\(i)".utf8))
            case 1: keys.append(Array("ab/\(i)".utf8))
            case 2: keys.append(Array("b\(i)".utf8))
            case 3: keys.append([0xFF, 0xFF] + Array("\(i)".utf8))
            case 4: keys.append([0x00] + Array("\(i)".utf8))
            default: keys.append(Array("c/\(i % 10)/\(i)".utf8))
            }
        }
        keySpace = keys
    }

    var flushes: Int { db.stats().flushesCompleted + counts["flushesBeforeReopen", default: 0] }
    var compactions: Int { db.stats().compactionsCompleted + counts["compactionsBeforeReopen", default: 0] }

    // MARK: checking

    /// Records a mismatch (once per run: later steps would only repeat it).
    func check<T: Equatable>(_ actual: T, _ expected: T, _ what: @autoclosure () -> String,
                             sourceLocation: SourceLocation = #_sourceLocation) {
        guard !failed, actual != expected else { return }
        failed = true
        failedStep = step
        Issue.record("seed \(seed) step \(step): \(what())\n  actual:   \(actual)\n  expected: \(expected)", sourceLocation: sourceLocation)
    }

    /// A scan result against the model: reports what differs rather than both lists.
    func check(_ actual: [ModelKV], _ expected: [ModelKV], _ what: @autoclosure () -> String,
               sourceLocation: SourceLocation = #_sourceLocation) {
        guard !failed, actual != expected else { return }
        failed = true
        failedStep = step
        let actualKeys = Set(actual.map(\.key)), expectedKeys = Set(expected.map(\.key))
        let missing = expected.filter { !actualKeys.contains($0.key) }.prefix(5)
        let extra = actual.filter { !expectedKeys.contains($0.key) }.prefix(5)
        let expectedByKey = Dictionary(expected.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        let wrong = actual.filter { pair in expectedByKey[pair.key].map { $0 != pair.value } ?? false }.prefix(5)
        let ordered = actual.map(\.key) == actual.map(\.key).sorted { compareBytes($0, $1) < 0 }
        Issue.record("""
            seed \(seed) step \(step): \(what()): \(actual.count) pairs, expected \(expected.count)
              missing: \(Array(missing))
              unexpected: \(Array(extra))
              wrong values: \(wrong.map { "\($0) (want \(expectedByKey[$0.key]!.count)b)" })
              in key order: \(ordered)
            """, sourceLocation: sourceLocation)
    }

    func expected(in model: [[UInt8]: [UInt8]], where include: ([UInt8]) -> Bool) -> [ModelKV] {
        model.filter { include($0.key) }.map { ModelKV(key: $0.key, value: $0.value) }.sorted { compareBytes($0.key, $1.key) < 0 }
    }

    static func inRange(_ key: [UInt8], _ start: [UInt8], _ end: [UInt8]) -> Bool {
        compareBytes(key, start) >= 0 && (end.isEmpty || compareBytes(key, end) < 0)
    }

    static func hasPrefix(_ key: [UInt8], _ prefix: [UInt8]) -> Bool { key.count >= prefix.count && Array(key.prefix(prefix.count)) == prefix }

    /// The whole database against the model: a full scan, a point get and a getMany of every key.
    func verifyAll(_ label: String) throws {
        let scanned = try modelCollect(db.scan())
        check(scanned, expected(in: model) { _ in true }, "full scan (\(label))")
        var wrongGets: [String] = []
        for key in keySpace {
            let got = try db.get(key)
            if got != model[key] { wrongGets.append("\(modelShow(key)): \(got.map { "\($0.count)b" } ?? "nil") vs \(model[key].map { "\($0.count)b" } ?? "nil")") }
        }
        check(wrongGets, [], "point gets (\(label))")
        let many = try db.getMany(keySpace)
        let modelMany = keySpace.map { model[$0] }
        check(many == modelMany, true, "getMany of the whole key space (\(label))")
        check(db.stats().lastLSN, lastLSN, "stats().lastLSN (\(label))")
    }

    // MARK: random choices

    func randomKey() -> [UInt8] {
        // Mostly keys that exist (so overwrites and deletes hit), sometimes any key.
        if !model.isEmpty && Int.random(in: 0..<3, using: &rng) == 0 {
            return model.keys.sorted { compareBytes($0, $1) < 0 }[Int.random(in: 0..<model.count, using: &rng)]
        }
        return keySpace[Int.random(in: 0..<keySpace.count, using: &rng)]
    }

    func randomValue() -> [UInt8] {
        let roll = Int.random(in: 0..<10, using: &rng)
        let count: Int
        switch roll {
        case 0, 1: count = 0
        case 2...5: count = Int.random(in: 1...16, using: &rng)
        case 6...8: count = Int.random(in: 17...300, using: &rng)
        default: count = Int.random(in: 1000...3000, using: &rng)
        }
        return rng.bytes(count)
    }

    func randomBound() -> [UInt8] {
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: return []
        case 1: return rng.bytes(Int.random(in: 1...3, using: &rng))
        default: return keySpace[Int.random(in: 0..<keySpace.count, using: &rng)]
        }
    }

    static let prefixes: [[UInt8]] = [
        Array("a".utf8), Array("a/".utf8), Array("a/1".utf8), Array("ab".utf8), Array("b".utf8), Array("b1".utf8),
        Array("c/".utf8), Array("c/3/".utf8), Array("zz".utf8), [0xFF], [0xFF, 0xFF], [0xFF, 0xFF, 0x31], [0x00],
    ]

    // MARK: writes that keep the model and the LSN in step

    func expectNextLSN(_ lsn: LSN, _ what: String) {
        check(lsn, lastLSN + 1, "LSN of \(what) (LSNs are dense)")
        lastLSN = max(lastLSN, lsn)
    }

    func put(_ key: [UInt8], _ value: [UInt8]) throws {
        let lsn = try db.put(key, value)
        expectNextLSN(lsn, "put \(modelShow(key))")
        model[key] = value
        lastWrite[key] = lsn
    }

    func delete(_ key: [UInt8]) throws {
        let lsn = try db.delete(key)
        expectNextLSN(lsn, "delete \(modelShow(key))")
        model[key] = nil
        lastWrite[key] = lsn
    }

    // MARK: the run

    func run(steps: Int) throws {
        while step < steps && !failed {
            step += 1
            let roll = Int.random(in: 0..<1000, using: &rng)
            switch roll {
            case 0..<300: try put(randomKey(), randomValue())
            case 300..<420:
                try delete(randomKey())
            case 420..<500: try batch()
            case 500..<600:
                let key = randomKey()
                check(try db.get(key), model[key], "get \(modelShow(key))")
            case 600..<630:
                let keys = (0..<Int.random(in: 1...10, using: &rng)).map { _ in randomKey() }
                check(try db.getMany(keys), keys.map { model[$0] }, "getMany")
            case 630..<680: try rangeScan()
            case 680..<720: try prefixScan()
            case 720..<740: try heldScan()
            case 740..<820: try transactions()
            case 820..<830:
                try db.flush()
                counts["flush", default: 0] += 1
            case 830..<832:
                try db.compactAll()
                counts["compactAll", default: 0] += 1
            case 833..<836: try reopen()
            case 836..<839:
                let lsn = try db.checkpoint()
                check(lsn, lastLSN, "checkpoint LSN")
                check(db.stats().flushedLSN, lastLSN, "flushedLSN after a checkpoint")
            case 839..<841: try checkpointCopy()
            case 841..<850:
                let n = Int.random(in: 0..<10, using: &rng)
                let found = try modelCollect(db.scanPath("c/\(n)"))
                let prefix = Array("c/\(n)/".utf8)
                check(found, expected(in: model) { Self.hasPrefix($0, prefix) }, "scanPath c/\(n)")
            default: try put(randomKey(), randomValue())
            }
        }
        if !failed { try verifyAll("end") }
        if !failed { try reopen() }
    }

    func batch() throws {
        var batch = WriteBatch()
        var next = model
        for _ in 0..<Int.random(in: 0...10, using: &rng) {
            let key = randomKey()
            if Int.random(in: 0..<3, using: &rng) == 0 {
                batch.delete(key)
                next[key] = nil
            } else {
                let value = randomValue()
                batch.put(key, value)
                next[key] = value
            }
            if Int.random(in: 0..<5, using: &rng) == 0 {
                // The same key again in the batch: the last operation wins.
                let value = randomValue()
                batch.put(key, value)
                next[key] = value
            }
        }
        let lsn = try db.write(batch)
        if batch.isEmpty {
            check(lsn, lastLSN, "an empty batch returns the current LSN")
        } else {
            expectNextLSN(lsn, "batch of \(batch.count)")
            for op in batch.operations { lastWrite[op.key] = lsn }
        }
        model = next
        counts["batch", default: 0] += 1
    }

    func rangeScan() throws {
        var start = randomBound()
        var end = randomBound()
        if Int.random(in: 0..<4, using: &rng) != 0 && !end.isEmpty && compareBytes(start, end) > 0 { swap(&start, &end) }
        let iterator = try db.scan(from: start, to: end)
        var found: [ModelKV] = []
        if Bool.random(using: &rng) {
            found = try modelCollect(iterator)
        } else {
            let size = Int.random(in: 1...40, using: &rng)
            while true {
                let chunk = try iterator.next(batch: size)
                found += chunk.map { ModelKV(key: $0.key, value: $0.value) }
                if chunk.count < size { break }
            }
        }
        check(found, expected(in: model) { Self.inRange($0, start, end) }, "scan [\(modelShow(start)), \(modelShow(end)))")
    }

    func prefixScan() throws {
        let prefix = Int.random(in: 0..<4, using: &rng) == 0
            ? keySpace[Int.random(in: 0..<keySpace.count, using: &rng)]
            : Self.prefixes[Int.random(in: 0..<Self.prefixes.count, using: &rng)]
        let found = try modelCollect(db.scan(prefix: prefix))
        check(found, expected(in: model) { Self.hasPrefix($0, prefix) }, "prefix scan \(modelShow(prefix))")
    }

    /// A scan created, then writes (and maybe a flush or a compaction), then read: it sees
    /// the database as of its creation.
    func heldScan() throws {
        let before = model
        let prefix = Bool.random(using: &rng) ? [UInt8]() : Self.prefixes[Int.random(in: 0..<Self.prefixes.count, using: &rng)]
        let iterator = try prefix.isEmpty ? db.scan() : db.scan(prefix: prefix)
        for _ in 0..<Int.random(in: 1...8, using: &rng) {
            if Bool.random(using: &rng) { try put(randomKey(), randomValue()) } else { try delete(randomKey()) }
        }
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: try db.flush()
        case 1: try db.compactAll()
        default: break
        }
        check(try modelCollect(iterator), expected(in: before) { Self.hasPrefix($0, prefix) }, "scan held across writes (prefix \(modelShow(prefix)))")
    }

    /// An open transaction and what it must see: the model when it began, plus its writes.
    struct OpenTransaction {
        let txn: Transaction
        let snapshot: [[UInt8]: [UInt8]]
        var own: [[UInt8]: [UInt8]?] = [:]

        func view(_ key: [UInt8]) -> [UInt8]? {
            if let mine = own[key] { return mine }
            return snapshot[key]
        }

        var merged: [[UInt8]: [UInt8]] {
            var result = snapshot
            for (key, value) in own { result[key] = value }
            return result
        }
    }

    func begin() throws -> OpenTransaction {
        let txn = try db.beginTransaction()
        check(txn.snapshot, lastLSN, "transaction snapshot")
        return OpenTransaction(txn: txn, snapshot: model)
    }

    /// Commits (or aborts) `open`. A commit must fail with a conflict exactly when another
    /// commit wrote one of its keys after its snapshot (first committer wins).
    func finish(_ open: OpenTransaction, commit: Bool) throws {
        let txn = open.txn
        if commit {
            let conflicting = open.own.keys.filter { (lastWrite[$0] ?? 0) > txn.snapshot }
            var commitLSN: LSN?
            var commitError: StorageError?
            do { commitLSN = try txn.commit() } catch { commitError = error }
            if open.own.isEmpty {
                check(commitLSN, txn.snapshot, "a read-only commit returns the snapshot")
                counts["readOnlyCommit", default: 0] += 1
            } else if let key = conflicting.first {
                check(commitError?.code, .conflict, "commit of a transaction whose key \(modelShow(key)) was written after its snapshot")
                check(txn.status, .aborted, "status after a conflict")
                counts["conflict", default: 0] += 1
            } else {
                check(commitError?.code, nil, "commit without conflicts")
                if let commitLSN {
                    expectNextLSN(commitLSN, "transaction commit")
                    for (key, value) in open.own {
                        model[key] = value
                        lastWrite[key] = commitLSN
                    }
                }
                check(txn.status, .committed, "status after commit")
                counts["commit", default: 0] += 1
            }
        } else {
            try txn.abort()
            check(txn.status, .aborted, "status after abort")
            counts["abort", default: 0] += 1
        }
        // What the transaction wrote is visible exactly when it committed.
        for key in open.own.keys {
            check(try db.get(key), model[key], "after the transaction: \(modelShow(key))")
        }
    }

    /// Up to three transactions at once, interleaved with each other, with other writers,
    /// flushes and compactions; finished in random order.
    func transactions() throws {
        var open: [OpenTransaction] = []
        for _ in 0..<Int.random(in: 1...3, using: &rng) { open.append(try begin()) }
        var moves = Int.random(in: 2...24, using: &rng)
        while moves > 0 && !open.isEmpty && !failed {
            moves -= 1
            let i = Int.random(in: 0..<open.count, using: &rng)
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<30:
                let key = randomKey(), value = randomValue()
                try open[i].txn.put(key, value)
                open[i].own[key] = .some(value)
            case 30..<42:
                let key = randomKey()
                try open[i].txn.delete(key)
                open[i].own[key] = .some(nil)
            case 42..<60:
                let own = Array(open[i].own.keys)
                let key = Bool.random(using: &rng) && !own.isEmpty ? own[Int.random(in: 0..<own.count, using: &rng)] : randomKey()
                check(try open[i].txn.get(key), open[i].view(key), "transaction get \(modelShow(key))")
            case 60..<68:
                var start = randomBound()
                var end = randomBound()
                if !end.isEmpty && compareBytes(start, end) > 0 { swap(&start, &end) }
                let found = try open[i].txn.scan(from: start, to: end).map { ModelKV(key: $0.key, value: $0.value) }
                check(found, expected(in: open[i].merged) { Self.inRange($0, start, end) }, "transaction scan [\(modelShow(start)), \(modelShow(end)))")
            case 68..<72:
                let prefix = Self.prefixes[Int.random(in: 0..<Self.prefixes.count, using: &rng)]
                let found = try open[i].txn.scan(prefix: prefix).map { ModelKV(key: $0.key, value: $0.value) }
                check(found, expected(in: open[i].merged) { Self.hasPrefix($0, prefix) }, "transaction prefix scan \(modelShow(prefix))")
            case 72..<84:
                // Another writer commits meanwhile.
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: try put(randomKey(), randomValue())
                case 1: try delete(randomKey())
                default: try batch()
                }
            case 84..<87:
                try db.flush()
            case 87..<89:
                try db.compactAll()
            case 89..<92:
                if open.count < 3 { open.append(try begin()) }
            default:
                let done = open.remove(at: i)
                try finish(done, commit: Int.random(in: 0..<10, using: &rng) < 7)
            }
        }
        while !open.isEmpty && !failed {
            let done = open.remove(at: Int.random(in: 0..<open.count, using: &rng))
            try finish(done, commit: Int.random(in: 0..<10, using: &rng) < 7)
        }
    }

    /// Writes a checkpoint copy, opens it and compares it with the model.
    func checkpointCopy() throws {
        let target = path + "-copy-\(step)"
        defer { try? FileSystem.removeTree(target) }
        let lsn = try db.checkpoint(to: target)
        check(lsn, lastLSN, "checkpoint(to:) LSN")
        let copy = try Database.open(path: target, options: options)
        check(try modelCollect(copy.scan()), expected(in: model) { _ in true }, "checkpoint copy contents")
        check(copy.stats().lastLSN, lastLSN, "checkpoint copy lastLSN")
        try copy.close()
        counts["checkpointCopy", default: 0] += 1
    }

    /// Closes and reopens, each time with a different mix of the options that change how
    /// writes travel (sync mode, group commit, inline or background flushes, memtable size;
    /// a smaller memtable than before makes recovery itself flush tables).
    func reopen() throws {
        counts["flushesBeforeReopen", default: 0] += db.stats().flushesCompleted
        counts["compactionsBeforeReopen", default: 0] += db.stats().compactionsCompleted
        try db.close()
        options = baseOptions
        options.syncMode = Int.random(in: 0..<3, using: &rng) == 0 ? .normal : .off
        options.groupCommit = Bool.random(using: &rng)
        options.backgroundWork = Int.random(in: 0..<4, using: &rng) != 0
        options.memtableSize = Int.random(in: 0..<4, using: &rng) == 0 ? 8 << 10 : 64 << 10
        db = try Database.open(path: path, options: options)
        counts["reopen", default: 0] += 1
        try verifyAll("after reopen \(counts["reopen", default: 0])")
    }
}

import Testing
import ToonDBFormat

@Suite("WriteBatch encoding")
struct WriteBatchTests {
    static func sample() -> WriteBatch {
        var batch = WriteBatch()
        batch.put(Array("alpha".utf8), Array("one".utf8))
        batch.delete(Array("beta".utf8))
        batch.put(Array("empty".utf8), [])
        batch.put([0x00, 0xFF, 0x80], [UInt8](repeating: 0xAB, count: 300))   // lengths needing 2-byte varints
        batch.put([UInt8](repeating: 0x61, count: 200), [1])
        batch.put(Array("alpha".utf8), Array("two".utf8))                     // the same key again stays in order
        return batch
    }

    @Test("round trip preserves every operation in order; encodedSize is exact")
    func roundTrip() throws {
        let batch = Self.sample()
        let bytes = encoded(batch)
        #expect(bytes.count == batch.encodedSize)
        #expect(Array(bytes.prefix(4)) == [6, 0, 0, 0], "count u32 little-endian")
        let decoded = try decodeBatch(bytes).get()
        #expect(decoded == batch)
        #expect(decoded.operations.map(\.kind) == [.value, .deletion, .value, .value, .value, .value])
        #expect(decoded.operations[1].value == [])
        #expect(decoded.operations[2].value == [])
        #expect(decoded.count == 6)
        #expect(decoded.byteSize == batch.byteSize)
        #expect(batch.byteSize == 5 + 3 + 4 + 5 + 3 + 300 + 200 + 1 + 5 + 3)
    }

    @Test("the empty batch is four zero bytes and decodes back")
    func emptyBatch() throws {
        let batch = WriteBatch()
        let bytes = encoded(batch)
        #expect(bytes == [0, 0, 0, 0])
        #expect(batch.encodedSize == 4)
        let decoded = try decodeBatch(bytes).get()
        #expect(decoded.isEmpty)
    }

    @Test("random batches round trip")
    func randomRoundTrip() {
        var rng = TestRandom(seed: 21)
        var failures = 0
        for _ in 0..<300 {
            var batch = WriteBatch()
            for _ in 0..<Int.random(in: 0...20, using: &rng) {
                let key = rng.bytes(Int.random(in: 1...40, using: &rng))
                if Bool.random(using: &rng) { batch.put(key, rng.bytes(Int.random(in: 0...200, using: &rng))) } else { batch.delete(key) }
            }
            let bytes = encoded(batch)
            if bytes.count != batch.encodedSize || (try? decodeBatch(bytes).get()) != batch { failures += 1 }
        }
        #expect(failures == 0)
    }

    @Test("an unknown operation kind is corruption")
    func unknownKind() {
        var bytes = encoded(Self.sample())
        bytes[4] = 2   // the first operation's kind
        let result = decodeBatch(bytes)
        var error: StorageError?
        if case .failure(let e) = result { error = e }
        #expect(error?.code == .corruption)
        #expect(error?.message.contains("unknown operation kind 2") == true)
        bytes[4] = 0xFF
        #expect((try? decodeBatch(bytes).get()) == nil)
    }

    @Test("every proper prefix of an encoding is rejected as corruption")
    func truncated() {
        let bytes = encoded(Self.sample())
        var accepted: [Int] = []
        var wrongCode: [Int] = []
        for length in 0..<bytes.count {
            switch decodeBatch(Array(bytes.prefix(length))) {
            case .success: accepted.append(length)
            case .failure(let error): if error.code != .corruption { wrongCode.append(length) }
            }
        }
        #expect(accepted.isEmpty)
        #expect(wrongCode.isEmpty)
    }

    @Test("trailing bytes after the last operation are corruption")
    func trailingBytes() {
        var bytes = encoded(Self.sample())
        bytes.append(0)
        var error: StorageError?
        if case .failure(let e) = decodeBatch(bytes) { error = e }
        #expect(error?.code == .corruption)
        #expect(error?.message.contains("trailing") == true)
    }

    @Test("a count larger than the payload, or a huge key length, throws instead of trapping")
    func lyingHeaders() {
        var hugeCount: [UInt8] = []
        hugeCount.appendFixed32(UInt32.max)
        hugeCount += [1, 1, 0x61, 0]      // one valid put, then nothing
        var hugeKey: [UInt8] = []
        hugeKey.appendFixed32(1)
        hugeKey.append(1)
        hugeKey.appendVarint(UInt64(Int32.max))
        hugeKey += [1, 2, 3]
        var overflowKey: [UInt8] = []
        overflowKey.appendFixed32(1)
        overflowKey.append(0)
        overflowKey.appendVarint(UInt64.max)
        var codes: [StorageError.Code?] = []
        for bytes in [hugeCount, hugeKey, overflowKey, [1, 0, 0]] {
            if case .failure(let e) = decodeBatch(bytes) { codes.append(e.code) } else { codes.append(nil) }
        }
        #expect(codes == [.corruption, .corruption, .corruption, .corruption])
    }

    @Test("forEach reads every operation in place, in order; withOperation(at:) finds one again by its offset")
    func borrowedOperations() {
        let batch = Self.sample()
        var seen: [WriteBatch.Operation] = []
        var offsets: [Int] = []
        batch.forEach { op in
            seen.append(WriteBatch.Operation(kind: op.kind, key: [UInt8](op.key), value: [UInt8](op.value)))
            offsets.append(op.offset)
        }
        #expect(seen == batch.operations)
        #expect(seen.count == 6)
        #expect(offsets.first == 0)
        #expect(offsets == offsets.sorted() && Set(offsets).count == 6)
        for (index, offset) in offsets.enumerated() {
            let copy = batch.withOperation(at: offset) { op in
                WriteBatch.Operation(kind: op.kind, key: [UInt8](op.key), value: [UInt8](op.value))
            }
            #expect(copy == seen[index])
        }
    }

    @Test("forEach stops at the first error its body throws and passes it on")
    func forEachThrows() {
        struct Stop: Error { let at: Int }
        var visited = 0
        #expect(throws: Stop.self) {
            try Self.sample().forEach { (_) throws(Stop) in
                visited += 1
                if visited == 3 { throw Stop(at: visited) }
            }
        }
        #expect(visited == 3)
    }

    @Test("puts and deletes from raw buffers encode like those from arrays, and a borrowed operation appends as itself")
    func rawBuffers() {
        var fromArrays = WriteBatch()
        fromArrays.put(Array("k1".utf8), Array("v1".utf8))
        fromArrays.delete(Array("k2".utf8))
        var fromBuffers = WriteBatch()
        Array("k1".utf8).withUnsafeBytes { key in Array("v1".utf8).withUnsafeBytes { fromBuffers.put(key, $0) } }
        Array("k2".utf8).withUnsafeBytes { fromBuffers.delete($0) }
        #expect(fromBuffers == fromArrays)
        var copied = WriteBatch()
        fromArrays.forEach { copied.append($0) }
        #expect(copied == fromArrays)
        #expect(copied.byteSize == 6)
    }

    @Test("lastWriteWins keeps each key once: its last operation, at its first place")
    func lastWriteWins() {
        let batch = Self.sample()  // "alpha" first put "one", last put "two"
        let deduplicated = batch.lastWriteWins()
        #expect(deduplicated.count == 5)
        #expect(deduplicated.operations.first == WriteBatch.Operation(kind: .value, key: Array("alpha".utf8), value: Array("two".utf8)))
        #expect(Array(deduplicated.operations.dropFirst()) == Array(batch.operations.dropFirst().dropLast()))
        #expect(deduplicated.byteSize == batch.byteSize - 8)

        // A delete after a put of the same key wins; a batch without repeats is returned as is.
        var mixed = WriteBatch()
        mixed.put(Array("a".utf8), Array("1".utf8))
        mixed.put(Array("b".utf8), Array("2".utf8))
        mixed.delete(Array("a".utf8))
        #expect(mixed.lastWriteWins().operations == [
            WriteBatch.Operation(kind: .deletion, key: Array("a".utf8)),
            WriteBatch.Operation(kind: .value, key: Array("b".utf8), value: Array("2".utf8)),
        ])
        var distinct = WriteBatch()
        for i in 0..<100 { distinct.put([UInt8(i), 7], [UInt8(i)]) }
        #expect(distinct.lastWriteWins() == distinct)

        // Against a model, over random batches with many repeats (collisions in the table).
        var rng = TestRandom(seed: 5)
        var mismatches = 0
        for _ in 0..<200 {
            var random = WriteBatch()
            var order: [[UInt8]] = []
            var last: [[UInt8]: WriteBatch.Operation] = [:]
            for _ in 0..<Int.random(in: 2...60, using: &rng) {
                let key = [UInt8(Int.random(in: 0..<12, using: &rng))]
                let op = Bool.random(using: &rng)
                    ? WriteBatch.Operation(kind: .value, key: key, value: rng.bytes(Int.random(in: 0...5, using: &rng)))
                    : WriteBatch.Operation(kind: .deletion, key: key)
                random.append(op)
                if last.updateValue(op, forKey: key) == nil { order.append(key) }
            }
            if random.lastWriteWins().operations != order.map({ last[$0]! }) { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }
}

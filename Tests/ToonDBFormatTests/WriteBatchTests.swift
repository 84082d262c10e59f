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
}

import Testing
import ToonDBFormat

@Suite("Coding: varints, fixed-width integers, ByteReader")
struct CodingTests {
    static let varintEdges: [(UInt64, [UInt8])] = [
        (0, [0x00]),
        (1, [0x01]),
        (127, [0x7F]),
        (128, [0x80, 0x01]),
        (255, [0xFF, 0x01]),
        (300, [0xAC, 0x02]),
        (16_383, [0xFF, 0x7F]),
        (16_384, [0x80, 0x80, 0x01]),
        (UInt64(UInt32.max), [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
        (UInt64(1) << 63, [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
        (UInt64.max, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
    ]

    @Test("varint encodings of edge values are the LEB128 bytes", arguments: CodingTests.varintEdges)
    func varintEdgeValues(value: UInt64, expected: [UInt8]) {
        var bytes: [UInt8] = []
        bytes.appendVarint(value)
        #expect(bytes == expected)
        #expect(varintLength(value) == expected.count)
        let decoded = decode(bytes) { (r) throws(StorageError) in try r.readVarint() }
        #expect(decoded.value == value)
        #expect(decoded.position == expected.count)
    }

    @Test("varints round trip: every power-of-two boundary and random values, back to back")
    func varintRoundTrip() {
        var values: [UInt64] = [0, 1, 127, 128, UInt64.max, UInt64.max - 1]
        for shift in 1..<64 {
            let p = UInt64(1) << UInt64(shift)
            values += [p - 1, p, p + 1]
        }
        var rng = TestRandom(seed: 11)
        for _ in 0..<2000 {
            values.append(UInt64.random(in: 0...UInt64.max, using: &rng) >> UInt64.random(in: 0...63, using: &rng))
        }
        var bytes: [UInt8] = []
        var expectedLength = 0
        for v in values {
            bytes.appendVarint(v)
            expectedLength += varintLength(v)
        }
        #expect(bytes.count == expectedLength)
        let decoded = decode(bytes) { (r) throws(StorageError) -> [UInt64] in
            var out: [UInt64] = []
            while !r.isAtEnd { out.append(try r.readVarint()) }
            return out
        }
        #expect(decoded.value == values)
        #expect(decoded.position == bytes.count)
    }

    @Test("fixed32 and fixed64 are little-endian and round trip")
    func fixedRoundTrip() {
        var bytes: [UInt8] = []
        bytes.appendFixed32(0x0102_0304)
        bytes.appendFixed64(0x0102_0304_0506_0708)
        #expect(bytes == [4, 3, 2, 1, 8, 7, 6, 5, 4, 3, 2, 1])

        let values32: [UInt32] = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xDEAD_BEEF, UInt32.max]
        let values64: [UInt64] = [0, 1, 0xFF, 0x1_0000_0000, 0xDEAD_BEEF_CAFE_F00D, UInt64.max]
        var all: [UInt8] = [0x55]  // one leading byte so the loads below are unaligned
        for v in values32 { all.appendFixed32(v) }
        for v in values64 { all.appendFixed64(v) }
        #expect(all.count == 1 + 4 * values32.count + 8 * values64.count)
        let decoded = decode(all) { (r) throws(StorageError) -> ([UInt32], [UInt64]) in
            _ = try r.readByte()
            var a: [UInt32] = []
            var b: [UInt64] = []
            for _ in values32 { a.append(try r.readFixed32()) }
            for _ in values64 { b.append(try r.readFixed64()) }
            return (a, b)
        }
        #expect(decoded.value?.0 == values32)
        #expect(decoded.value?.1 == values64)
        #expect(decoded.position == all.count)

        // loadFixed at an unaligned offset, and storeFixed32 overwriting in place.
        let loaded = all.withUnsafeBytes { (loadFixed32($0.baseAddress!, 1), loadFixed64($0.baseAddress!, 1 + 4 * values32.count)) }
        #expect(loaded.0 == values32[0])
        #expect(loaded.1 == values64[0])
        var patch: [UInt8] = [9, 9, 9, 9, 9, 9]
        patch.storeFixed32(0xA1B2_C3D4, at: 1)
        #expect(patch == [9, 0xD4, 0xC3, 0xB2, 0xA1, 9])
    }

    @Test("every truncated varint throws .corruption naming the context, not a trap")
    func truncatedVarint() {
        var full: [UInt8] = []
        full.appendVarint(UInt64.max)
        var failures: [StorageError] = []
        var successes = 0
        for length in 0..<full.count {
            let decoded = decode(Array(full.prefix(length)), context: "varint probe") { (r) throws(StorageError) in try r.readVarint() }
            if let error = decoded.error { failures.append(error) } else { successes += 1 }
        }
        #expect(successes == 0)
        #expect(failures.count == full.count)
        var unexpected: [StorageError] = []
        for error in failures where error.code != .corruption || !error.message.contains("varint probe") || !error.message.contains("truncated") {
            unexpected.append(error)
        }
        #expect(unexpected.isEmpty, "\(unexpected)")
        let lone = decode([0x80], context: "x") { (r) throws(StorageError) in try r.readVarint() }
        #expect(lone.error?.code == .corruption)
    }

    static let overlong: [[UInt8]] = [
        [UInt8](repeating: 0xFF, count: 9) + [0x02],          // 10th byte carries bits past 64
        [UInt8](repeating: 0x80, count: 9) + [0x7F],          // the same with zeros below
        [UInt8](repeating: 0x80, count: 10) + [0x00],         // 11 bytes (a continuation on the 10th)
        [UInt8](repeating: 0xFF, count: 20),                  // never terminates
    ]

    @Test("over-long varints throw .corruption", arguments: CodingTests.overlong)
    func overlongVarint(bytes: [UInt8]) {
        let decoded = decode(bytes, context: "overlong") { (r) throws(StorageError) in try r.readVarint() }
        #expect(decoded.error?.code == .corruption)
        #expect(decoded.error?.message.contains("overlong") == true)
        #expect(decoded.position <= 10, "the reader stops at the 10th byte")
    }

    @Test("fixed-width reads, slices and byte reads past the end throw .corruption")
    func truncatedFixedAndSlices() {
        let three: [UInt8] = [1, 2, 3]
        let seven: [UInt8] = [1, 2, 3, 4, 5, 6, 7]
        let f32 = decode(three, context: "fixed32 probe") { (r) throws(StorageError) in try r.readFixed32() }
        let f64 = decode(seven, context: "fixed64 probe") { (r) throws(StorageError) in try r.readFixed64() }
        let byte = decode([]) { (r) throws(StorageError) in try r.readByte() }
        let slice = decode(three) { (r) throws(StorageError) in try r.readBytes(4) }
        let negative = decode(three) { (r) throws(StorageError) in try r.readSlice(-1).count }
        let exact = decode(three) { (r) throws(StorageError) in try r.readBytes(3) }
        #expect(f32.error?.code == .corruption)
        #expect(f32.error?.message.contains("fixed32 probe") == true)
        #expect(f32.position == 0, "a failed read does not advance")
        #expect(f64.error?.code == .corruption)
        #expect(f64.error?.message.contains("fixed64 probe") == true)
        #expect(byte.error?.code == .corruption)
        #expect(slice.error?.code == .corruption)
        #expect(negative.error?.code == .corruption)
        #expect(exact.value == three)
        #expect(exact.position == 3)
    }

    @Test("length-prefixed reads check the length against the data and the limit")
    func lengthPrefixed() {
        var good: [UInt8] = []
        good.appendLengthPrefixed([UInt8](repeating: 7, count: 200))
        good.appendLengthPrefixed([])
        let both = decode(good) { (r) throws(StorageError) in [try r.readLengthPrefixed(), try r.readLengthPrefixed()] }
        #expect(both.value == [[UInt8](repeating: 7, count: 200), []])
        #expect(both.position == good.count)

        var short: [UInt8] = []
        short.appendVarint(5)
        short += [1, 2, 3]
        let truncated = decode(short) { (r) throws(StorageError) in try r.readLengthPrefixed() }
        #expect(truncated.error?.code == .corruption)

        var huge: [UInt8] = []
        huge.appendVarint(UInt64.max)
        let overLimit = decode(huge, context: "lengths") { (r) throws(StorageError) in try r.readLength() }
        #expect(overLimit.error?.code == .corruption)
        #expect(overLimit.error?.message.contains("exceeds") == true)

        var thousand: [UInt8] = []
        thousand.appendVarint(1000)
        let limited = decode(thousand) { (r) throws(StorageError) in try r.readLength(limit: 999) }
        let atLimit = decode(thousand) { (r) throws(StorageError) in try r.readLength(limit: 1000) }
        #expect(limited.error?.code == .corruption)
        #expect(atLimit.value == 1000)
    }
}

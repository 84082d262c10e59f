import Testing
import ToonDBFormat

@Suite("CRC32C")
struct ChecksumTests {
    @Test("known vectors (RFC 3720 and the standard check value)")
    func knownVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        let ascending: [UInt8] = Array(0..<32)
        let descending: [UInt8] = Array((0..<32).reversed())
        #expect(CRC32C.checksum(ascending) == 0x46DD_794E)
        #expect(CRC32C.checksum(descending) == 0x113F_DB5C)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        // The reference implementation agrees on the same vectors (so it can judge the rest).
        #expect(referenceCRC32C(Array("123456789".utf8)) == 0xE306_9283)
        #expect(referenceCRC32C([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    }

    /// The (start, length) slices of `data`, at every alignment 0..<8, whose checksum differs
    /// from the bitwise reference.
    func mismatches(_ data: [UInt8], lengths: [Int]) -> [String] {
        var found: [String] = []
        for start in 0..<8 {
            for length in lengths {
                let slice = data[start..<(start + length)]
                if CRC32C.checksum(slice) != referenceCRC32C(Array(slice)) { found.append("start \(start) length \(length)") }
            }
        }
        return found
    }

    @Test("every length from 0 to 300 at every alignment 0..<8 matches the bitwise reference")
    func matchesReference() {
        var rng = TestRandom(seed: 3)
        let found = mismatches(rng.bytes(320), lengths: Array(0...300))
        #expect(found.isEmpty, "\(found.prefix(5))")
    }

    @Test("lengths around the three-lane runs (2016 bytes) and block sizes match the bitwise reference at every alignment")
    func interleavedLengths() {
        var rng = TestRandom(seed: 6)
        let found = mismatches(rng.bytes(12_300), lengths: [2015, 2016, 2017, 2023, 2024, 4031, 4032, 4033, 4096, 4101, 6048, 6049, 12_000])
        #expect(found.isEmpty, "\(found.prefix(5))")
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 4096)) == referenceCRC32C([UInt8](repeating: 0, count: 4096)))
    }

    @Test("extending a checksum equals checksumming the concatenation")
    func extending() {
        var rng = TestRandom(seed: 4)
        let data = rng.bytes(5000)
        let whole = CRC32C.checksum(data)
        #expect(whole == referenceCRC32C(data))
        var split: [Int] = []
        for cut in [0, 1, 7, 8, 63, 64, 1000, 4999, 5000] {
            let first = CRC32C.checksum(Array(data[..<cut]))
            let combined = CRC32C.checksum(data[cut...], extending: first)
            if combined != whole { split.append(cut) }
        }
        #expect(split.isEmpty)
        let raw = data.withUnsafeBytes { CRC32C.checksum($0) }
        #expect(raw == whole)
    }

    @Test("mask/unmask round trip, and masking changes the value")
    func masking() {
        var rng = TestRandom(seed: 5)
        var values: [UInt32] = [0, 1, UInt32.max, 0xA282_EAD8, 0xE306_9283, 0x8000_0000]
        for _ in 0..<1000 { values.append(UInt32.random(in: 0...UInt32.max, using: &rng)) }
        var notRoundTripping: [UInt32] = []
        var fixedPoints: [UInt32] = []
        for value in values {
            if CRC32C.unmask(CRC32C.mask(value)) != value || CRC32C.mask(CRC32C.unmask(value)) != value { notRoundTripping.append(value) }
            if CRC32C.mask(value) == value { fixedPoints.append(value) }
        }
        #expect(notRoundTripping.isEmpty)
        #expect(fixedPoints.isEmpty)
        #expect(CRC32C.mask(0) == 0xA282_EAD8)
        // Rotate right by 15, then add the constant (the LevelDB convention).
        #expect(CRC32C.mask(0x0000_8000) == 1 &+ 0xA282_EAD8)
    }
}

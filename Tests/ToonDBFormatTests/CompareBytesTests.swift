import Testing
import ToonDBTestSupport
@testable import ToonDBFormat

/// `compareBytes` (inline big-endian words for the first 16 bytes, memcmp after) against
/// Swift's lexicographic comparison of byte arrays.
@Suite struct CompareBytesTests {
    @Test func agreesWithLexicographicOrder() {
        var random = SeededRandom(seed: 11)
        // Small alphabets (0, 1, 0x7F, 0x80, 0xFF) make shared prefixes, equal words and
        // sign-bit differences common; lengths cross the 8- and 16-byte word boundaries.
        let alphabet: [UInt8] = [0, 1, 0x7F, 0x80, 0xFF]
        for _ in 0..<50_000 {
            let a = (0..<Int.random(in: 0...24, using: &random)).map { _ in alphabet.randomElement(using: &random)! }
            var b = a
            switch Int.random(in: 0..<3, using: &random) {
            case 0: b = (0..<Int.random(in: 0...24, using: &random)).map { _ in alphabet.randomElement(using: &random)! }
            case 1: if !b.isEmpty { b[Int.random(in: 0..<b.count, using: &random)] = alphabet.randomElement(using: &random)! }
            default: b = Array(b.prefix(Int.random(in: 0...b.count, using: &random)))
            }
            let expected = a == b ? 0 : (a.lexicographicallyPrecedes(b) ? -1 : 1)
            let got = compareBytes(a, b).signum()
            #expect(got == expected, "compareBytes(\(a), \(b)) = \(got), want \(expected)")
            if got != expected { return }
        }
    }
}

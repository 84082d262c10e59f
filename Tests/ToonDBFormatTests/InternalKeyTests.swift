import Testing
import ToonDBFormat

@Suite("Internal keys")
struct InternalKeyTests {
    static func compare(_ a: [UInt8], _ b: [UInt8]) -> Int {
        a.withUnsafeBytes { x in b.withUnsafeBytes { y in InternalKey.compare(x, y) } }
    }

    @Test("encoding is the user key then a little-endian trailer lsn << 8 | kind")
    func encoding() {
        let key = InternalKey.encode(Array("ab".utf8), 0x01_0203, .value)
        #expect(key == [0x61, 0x62, 0x01, 0x03, 0x02, 0x01, 0, 0, 0, 0])
        let tombstone = InternalKey.encode([0x7A], 5, .deletion)
        #expect(tombstone == [0x7A, 0x00, 5, 0, 0, 0, 0, 0, 0])
        #expect(InternalKey.trailer(InternalKey.maxLSN, .value) == 0xFFFF_FFFF_FFFF_FF01)
        let parts = key.withUnsafeBytes { ([UInt8](InternalKey.userKey($0)), InternalKey.trailer(of: $0)) }
        #expect(parts.0 == Array("ab".utf8))
        #expect(parts.1 == 0x01_0203 << 8 | 1)
        let empty = InternalKey.encode([UInt8](), 9, .value)
        #expect(empty.count == 8)
    }

    @Test("the same user key sorts by LSN descending; at one LSN a value precedes a tombstone")
    func sameUserKey() {
        let k = Array("key".utf8)
        #expect(Self.compare(InternalKey.encode(k, 10, .value), InternalKey.encode(k, 9, .value)) < 0)
        #expect(Self.compare(InternalKey.encode(k, 9, .value), InternalKey.encode(k, 10, .deletion)) > 0)
        #expect(Self.compare(InternalKey.encode(k, InternalKey.maxLSN, .value), InternalKey.encode(k, 0, .value)) < 0)
        #expect(Self.compare(InternalKey.encode(k, 7, .value), InternalKey.encode(k, 7, .deletion)) < 0)
        #expect(Self.compare(InternalKey.encode(k, 7, .value), InternalKey.encode(k, 7, .value)) == 0)
    }

    @Test("different user keys sort bytewise (unsigned, shorter prefix first) whatever the LSNs")
    func userKeysBytewise() {
        let pairs: [([UInt8], [UInt8])] = [
            (Array("a".utf8), Array("b".utf8)),
            (Array("a".utf8), Array("ab".utf8)),
            (Array("ab".utf8), Array("b".utf8)),
            ([0x00], [0x01]),
            ([0x7F], [0x80]),            // unsigned: 0x80 is larger
            ([0x01, 0xFF], [0x02]),
            ([], [0x00]),
        ]
        var wrong: [String] = []
        for (small, large) in pairs {
            for (ls, ll) in [(LSN(1), LSN(100)), (100, 1), (5, 5)] {
                if Self.compare(InternalKey.encode(small, ls, .value), InternalKey.encode(large, ll, .deletion)) >= 0 { wrong.append("\(small) < \(large) @\(ls),\(ll)") }
                if Self.compare(InternalKey.encode(large, ll, .value), InternalKey.encode(small, ls, .value)) <= 0 { wrong.append("\(large) > \(small)") }
            }
            if compareBytes(small, large) >= 0 || compareBytes(large, small) <= 0 { wrong.append("compareBytes \(small) \(large)") }
        }
        #expect(wrong.isEmpty, "\(wrong)")
        #expect(compareBytes(Array("same".utf8), Array("same".utf8)) == 0)
    }

    @Test("sorting random internal keys agrees with (user key asc, LSN desc, kind desc)")
    func randomOrder() {
        var rng = TestRandom(seed: 99)
        var entries: [([UInt8], LSN, ValueKind)] = []
        for _ in 0..<2000 {
            let key = rng.bytes(Int.random(in: 0...4, using: &rng)).map { $0 % 4 }   // many shared keys and prefixes
            entries.append((key, LSN.random(in: 0...50, using: &rng), Bool.random(using: &rng) ? .value : .deletion))
        }
        let byInternal = entries.map { InternalKey.encode($0.0, $0.1, $0.2) }.sorted { Self.compare($0, $1) < 0 }
        let byModel = entries.sorted { a, b in
            if a.0 != b.0 { return a.0.lexicographicallyPrecedes(b.0) }
            if a.1 != b.1 { return a.1 > b.1 }
            return a.2.rawValue > b.2.rawValue
        }.map { InternalKey.encode($0.0, $0.1, $0.2) }
        #expect(byInternal == byModel)
    }
}

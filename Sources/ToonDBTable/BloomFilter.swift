import ToonDBFormat

/// The 64-bit hash of the bloom filter (part of the file format; see docs/sstable-format.md).
///
/// Reads the key in little-endian 8-byte words; each word is multiplied, folded into the
/// state and rotated; the tail (1 to 7 bytes) forms one more word; the length is mixed in at
/// the start and a SplitMix64-style finalizer spreads the bits at the end.
func tableHash64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    let m1: UInt64 = 0x9E37_79B9_7F4A_7C15
    let m2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    let count = bytes.count
    var h: UInt64 = 0x27D4_EB2F_1656_67C5 ^ (UInt64(truncatingIfNeeded: count) &* m1)
    guard let base = bytes.baseAddress else { return tableHashFinalize(h) }
    var i = 0
    while i &+ 8 <= count {
        let word = loadFixed64(base, i)
        h ^= word &* m2
        h = ((h << 31) | (h >> 33)) &* m1
        i &+= 8
    }
    if i < count {
        var word: UInt64 = 0
        var shift: UInt64 = 0
        while i < count {
            word |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << shift
            shift &+= 8
            i &+= 1
        }
        h ^= word &* m2
        h = ((h << 31) | (h >> 33)) &* m1
    }
    return tableHashFinalize(h)
}

/// The SplitMix64 finalizer: spreads every input bit over the output.
@inline(__always)
func tableHashFinalize(_ value: UInt64) -> UInt64 {
    var x = value
    x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
    x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
    return x ^ (x >> 31)
}

/// The bloom filter of one table, over user keys: a blocked bloom filter, where all the
/// probes of a key fall in one 64-byte (512-bit) cache line, so a lookup costs one cache
/// miss however many probes it makes.
///
/// Encoding: `64 * B` bytes of bit array (B >= 1 blocks), then one byte: the number of
/// probes `k`. For a key with 64-bit hash `h` (``tableHash64(_:)``):
///
///     block = (UInt64(UInt32(h >> 32)) * B) >> 32          // fastrange32 of the high half
///     x     = UInt32(truncatingIfNeeded: h)                 // the low half
///     delta = (x >> 17) | (x << 15)                         // rotate right by 17
///     repeat k times: set bit (x & 511) of the block; x = x &+ delta
///
/// Bit `b` of a block is bit `b & 7` of byte `b >> 3` of the block.
final class BloomFilter: @unchecked Sendable {
    /// Bytes per block (one cache line).
    static let blockBytes = 64
    private let bits: UnsafeMutableRawPointer
    private let blockCount: UInt64
    private let probes: Int

    /// Parses a filter block's contents (copied). A probe count outside 1...30 (a future
    /// encoding) or a bit array that is not a whole number of blocks makes a filter that
    /// matches everything.
    init(_ contents: UnsafeRawBufferPointer) {
        let byteCount = Swift.max(contents.count - 1, 0)
        bits = .allocate(byteCount: Swift.max(byteCount, 1), alignment: Self.blockBytes)
        if byteCount > 0, let source = contents.baseAddress { bits.copyMemory(from: source, byteCount: byteCount) }
        let valid = byteCount > 0 && byteCount % Self.blockBytes == 0
        blockCount = valid ? UInt64(byteCount / Self.blockBytes) : 0
        probes = contents.isEmpty ? 0 : Int(contents[contents.count - 1])
    }

    deinit { bits.deallocate() }

    func mayContain(_ userKey: UnsafeRawBufferPointer) -> Bool {
        guard probes >= 1, probes <= 30, blockCount > 0 else { return true }
        return mayContain(hash: tableHash64(userKey))
    }

    @inline(__always)
    func mayContain(hash: UInt64) -> Bool {
        let block = bits + Int((UInt64(UInt32(truncatingIfNeeded: hash >> 32)) &* blockCount) >> 32) &* Self.blockBytes
        var x = UInt32(truncatingIfNeeded: hash)
        let delta = ((x >> 17) | (x << 15)) | 1
        for _ in 0..<probes {
            let bit = Int(x & 511)
            if block.load(fromByteOffset: bit >> 3, as: UInt8.self) & (1 << UInt8(bit & 7)) == 0 { return false }
            x &+= delta
        }
        return true
    }

    /// The number of probes for `bitsPerKey`: round(bitsPerKey * ln 2), clamped to 1...30.
    static func probeCount(bitsPerKey: Int) -> Int {
        Swift.min(30, Swift.max(1, Int((Double(bitsPerKey) * 0.693_147_180_559_945_3).rounded())))
    }

    /// Builds a filter block's contents from the hashes of the distinct user keys:
    /// ceil(keys * bitsPerKey / 512) blocks (at least one).
    static func build(hashes: [UInt64], bitsPerKey: Int) -> [UInt8] {
        let probes = probeCount(bitsPerKey: bitsPerKey)
        let blockBits = blockBytes * 8
        let blocks = Swift.max(1, (hashes.count &* bitsPerKey + blockBits - 1) / blockBits)
        let byteCount = blocks * blockBytes
        var bytes = [UInt8](repeating: 0, count: byteCount + 1)
        let count = UInt64(blocks)
        bytes.withUnsafeMutableBytes { raw in
            for hash in hashes {
                let block = Int((UInt64(UInt32(truncatingIfNeeded: hash >> 32)) &* count) >> 32) &* blockBytes
                var x = UInt32(truncatingIfNeeded: hash)
                let delta = ((x >> 17) | (x << 15)) | 1
                for _ in 0..<probes {
                    let bit = Int(x & 511)
                    raw[block + (bit >> 3)] |= 1 << UInt8(bit & 7)
                    x &+= delta
                }
            }
            raw[byteCount] = UInt8(probes)
        }
        return bytes
    }
}

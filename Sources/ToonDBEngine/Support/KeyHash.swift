/// A 64-bit hash of a user key: 8-byte words multiplied in, then a final avalanche (the
/// MurmurHash3 finalizer), so every bit range is well spread: the memtable index takes the
/// slot from the low bits and a tag from the high ones; the row cache picks shard, slot and
/// doorkeeper bits from it.
@inline(__always)
func keyHash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
    var offset = 0
    let count = bytes.count
    while offset + 8 <= count {
        h = (h ^ bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
        h = (h << 31) | (h >> 33)
        offset += 8
    }
    if offset < count {
        var tail: UInt64 = 0
        for i in offset..<count { tail = tail << 8 | UInt64(bytes[i]) }
        h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
    }
    h ^= h >> 33
    h &*= 0xFF51_AFD7_ED55_8CCD
    h ^= h >> 33
    h &*= 0xC4CE_B9FE_1A85_EC53
    h ^= h >> 33
    return h
}

import ToonDBFormat

/// The index block's separators as a dense array of 8-byte integers, built when a table is
/// opened, so a point lookup finds its data block by a binary search over integers instead of
/// over the index's entries (each step a cache miss into the block and a key comparison).
///
/// All separators of a table share a user-key prefix (that of the first and the last). Fence
/// `i` is the 8 bytes of separator `i`'s user key after that prefix, big-endian, zero-padded:
/// a key that sorts before another never has a larger fence, so fences order the entries up to
/// ties. Ties (equal fences) are settled by comparing the entries themselves.
struct IndexFences: Sendable {
    private let fences: [UInt64]
    private let prefix: [UInt8]

    /// Fences over `index` (an index block: every entry a restart point with a full key), or
    /// nil when it has no entries or one does not decode (lookups then search the block itself,
    /// which reports the damage).
    init?(index: Block) {
        guard index.restartCount > 0 else { return nil }
        var cursor = BlockCursorCore(key: KeyBuffer(capacity: 64))
        defer { cursor.key.release() }
        cursor.attach(index)
        func userKey(_ i: Int) -> [UInt8]? {
            cursor.key.count = 0
            guard (try? cursor.decode(at: index.restart(i))) != nil else { return nil }
            return [UInt8](InternalKey.userKey(cursor.keyBytes))
        }
        guard let first = userKey(0), let last = userKey(index.restartCount - 1) else { return nil }
        let shared = zip(first, last).prefix { $0 == $1 }.count
        prefix = Array(first[..<shared])
        var fences: [UInt64] = []
        fences.reserveCapacity(index.restartCount)
        for i in 0..<index.restartCount {
            cursor.key.count = 0
            guard (try? cursor.decode(at: index.restart(i))) != nil else { return nil }
            fences.append(Self.fence(InternalKey.userKey(cursor.keyBytes), from: shared))
        }
        self.fences = fences
    }

    /// The 8 bytes of `userKey` from `start` on, big-endian, zero-padded.
    @inline(__always)
    static func fence(_ userKey: UnsafeRawBufferPointer, from start: Int) -> UInt64 {
        let available = userKey.count - start
        if available >= 8 { return UInt64(bigEndian: userKey.loadUnaligned(fromByteOffset: start, as: UInt64.self)) }
        var value: UInt64 = 0
        for i in 0..<8 { value = value << 8 | UInt64(i < available ? userKey[start + i] : 0) }
        return value
    }

    /// The first entry of `index` whose key is >= `target` (an internal key), or the entry
    /// count when every key is smaller: what a seek of `index` lands on.
    func firstEntry(atLeast target: UnsafeRawBufferPointer, in index: Block, cursor: inout BlockCursorCore) throws(BlockDecodeError) -> Int {
        let userKey = InternalKey.userKey(target)
        let count = fences.count
        // A user key without the common prefix (shorter ones included) sorts before or after
        // every entry.
        let order = prefix.withUnsafeBytes { prefix in
            compareBytes(UnsafeRawBufferPointer(rebasing: userKey.prefix(prefix.count)), prefix)
        }
        if order < 0 { return 0 }
        if order > 0 { return count }
        let fence = Self.fence(userKey, from: prefix.count)
        // [low, high): the entries whose fence equals the target's.
        let (low, high) = fences.withUnsafeBufferPointer { fences in
            (Self.partition(fences) { $0 < fence }, Self.partition(fences) { $0 <= fence })
        }
        // Ties: the entries themselves decide.
        var first = low, last = high
        while first < last {
            let mid = (first + last) >> 1
            cursor.key.count = 0
            try cursor.decode(at: index.restart(mid))
            if InternalKey.compare(cursor.keyBytes, target) < 0 { first = mid + 1 } else { last = mid }
        }
        return first
    }

    /// The first index whose fence fails `isBefore` (which holds for a prefix of `fences`).
    @inline(__always)
    private static func partition(_ fences: UnsafeBufferPointer<UInt64>, _ isBefore: (UInt64) -> Bool) -> Int {
        var low = 0, high = fences.count
        while low < high {
            let mid = (low + high) >> 1
            if isBefore(fences[mid]) { low = mid + 1 } else { high = mid }
        }
        return low
    }
}

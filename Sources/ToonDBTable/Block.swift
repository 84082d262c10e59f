#if canImport(Glibc)
import Glibc
#endif
import CToonDBPrefetch
import ToonDBFormat

/// A parsed, immutable block (data or index): its contents in memory it owns, and the
/// position of the restart array.
///
/// Layout: entries, then `restartCount` u32 offsets of the restart points, then
/// `restartCount` u32. Each entry is `shared varint | unshared varint | value_len varint |
/// key delta | value`; at a restart point `shared` is 0.
///
/// The bytes live in a raw allocation (not an array) so iterators can hand out stable
/// pointers into them: the very buffer the block was read into, either its own or a
/// ``BlockRun`` shared with the blocks read together with it.
final class Block: @unchecked Sendable {
    /// The contents and their layout, valid while the block is alive (the allocation may be
    /// longer than `bytes.size`, e.g. hold the trailer).
    let bytes: BlockBytes
    /// The block's own allocation (freed with it), or nil when `run` holds the bytes.
    private let allocation: UnsafeMutableRawPointer?
    private let run: BlockRun?

    /// The block's offset in its file (for error messages and as the cache key).
    var fileOffset: Int64 { bytes.fileOffset }

    /// Bytes charged to the block cache.
    var charge: Int { bytes.size + TableFormat.blockTrailerSize + 96 }

    /// A block at `base`, in memory it owns (`allocation`, deallocated with the block) or in a
    /// `run` it keeps alive. The contents must have been validated by ``validate(_:size:)``.
    private init(base: UnsafeRawPointer, allocation: UnsafeMutableRawPointer?, run: BlockRun?, size: Int,
                 layout: (restartsOffset: Int, restartCount: Int), fileOffset: Int64) {
        self.allocation = allocation
        self.run = run
        bytes = BlockBytes(base: base, size: size, layout: layout, fileOffset: fileOffset)
    }

    deinit { allocation?.deallocate() }

    /// Whether the bytes live in a ``BlockRun`` shared with other blocks.
    var isInRun: Bool { run != nil }

    /// The same block in memory of its own. The block cache swaps a run's block for this at
    /// its first hit, so a block that stays cached does not keep its whole run (up to 256 KiB)
    /// allocated after the others are evicted.
    func owningCopy() -> Block {
        let copy = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(bytes.size, 1), alignment: 16)
        copy.copyMemory(from: bytes.base, byteCount: bytes.size)
        return Block(base: UnsafeRawPointer(copy), allocation: copy, run: nil, size: bytes.size,
                     layout: (bytes.restartsOffset, bytes.restartCount), fileOffset: bytes.fileOffset)
    }

    /// Checks the restart array of `size` bytes at `base`; returns where it starts and how
    /// many restarts it has. A block without entries has `restartCount` 0.
    static func validate(_ base: UnsafeRawPointer, size: Int) -> (restartsOffset: Int, restartCount: Int)? {
        guard size >= 4 else { return nil }
        let count = Int(loadFixed32(base, size - 4))
        guard count <= (size - 4) / 4 else { return nil }
        let restartsOffset = size - 4 - 4 * count
        if restartsOffset == 0 { return (0, 0) }
        guard count >= 1, loadFixed32(base, restartsOffset) == 0 else { return nil }
        var previous: UInt32 = 0
        for i in 1..<count {
            let r = loadFixed32(base, restartsOffset + 4 * i)
            guard r > previous, Int(r) < restartsOffset else { return nil }
            previous = r
        }
        return (restartsOffset, count)
    }

    /// Wraps `allocation` (holding at least `size` bytes) as a block, or deallocates it and
    /// throws when the restart array is malformed.
    static func make(taking allocation: UnsafeMutableRawPointer, size: Int, fileOffset: Int64,
                     path: String, what: String) throws(StorageError) -> Block {
        do {
            return try make(base: UnsafeRawPointer(allocation), allocation: allocation, run: nil, size: size,
                            fileOffset: fileOffset, path: path, what: what)
        } catch {
            allocation.deallocate()
            throw error
        }
    }

    /// The block of `size` bytes at byte `start` of `run` (kept alive by the block), or throws
    /// when its restart array is malformed.
    static func make(in run: BlockRun, at start: Int, size: Int, fileOffset: Int64,
                     path: String, what: String) throws(StorageError) -> Block {
        try make(base: UnsafeRawPointer(run.bytes + start), allocation: nil, run: run, size: size,
                 fileOffset: fileOffset, path: path, what: what)
    }

    /// Validates the restart array at `base`, then wraps it (see the designated init).
    private static func make(base: UnsafeRawPointer, allocation: UnsafeMutableRawPointer?, run: BlockRun?, size: Int,
                             fileOffset: Int64, path: String, what: String) throws(StorageError) -> Block {
        guard let layout = validate(base, size: size) else {
            throw .corruption("\(what) block has a malformed restart array (\(size) bytes)", path: path, offset: fileOffset)
        }
        return Block(base: base, allocation: allocation, run: run, size: size, layout: layout, fileOffset: fileOffset)
    }
}

/// A validated block's bytes and restart array, borrowed from whoever owns the memory (a
/// ``Block``, or a table's mapping): a cursor reads a block through this, whatever holds it.
struct BlockBytes {
    let base: UnsafeRawPointer
    let size: Int
    let restartsOffset: Int
    let restartCount: Int
    /// The block's offset in its file (for error messages).
    let fileOffset: Int64

    init(base: UnsafeRawPointer, size: Int, layout: (restartsOffset: Int, restartCount: Int), fileOffset: Int64) {
        self.base = base
        self.size = size
        restartsOffset = layout.restartsOffset
        restartCount = layout.restartCount
        self.fileOffset = fileOffset
    }
}

/// Why a block's entries could not be decoded (turned into a ``StorageError`` naming the file
/// by the caller, which knows it).
struct BlockDecodeError: Error {
    var reason: String
    var position: Int
}

/// A growable key buffer for prefix decompression. It starts out either on the heap or in
/// caller-provided (e.g. stack) memory and moves to the heap when it has to grow.
/// A plain struct over raw memory: whoever creates it calls ``release()`` exactly once.
struct KeyBuffer {
    var pointer: UnsafeMutableRawPointer
    var capacity: Int
    var count: Int = 0
    private var owned: Bool

    init(capacity: Int) {
        let size = Swift.max(capacity, 32)
        pointer = .allocate(byteCount: size, alignment: 8)
        self.capacity = size
        owned = true
    }

    init(borrowing memory: UnsafeMutableRawBufferPointer) {
        pointer = memory.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 8)!
        capacity = memory.baseAddress == nil ? 0 : memory.count
        owned = false
    }

    /// Makes room for `needed` bytes, keeping the first `keep`.
    @inline(__always)
    mutating func reserve(_ needed: Int, keeping keep: Int) {
        if needed > capacity { grow(needed, keeping: keep) }
    }

    @inline(never)
    private mutating func grow(_ needed: Int, keeping keep: Int) {
        let newCapacity = Swift.max(needed, capacity * 2, 64)
        let newPointer = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 8)
        if keep > 0 { newPointer.copyMemory(from: pointer, byteCount: keep) }
        if owned { pointer.deallocate() }
        pointer = newPointer
        capacity = newCapacity
        owned = true
    }

    func release() { if owned { pointer.deallocate() } }

    @inline(__always) var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count) }
}

/// The decoding state of a position in a block: the cursor shared by iterators and point
/// lookups. It holds no reference to the block; its owner keeps the block alive.
struct BlockCursorCore {
    var base: UnsafeRawPointer
    /// End of the entries (start of the restart array).
    var limit: Int
    var restartsOffset: Int
    var restartCount: Int
    /// Offset of the current entry; `limit` when not positioned.
    var current: Int
    var nextOffset: Int
    var valueOffset: Int = 0
    var valueLength: Int = 0
    var key: KeyBuffer

    init(key: KeyBuffer) {
        base = UnsafeRawPointer(bitPattern: 8)!
        limit = 0
        restartsOffset = 0
        restartCount = 0
        current = 0
        nextOffset = 0
        self.key = key
    }

    mutating func attach(_ block: Block) { attach(block.bytes) }

    mutating func attach(_ block: BlockBytes) {
        base = block.base
        limit = block.restartsOffset
        restartsOffset = block.restartsOffset
        restartCount = block.restartCount
        current = limit
        nextOffset = limit
        key.count = 0
    }

    @inline(__always) var isValid: Bool { current < limit }

    @inline(__always) var keyBytes: UnsafeRawBufferPointer { key.bytes }

    @inline(__always) var valueBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + valueOffset, count: valueLength)
    }

    @inline(__always)
    private func restart(_ index: Int) -> Int { Int(loadFixed32(base, restartsOffset &+ 4 &* index)) }

    /// A varint of at most 32 bits at `p` (before `limit`).
    @inline(__always)
    private func readVarint32(_ p: inout Int) throws(BlockDecodeError) -> Int {
        var result = 0
        var shift = 0
        while true {
            guard p < limit, shift <= 28 else { throw BlockDecodeError(reason: "bad varint in entry header", position: p) }
            let byte = base.load(fromByteOffset: p, as: UInt8.self)
            p += 1
            result |= Int(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }

    /// Decodes the entry header at `offset`: (shared, unshared, value length, key delta start),
    /// with every length checked against the end of the entries.
    @inline(__always)
    private func header(at offset: Int) throws(BlockDecodeError) -> (shared: Int, unshared: Int, valueLength: Int, delta: Int) {
        var p = offset
        var shared: Int, unshared: Int, valueLength: Int
        if limit &- p >= 3 {
            let b0 = base.load(fromByteOffset: p, as: UInt8.self)
            let b1 = base.load(fromByteOffset: p &+ 1, as: UInt8.self)
            let b2 = base.load(fromByteOffset: p &+ 2, as: UInt8.self)
            if (b0 | b1 | b2) < 0x80 {
                shared = Int(b0); unshared = Int(b1); valueLength = Int(b2)
                p &+= 3
            } else {
                shared = try readVarint32(&p); unshared = try readVarint32(&p); valueLength = try readVarint32(&p)
            }
        } else {
            shared = try readVarint32(&p); unshared = try readVarint32(&p); valueLength = try readVarint32(&p)
        }
        guard unshared <= limit &- p, valueLength <= limit &- p &- unshared else {
            throw BlockDecodeError(reason: "entry overruns the block (key delta \(unshared), value \(valueLength))", position: offset)
        }
        return (shared, unshared, valueLength, p)
    }

    /// Decodes the entry at `offset` on top of the current key.
    @inline(__always)
    mutating func decode(at offset: Int) throws(BlockDecodeError) {
        let h = try header(at: offset)
        guard h.shared <= key.count else {
            throw BlockDecodeError(reason: "entry shares \(h.shared) bytes of a \(key.count)-byte key", position: offset)
        }
        let length = h.shared &+ h.unshared
        guard length >= 8 else { throw BlockDecodeError(reason: "key of \(length) bytes is shorter than its trailer", position: offset) }
        key.reserve(length, keeping: h.shared)
        (key.pointer + h.shared).copyMemory(from: base + h.delta, byteCount: h.unshared)
        key.count = length
        current = offset
        valueOffset = h.delta &+ h.unshared
        valueLength = h.valueLength
        nextOffset = valueOffset &+ h.valueLength
    }

    /// The full key stored at restart point `index`, without copying.
    @inline(__always)
    private func restartKey(_ index: Int) throws(BlockDecodeError) -> UnsafeRawBufferPointer {
        let offset = restart(index)
        let h = try header(at: offset)
        guard h.shared == 0, h.unshared >= 8 else {
            throw BlockDecodeError(reason: "restart entry has shared \(h.shared), key length \(h.unshared)", position: offset)
        }
        return UnsafeRawBufferPointer(start: base + h.delta, count: h.unshared)
    }

    mutating func invalidate() { current = limit; nextOffset = limit }

    mutating func seekToFirst() throws(BlockDecodeError) {
        key.count = 0
        if limit == 0 { invalidate(); return }
        try decode(at: 0)
    }

    mutating func next() throws(BlockDecodeError) {
        guard nextOffset < limit else { invalidate(); return }
        try decode(at: nextOffset)
    }

    /// Positions at the first entry whose internal key is >= `target` (at least 8 bytes),
    /// or invalidates when every entry is smaller. Returns the restart point the search
    /// started from plus the entries stepped over after it: in a block whose every entry is a
    /// restart point (the index), the position of the entry it lands on.
    @discardableResult
    mutating func seek(_ target: UnsafeRawBufferPointer) throws(BlockDecodeError) -> Int {
        if limit == 0 { invalidate(); return 0 }
        // The last restart point whose key is < target (or restart 0).
        var low = 0
        var high = restartCount - 1
        while low < high {
            let mid = (low + high + 1) >> 1
            if InternalKey.compare(try restartKey(mid), target) < 0 { low = mid } else { high = mid - 1 }
        }
        key.count = 0
        let start = restart(low)
        // The entries from that restart to the next are scanned in order: ask for all their
        // cache lines at once so that the misses overlap instead of following one another.
        let end = low &+ 1 < restartCount ? restart(low &+ 1) : limit
        if end > start { toondb_prefetch(base + start, end &- start) }
        try decode(at: start)
        var position = low
        while InternalKey.compare(key.bytes, target) < 0 {
            guard nextOffset < limit else { invalidate(); return position &+ 1 }
            try decode(at: nextOffset)
            position &+= 1
        }
        return position
    }
}

/// Memory holding consecutive blocks of a table read with one `pread` (a scan's read-ahead),
/// freed when the last block cut from it goes. A run of 64 KiB or more is an anonymous mapping
/// of its own, populated in one call (`MAP_POPULATE`): fresh memory faulted in page by page was
/// ~14% of a cold scan's profile, and populating it at once made cold and warm scans 5–8% faster.
final class BlockRun: @unchecked Sendable {
    let bytes: UnsafeMutableRawPointer
    let count: Int
    private let mapped: Bool

    init(count: Int) {
        self.count = count
        if count >= 64 << 10,
           let memory = mmap(nil, count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0),
           memory != UnsafeMutableRawPointer(bitPattern: -1) {
            bytes = memory
            mapped = true
        } else {
            bytes = .allocate(byteCount: Swift.max(count, 1), alignment: 16)
            mapped = false
        }
    }

    deinit {
        if mapped { munmap(bytes, count) } else { bytes.deallocate() }
    }
}

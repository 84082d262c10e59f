import Synchronization
import ToonDBFormat

/// What the tables of one version answer for a user key, cached: a point read that misses the
/// memtables looks here before it searches the tables (bloom filters, index blocks, the block
/// cache, a data block: in the server after 3M SETs over 100k keys, about 0.7 µs more per GET
/// than a memtable hit; BENCHMARKS.md).
///
/// **Validity.** An entry is the newest version of its key across the tables of the version
/// it was filled from (identified by ``Version/id``), or "none" (missing or deleted). Tables
/// never change, so the entry stays right as long as that version is current; any flush or
/// compaction installs a new version, and entries of older ones are never answered. A read
/// uses an entry only when its snapshot sees every table entry (snapshot >= the version's
/// largest LSN), since an older snapshot may need an older version of the key. Memtables are
/// always searched first, so writes since the version was installed take precedence.
///
/// **Admission.** A key is cached on its second miss within a while, not its first: a
/// doorkeeper bitmap per shard (a two-probe bloom filter, cleared once an eighth of its bits
/// are set) remembers hashes of recent misses.
/// A workload that reads each key once (a full random pass, a scan-like access) then costs
/// one bit test per miss instead of an allocation and an eviction.
///
/// **Bypass.** When few lookups are worth it (hits plus admitted misses under 1 in 20 over a
/// window of 65,536 lookups, counted per shard: 4,096 each of 16), the shard is asked only 1
/// time in 16 until a window says otherwise: a read-once workload then pays a hash and one
/// counter increment per read instead of a shard lock and a probe (the miss path cost random
/// reads ~6% before this). The counters are per shard, like the lock, so that threads reading
/// different keys do not all increment one shared counter.
///
/// **Eviction.** Each shard is bounded in bytes and evicts with CLOCK (a hit sets a bit).
final class RowCache: Sendable {
    /// The total capacity in bytes (0: disabled).
    let capacity: Int
    private let shards: [Box]
    private let shardMask: Int
    /// Lookups per shard between two bypass decisions.
    private let shardWindow: Int
    static let window = 1 << 16
    static let sampling = 16

    private final class Box: Sendable {
        let state: Mutex<Shard>
        /// Lookups so far; every window of them the bypass is decided again.
        let lookups = Atomic<Int>(0)
        /// Hits and admitted misses in the current window (among the lookups that asked).
        let useful = Atomic<Int>(0)
        let bypassing = Atomic<Bool>(false)

        init(capacity: Int) { state = Mutex(Shard(capacity: capacity)) }
        deinit { state.withLock { $0.removeAll() } }

        /// At the end of a window: bypass when under 1 in 20 of the lookups that asked were useful.
        func decideBypass(window: Int) {
            let asked = bypassing.load(ordering: .relaxed) ? window / RowCache.sampling : window
            let worth = useful.exchange(0, ordering: .relaxed)
            bypassing.store(worth &* 20 < asked, ordering: .relaxed)
        }
    }

    /// A cache of at most `capacity` bytes (keys, values and ~64 bytes per entry) over
    /// `shardCount` shards (rounded up to a power of two).
    init(capacity: Int, shardCount: Int = 16) {
        var count = 1
        while count < Swift.max(1, shardCount) { count <<= 1 }
        self.capacity = Swift.max(0, capacity)
        shardMask = count - 1
        shardWindow = Swift.max(1024, Self.window / count)
        shards = (0..<count).map { _ in Box(capacity: Swift.max(0, capacity) / count) }
    }

    var isEnabled: Bool { capacity > 0 }

    /// The hash's bits 48 and up pick the shard; the doorkeeper takes bits 16-47 and the slot
    /// the lowest ones, so none of them is constant within a shard.
    @inline(__always)
    private func shard(_ hash: UInt64) -> Box { shards[Int(truncatingIfNeeded: hash >> 48) & shardMask] }

    /// The outcome of ``lookup(_:version:_:)``.
    struct Lookup {
        /// The cache answered (`body` was called).
        var hit: Bool
        /// A miss of a key that missed recently: pass the tables' answer to ``insert(_:_:value:)``.
        var admit: Bool
        fileprivate var hash: UInt64
        fileprivate var version: UInt64
    }

    /// Calls `body` with the cached answer for `key` in version `version` (`nil`: the tables
    /// hold no live version of it), or records a miss. `body` runs under the shard's lock: it
    /// should only copy the value.
    func lookup(_ key: UnsafeRawBufferPointer, version: UInt64, _ body: (UnsafeRawBufferPointer?) -> Void) -> Lookup {
        let hash = keyHash(key)
        let box = shard(hash)
        let n = box.lookups.wrappingAdd(1, ordering: .relaxed).newValue
        if n & (shardWindow - 1) == 0 { box.decideBypass(window: shardWindow) }
        if n & (Self.sampling - 1) != 0 && box.bypassing.load(ordering: .relaxed) {
            return Lookup(hit: false, admit: false, hash: hash, version: version)
        }
        let result = box.state.withLock { (shard) -> Lookup in
            if shard.withCached(key, hash: hash, version: version, body) {
                return Lookup(hit: true, admit: false, hash: hash, version: version)
            }
            return Lookup(hit: false, admit: shard.admit(hash), hash: hash, version: version)
        }
        if result.hit || result.admit { box.useful.wrappingAdd(1, ordering: .relaxed) }
        return result
    }

    /// How many shards mostly skip their lookups now (see the type's documentation).
    var bypassingShards: Int { shards.reduce(0) { $0 + ($1.bypassing.load(ordering: .relaxed) ? 1 : 0) } }

    /// The number of shards.
    var shardCount: Int { shards.count }

    /// Keeps the tables' answer for the key of an admitted miss.
    func insert(_ key: UnsafeRawBufferPointer, _ miss: Lookup, value: UnsafeRawBufferPointer?) {
        shard(miss.hash).state.withLock { $0.insert(key, hash: miss.hash, version: miss.version, value: value) }
    }

    /// Counters summed over the shards.
    var statistics: (hits: Int, misses: Int, entries: Int, bytes: Int) {
        var total = (hits: 0, misses: 0, entries: 0, bytes: 0)
        for box in shards {
            box.state.withLock { s in
                total.hits += s.hits
                total.misses += s.misses
                total.entries += s.count
                total.bytes += s.usage
            }
        }
        return total
    }
}

/// One shard: entries in an array, found through an open-addressing table of entry indexes
/// (linear probing; removal shifts entries back instead of leaving tombstones). Each entry's
/// key and value are one allocation of their own, owned by the shard (freed when the entry
/// goes): a hit reads them without reference counting, which an array per entry cost (its
/// retain and release were a fifth of the server's GET 64x16 profile).
private struct Shard: @unchecked Sendable {  // its allocations are reached only under its lock
    struct Entry {
        var hash: UInt64
        var version: UInt64
        /// The key, then the value (nil once removed).
        var bytes: UnsafeMutableRawPointer?
        var keyCount: Int32
        var valueCount: Int32
        var hasValue: Bool
        var referenced: Bool

        var live: Bool { bytes != nil }
        var charge: Int { Int(keyCount) + Int(valueCount) + 64 }
        var key: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: bytes, count: Int(keyCount)) }
        var value: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: bytes.map { $0 + Int(keyCount) }, count: Int(valueCount)) }
    }

    static let doorkeeperBits = 1 << 16

    let capacity: Int
    var slots: [Int32] = Array(repeating: -1, count: 64)
    var entries: [Entry] = []
    var free: [Int32] = []
    var count = 0
    var usage = 0
    var hand = 0
    var hits = 0
    var misses = 0
    var doorkeeper = [UInt64](repeating: 0, count: doorkeeperBits / 64)
    var doorkeeperSet = 0

    init(capacity: Int) { self.capacity = capacity }

    /// The slot of `key` and its entry, or the empty slot where it would go and -1.
    func find(_ key: UnsafeRawBufferPointer, hash: UInt64) -> (slot: Int, entry: Int32) {
        let mask = slots.count &- 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let index = slots[slot]
            if index < 0 { return (slot, -1) }
            let i = Int(index)
            if entries[i].hash == hash && Int(entries[i].keyCount) == key.count && compareBytes(entries[i].key, key) == 0 {
                return (slot, index)
            }
            slot = (slot &+ 1) & mask
        }
    }

    mutating func withCached(_ key: UnsafeRawBufferPointer, hash: UInt64, version: UInt64,
                             _ body: (UnsafeRawBufferPointer?) -> Void) -> Bool {
        let (slot, index) = find(key, hash: hash)
        guard index >= 0 else {
            misses += 1
            return false
        }
        let i = Int(index)
        guard entries[i].version == version else {
            // Filled from an older version: useless from now on.
            remove(slot: slot, entry: i)
            misses += 1
            return false
        }
        hits += 1
        entries[i].referenced = true
        body(entries[i].hasValue ? entries[i].value : nil)
        return true
    }

    mutating func insert(_ key: UnsafeRawBufferPointer, hash: UInt64, version: UInt64, value: UnsafeRawBufferPointer?) {
        let valueCount = value?.count ?? 0
        let charge = key.count + valueCount + 64
        guard charge <= capacity / 8 else { return }
        let (slot, index) = find(key, hash: hash)
        if index >= 0 { remove(slot: slot, entry: Int(index)) }
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(1, key.count + valueCount), alignment: 8)
        if let source = key.baseAddress, key.count > 0 { bytes.copyMemory(from: source, byteCount: key.count) }
        if let value, let source = value.baseAddress, valueCount > 0 { (bytes + key.count).copyMemory(from: source, byteCount: valueCount) }
        let entry = Entry(hash: hash, version: version, bytes: bytes, keyCount: Int32(key.count), valueCount: Int32(valueCount),
                          hasValue: value != nil, referenced: false)
        while usage + charge > capacity && count > 0 { evictOne() }
        let i = storeReusingFreeIndex(entry, in: &entries, free: &free)
        if count &* 2 >= slots.count { grow() }
        slots[find(key, hash: hash).slot] = i
        count += 1
        usage += charge
    }

    /// Frees every entry (the shard is going away).
    mutating func removeAll() {
        for i in entries.indices { entries[i].bytes?.deallocate() }
        entries = []
        free = []
        slots = Array(repeating: -1, count: 64)
        count = 0
        usage = 0
        hand = 0
    }

    /// Whether a key with `hash` missed recently (it is then cached); records this miss. The
    /// doorkeeper is a two-probe bloom filter, cleared once an eighth of its bits are set, so a
    /// key never seen before passes it by mistake less than 1.6% of the time.
    mutating func admit(_ hash: UInt64) -> Bool {
        let first = Int(truncatingIfNeeded: hash >> 16) & (Self.doorkeeperBits - 1)
        let second = Int(truncatingIfNeeded: hash >> 32) & (Self.doorkeeperBits - 1)
        let firstMask: UInt64 = 1 << UInt64(first & 63), secondMask: UInt64 = 1 << UInt64(second & 63)
        if doorkeeper[first >> 6] & firstMask != 0 && doorkeeper[second >> 6] & secondMask != 0 { return true }
        doorkeeper[first >> 6] |= firstMask
        doorkeeper[second >> 6] |= secondMask
        doorkeeperSet += 2
        if doorkeeperSet >= Self.doorkeeperBits / 8 {
            for w in doorkeeper.indices { doorkeeper[w] = 0 }
            doorkeeperSet = 0
        }
        return false
    }

    /// CLOCK: skips (and clears) referenced entries, removes the first unreferenced one.
    private mutating func evictOne() {
        while true {
            if hand >= entries.count { hand = 0 }
            let i = hand
            hand += 1
            guard entries[i].live else { continue }
            if entries[i].referenced {
                entries[i].referenced = false
                continue
            }
            remove(slot: find(entries[i].key, hash: entries[i].hash).slot, entry: i)
            return
        }
    }

    private mutating func remove(slot: Int, entry i: Int) {
        usage -= entries[i].charge
        count -= 1
        entries[i].bytes?.deallocate()
        entries[i].bytes = nil
        free.append(Int32(i))
        // Empty the slot, then move back the entries after it that could not reach their
        // home slot across the hole (so every key stays findable).
        let mask = slots.count &- 1
        var hole = slot
        var next = (hole &+ 1) & mask
        while slots[next] >= 0 {
            let home = Int(truncatingIfNeeded: entries[Int(slots[next])].hash) & mask
            if (next &- home) & mask >= (next &- hole) & mask {
                slots[hole] = slots[next]
                hole = next
            }
            next = (next &+ 1) & mask
        }
        slots[hole] = -1
    }

    private mutating func grow() {
        slots = Array(repeating: -1, count: slots.count * 2)
        let mask = slots.count &- 1
        for i in entries.indices where entries[i].live {
            var slot = Int(truncatingIfNeeded: entries[i].hash) & mask
            while slots[slot] >= 0 { slot = (slot &+ 1) & mask }
            slots[slot] = Int32(i)
        }
    }
}

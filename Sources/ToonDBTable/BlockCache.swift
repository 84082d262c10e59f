import Synchronization
import ToonDBFormat

/// A least-recently-used cache of parsed data blocks shared by every table of a database.
///
/// Keyed by (file number, block offset) and bounded in bytes. The key space is split over
/// shards, each an LRU list behind its own `Mutex`, so lookups from many threads rarely
/// contend. A block larger than a shard's share of the capacity is not cached.
public final class BlockCache: Sendable {
    /// Counters of the whole cache.
    public struct Statistics: Sendable, Equatable {
        /// Lookups that found their block.
        public var hits: Int
        /// Lookups that did not.
        public var misses: Int
        /// Bytes charged for the blocks held now.
        public var usage: Int
        /// The configured capacity in bytes.
        public var capacity: Int
        /// Blocks held now.
        public var count: Int
    }

    struct Key: Hashable {
        var file: UInt64
        var offset: UInt64
    }

    private final class ShardBox: Sendable {
        let state: Mutex<Shard>
        init(capacity: Int) { state = Mutex(Shard(capacity: capacity)) }
    }

    /// The total capacity in bytes.
    public let capacity: Int
    private let shards: [ShardBox]
    private let shardMask: Int

    /// A cache of at most `capacity` bytes split over `shardCount` shards (rounded up to a
    /// power of two).
    public init(capacity: Int = 128 << 20, shardCount: Int = 16) {
        var count = 1
        while count < Swift.max(1, shardCount) { count <<= 1 }
        self.capacity = capacity
        shardMask = count - 1
        let perShard = Swift.max(0, capacity / count)
        shards = (0..<count).map { _ in ShardBox(capacity: perShard) }
    }

    @inline(__always)
    private func shard(_ key: Key) -> ShardBox {
        let h = tableHashFinalize(key.file &* 0x9E37_79B9_7F4A_7C15 ^ key.offset)
        return shards[Int(truncatingIfNeeded: h >> 32) & shardMask]
    }

    /// The cached block, refreshed as most recently used. A block that shares a read-ahead
    /// run is given memory of its own first (see ``Block/owningCopy()``), unless `forScan`: a
    /// scan walks the whole run again, so it keeps the run rather than copy block by block.
    func lookup(fileNumber: UInt64, offset: UInt64, forScan: Bool = false) -> Block? {
        let key = Key(file: fileNumber, offset: offset)
        return shard(key).state.withLock { $0.lookup(key, keepingRun: forScan) }
    }

    /// Whether the block is held, without counting a hit or a miss or refreshing it.
    func contains(fileNumber: UInt64, offset: UInt64) -> Bool {
        let key = Key(file: fileNumber, offset: offset)
        return shard(key).state.withLock { $0.map[key] != nil }
    }

    func insert(fileNumber: UInt64, offset: UInt64, block: Block) {
        let key = Key(file: fileNumber, offset: offset)
        shard(key).state.withLock { $0.insert(key, block) }
    }

    /// Drops every block of table `fileNumber` (after the table is deleted).
    public func evict(fileNumber: UInt64) {
        for shard in shards { shard.state.withLock { $0.remove(file: fileNumber) } }
    }

    /// Drops every block.
    public func removeAll() {
        for shard in shards { shard.state.withLock { $0.removeAll() } }
    }

    /// Lookups that found their block.
    public var hits: Int { statistics.hits }
    /// Lookups that did not.
    public var misses: Int { statistics.misses }
    /// Bytes charged for the blocks held now.
    public var usage: Int { statistics.usage }

    /// Hits, misses and usage summed over the shards.
    public var statistics: Statistics {
        var total = Statistics(hits: 0, misses: 0, usage: 0, capacity: capacity, count: 0)
        for shard in shards {
            shard.state.withLock { s in
                total.hits += s.hits
                total.misses += s.misses
                total.usage += s.usage
                total.count += s.map.count
            }
        }
        return total
    }
}

/// One LRU shard: nodes in an array linked by index (no allocation per insert once warm),
/// a dictionary from key to node.
private struct Shard {
    struct Node {
        var key: BlockCache.Key
        var block: Block?
        var charge: Int
        var newer: Int32
        var older: Int32
    }

    let capacity: Int
    var map: [BlockCache.Key: Int32] = [:]
    var nodes: [Node] = []
    var free: [Int32] = []
    /// Most and least recently used nodes (-1 when empty).
    var newest: Int32 = -1
    var oldest: Int32 = -1
    var usage = 0
    var hits = 0
    var misses = 0

    init(capacity: Int) { self.capacity = capacity }

    mutating func lookup(_ key: BlockCache.Key, keepingRun: Bool) -> Block? {
        guard let i = map[key] else {
            misses += 1
            return nil
        }
        hits += 1
        if i != newest {
            unlink(i)
            pushNewest(i)
        }
        if !keepingRun, let block = nodes[Int(i)].block, block.isInRun {
            // Wanted again: give it memory of its own and let go of the run (see Block.owningCopy).
            let copy = block.owningCopy()
            nodes[Int(i)].block = copy
            return copy
        }
        return nodes[Int(i)].block
    }

    mutating func insert(_ key: BlockCache.Key, _ block: Block) {
        let charge = block.charge
        if let i = map[key] {
            usage += charge - nodes[Int(i)].charge
            nodes[Int(i)].block = block
            nodes[Int(i)].charge = charge
            if i != newest {
                unlink(i)
                pushNewest(i)
            }
        } else {
            guard charge <= capacity else { return }
            let node = Node(key: key, block: block, charge: charge, newer: -1, older: -1)
            let i = storeReusingFreeIndex(node, in: &nodes, free: &free)
            map[key] = i
            pushNewest(i)
            usage += charge
        }
        while usage > capacity && oldest != -1 { removeNode(oldest) }
    }

    mutating func remove(file: UInt64) {
        var doomed: [Int32] = []
        for (key, i) in map where key.file == file { doomed.append(i) }
        for i in doomed { removeNode(i) }
    }

    mutating func removeAll() {
        map = [:]
        nodes = []
        free = []
        newest = -1
        oldest = -1
        usage = 0
    }

    private mutating func removeNode(_ i: Int32) {
        unlink(i)
        let index = Int(i)
        map[nodes[index].key] = nil
        usage -= nodes[index].charge
        nodes[index].block = nil
        nodes[index].charge = 0
        free.append(i)
    }

    private mutating func unlink(_ i: Int32) {
        // Only the links are read: copying the node would retain and release its block.
        let newer = nodes[Int(i)].newer
        let older = nodes[Int(i)].older
        if newer != -1 { nodes[Int(newer)].older = older } else { newest = older }
        if older != -1 { nodes[Int(older)].newer = newer } else { oldest = newer }
        nodes[Int(i)].newer = -1
        nodes[Int(i)].older = -1
    }

    private mutating func pushNewest(_ i: Int32) {
        nodes[Int(i)].older = newest
        nodes[Int(i)].newer = -1
        if newest != -1 { nodes[Int(newest)].newer = i }
        newest = i
        if oldest == -1 { oldest = i }
    }
}

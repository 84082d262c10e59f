#if canImport(Glibc)
import Glibc
#endif
import Atomics
import CToonDBPrefetch
import ToonDBFormat

/// A hash index beside the memtable's skiplist: user key → the node of its newest version, so
/// a point read costs a hash and a probe or two instead of a skiplist descent (one cache miss
/// per level), and a key the memtable does not hold is known absent at once.
///
/// Concurrency follows the skiplist's: one writer (the memtable's), any number of lock-free
/// readers. Slots are atomic words written with release stores after the node is complete;
/// readers load them with acquire. Growing copies every slot into a table twice the size and
/// publishes it; a reader still probing the old table sees a consistent, complete snapshot of
/// it, because every version visible to that reader was inserted before it loaded the table
/// (inserts precede the commit's publication). Old tables stay allocated until the memtable
/// goes, so no reader ever probes freed memory.
///
/// Slot layout: the node address in the low 48 bits (x86-64 and arm64 user addresses fit),
/// the top 16 bits of the key's hash above them, so most mismatches are rejected without
/// touching the node.
final class MemtableIndex: @unchecked Sendable {
    /// A table is one raw block: `mask: Int` (capacity - 1), then `capacity` atomic slots. Raw
    /// memory rather than a class, so probing involves no reference counting.
    private struct Table {
        let base: UnsafeMutableRawPointer

        /// Zeroed memory from `calloc`: a large table comes straight from the kernel as
        /// zero pages, touched (and so paid for) only as slots fill, not all at once.
        static func allocate(capacity: Int) -> Table {
            guard let base = calloc(capacity + 1, 8) else { fatalError("out of memory for a \(capacity)-slot memtable index") }
            base.storeBytes(of: capacity - 1, as: Int.self)
            // All-zero bytes are the empty slot (an atomic word of 0).
            (base + 8).bindMemory(to: UnsafeAtomic<UInt>.Storage.self, capacity: capacity)
            return Table(base: base)
        }

        @inline(__always) var mask: Int { base.load(as: Int.self) }

        @inline(__always) func slot(_ index: Int) -> UnsafeAtomic<UInt> {
            UnsafeAtomic(at: (base + 8 + 8 * index).assumingMemoryBound(to: UnsafeAtomic<UInt>.Storage.self))
        }
    }

    private static let addressMask: UInt = (1 << 48) - 1
    private static let initialCapacity = 1 << 12

    /// The newest table's address, for readers.
    private let current: ManagedAtomic<UInt>
    /// The newest table (the writer's view of `current`).
    private var table: Table
    /// Every table ever published, freed with the index (readers may still probe old ones).
    private var tables: [UnsafeMutableRawPointer]
    private var count = 0

    /// An index sized for `expectedCount` keys without growing (a new memtable expects about
    /// as many as the one it replaces: growing rehashes every key, one cache miss each).
    init(expectedCount: Int = 0) {
        var capacity = Self.initialCapacity
        while expectedCount * 4 > capacity * 3 { capacity *= 2 }
        table = Table.allocate(capacity: capacity)
        tables = [table.base]
        current = ManagedAtomic(UInt(bitPattern: table.base))
    }

    deinit {
        for base in tables { free(base) }
    }

    /// Records `node` (whose user key is `userKey`) as the newest version of that key. Writer only.
    func insert(_ node: UnsafeMutableRawPointer, userKey: UnsafeRawBufferPointer) {
        precondition(UInt(bitPattern: node) >> 48 == 0, "memtable node address above 48 bits")
        if (count + 1) * 4 > (table.mask + 1) * 3 { grow() }
        let hash = keyHash(userKey)
        let entry = UInt(bitPattern: node) | (UInt(truncatingIfNeeded: hash >> 48) << 48)
        let table = self.table
        let mask = table.mask
        var index = Int(truncatingIfNeeded: hash) & mask
        while true {
            let slot = table.slot(index)
            let existing = slot.load(ordering: .relaxed)
            if existing == 0 {
                slot.store(entry, ordering: .releasing)
                count += 1
                return
            }
            if existing >> 48 == entry >> 48, Self.sameKey(existing, userKey) {
                slot.store(entry, ordering: .releasing)
                return
            }
            index = (index + 1) & mask
        }
    }

    /// The newest published table (what readers probe).
    @inline(__always) private var published: Table {
        Table(base: UnsafeMutableRawPointer(bitPattern: current.load(ordering: .acquiring))!)
    }

    /// The node of the newest indexed version of `userKey`, or nil when the memtable has none.
    func newest(_ userKey: UnsafeRawBufferPointer) -> UnsafeMutableRawPointer? {
        let table = published
        let mask = table.mask
        let hash = keyHash(userKey)
        let tag = UInt(truncatingIfNeeded: hash >> 48)
        var index = Int(truncatingIfNeeded: hash) & mask
        while true {
            let existing = table.slot(index).load(ordering: .acquiring)
            if existing == 0 { return nil }
            if existing >> 48 == tag, Self.sameKey(existing, userKey) {
                return UnsafeMutableRawPointer(bitPattern: existing & Self.addressMask)
            }
            index = (index + 1) & mask
        }
    }

    // MARK: Prefetching (any thread)

    /// Starts loading the slot where a probe for `userKey` begins.
    @inline(__always) func prefetchSlot(_ userKey: UnsafeRawBufferPointer) {
        let table = published
        let index = Int(truncatingIfNeeded: keyHash(userKey)) & table.mask
        toondb_prefetch(table.base + 8 + 8 * index, 8)
    }

    /// The node the first slot with `userKey`'s tag points to, its key not compared: the
    /// likely newest version, for prefetching (a wrong guess costs a wasted prefetch only).
    @inline(__always) func candidate(_ userKey: UnsafeRawBufferPointer) -> UnsafeMutableRawPointer? {
        let table = published
        let mask = table.mask
        let hash = keyHash(userKey)
        let tag = UInt(truncatingIfNeeded: hash >> 48)
        var index = Int(truncatingIfNeeded: hash) & mask
        for _ in 0..<4 {
            let existing = table.slot(index).load(ordering: .acquiring)
            if existing == 0 { return nil }
            if existing >> 48 == tag { return UnsafeMutableRawPointer(bitPattern: existing & Self.addressMask) }
            index = (index + 1) & mask
        }
        return nil
    }

    private func grow() {
        let old = table
        let grown = Table.allocate(capacity: (old.mask + 1) * 2)
        let mask = grown.mask
        for index in 0...old.mask {
            let entry = old.slot(index).load(ordering: .relaxed)
            guard entry != 0 else { continue }
            let node = UnsafeMutableRawPointer(bitPattern: entry & Self.addressMask)!
            var position = Int(truncatingIfNeeded: keyHash(Self.userKey(node))) & mask
            while grown.slot(position).load(ordering: .relaxed) != 0 { position = (position + 1) & mask }
            grown.slot(position).store(entry, ordering: .relaxed)
        }
        tables.append(grown.base)
        table = grown
        current.store(UInt(bitPattern: grown.base), ordering: .releasing)
    }

    @inline(__always) private static func userKey(_ node: UnsafeMutableRawPointer) -> UnsafeRawBufferPointer {
        InternalKey.userKey(Memtable.key(node))
    }

    @inline(__always) private static func sameKey(_ entry: UInt, _ userKey: UnsafeRawBufferPointer) -> Bool {
        let stored = Self.userKey(UnsafeMutableRawPointer(bitPattern: entry & addressMask)!)
        return stored.count == userKey.count && (userKey.isEmpty || memcmp(stored.baseAddress!, userKey.baseAddress!, userKey.count) == 0)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Atomics
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
    private final class Table {
        let mask: Int
        let slots: UnsafeMutablePointer<UnsafeAtomic<UInt>.Storage>

        init(capacity: Int) {
            mask = capacity - 1
            slots = .allocate(capacity: capacity)
            slots.initialize(repeating: UnsafeAtomic<UInt>.Storage(0), count: capacity)
        }

        @inline(__always) func slot(_ index: Int) -> UnsafeAtomic<UInt> { UnsafeAtomic(at: slots + index) }

        deinit { slots.deallocate() }
    }

    private static let addressMask: UInt = (1 << 48) - 1
    private static let initialCapacity = 1 << 12

    private let current: ManagedAtomic<UInt>
    /// Every table ever published (the newest last), kept alive for readers.
    private var tables: [Table]
    private var count = 0

    init() {
        let table = Table(capacity: Self.initialCapacity)
        tables = [table]
        current = ManagedAtomic(UInt(bitPattern: Unmanaged.passUnretained(table).toOpaque()))
    }

    @inline(__always) private func load() -> Table {
        Unmanaged<Table>.fromOpaque(UnsafeRawPointer(bitPattern: current.load(ordering: .acquiring))!).takeUnretainedValue()
    }

    /// Records `node` (whose user key is `userKey`) as the newest version of that key. Writer only.
    func insert(_ node: UnsafeMutableRawPointer, userKey: UnsafeRawBufferPointer) {
        precondition(UInt(bitPattern: node) >> 48 == 0, "memtable node address above 48 bits")
        if (count + 1) * 4 > (tables.last!.mask + 1) * 3 { grow() }
        let hash = Self.hash(userKey)
        let entry = UInt(bitPattern: node) | (UInt(truncatingIfNeeded: hash >> 48) << 48)
        let table = tables.last!
        var index = Int(truncatingIfNeeded: hash) & table.mask
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
            index = (index + 1) & table.mask
        }
    }

    /// The node of the newest indexed version of `userKey`, or nil when the memtable has none.
    func newest(_ userKey: UnsafeRawBufferPointer) -> UnsafeMutableRawPointer? {
        let table = load()
        let hash = Self.hash(userKey)
        let tag = UInt(truncatingIfNeeded: hash >> 48)
        var index = Int(truncatingIfNeeded: hash) & table.mask
        while true {
            let existing = table.slot(index).load(ordering: .acquiring)
            if existing == 0 { return nil }
            if existing >> 48 == tag, Self.sameKey(existing, userKey) {
                return UnsafeMutableRawPointer(bitPattern: existing & Self.addressMask)
            }
            index = (index + 1) & table.mask
        }
    }

    private func grow() {
        let old = tables.last!
        let table = Table(capacity: (old.mask + 1) * 2)
        for index in 0...old.mask {
            let entry = old.slot(index).load(ordering: .relaxed)
            guard entry != 0 else { continue }
            let node = UnsafeMutableRawPointer(bitPattern: entry & Self.addressMask)!
            var position = Int(truncatingIfNeeded: Self.hash(Self.userKey(node))) & table.mask
            while table.slot(position).load(ordering: .relaxed) != 0 { position = (position + 1) & table.mask }
            table.slot(position).store(entry, ordering: .relaxed)
        }
        tables.append(table)
        current.store(UInt(bitPattern: Unmanaged.passUnretained(table).toOpaque()), ordering: .releasing)
    }

    @inline(__always) private static func userKey(_ node: UnsafeMutableRawPointer) -> UnsafeRawBufferPointer {
        InternalKey.userKey(Memtable.key(node))
    }

    @inline(__always) private static func sameKey(_ entry: UInt, _ userKey: UnsafeRawBufferPointer) -> Bool {
        let stored = Self.userKey(UnsafeMutableRawPointer(bitPattern: entry & addressMask)!)
        return stored.count == userKey.count && (userKey.isEmpty || memcmp(stored.baseAddress!, userKey.baseAddress!, userKey.count) == 0)
    }

    /// A 64-bit hash of a byte string: 8-byte words multiplied in, then a final avalanche
    /// (the MurmurHash3 finalizer), so the low bits pick the slot and the high bits the tag.
    @inline(__always) static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
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
}

import Atomics
import CToonDBPrefetch
import ToonDBFormat

/// What a memtable or table holds for a user key at a snapshot.
enum VersionLookup {
    case notFound
    case value([UInt8], lsn: LSN)
    case deleted(lsn: LSN)
}

/// The in-memory write buffer: a skiplist of MVCC versions ordered by internal key.
///
/// Concurrency: exactly one writer at a time (the group-commit leader, or recovery) calls
/// ``insert(_:lsn:)``; any number of readers search and iterate concurrently without locks.
/// A node is fully written before a release store links it in, and readers follow links with
/// acquire loads, so a reader sees either the old list or the new node complete (the LevelDB
/// skiplist design). Nodes are never removed; the arena is freed with the memtable.
/// Nodes of keys new to the memtable may wait, indexed but unlinked, for ``linkPending()``
/// (see ``insert(_:)``): whoever iterates a memtable that ``hasUnlinked`` has the writer
/// link them first (``Database`` does this before scans; a switch to immutable links all).
///
/// Node layout in the arena (8-byte aligned):
/// `ikey_len u32 | value_len u32 | height u32 | flat_run u32 | prev0 u64 | next[height] (8 bytes each) | internal key | value`
///
/// `prev0`, the node before this one on level 0, and `flat_run` are kept by the writer alone
/// (readers never use them): a new version of a key already in the memtable sorts just before
/// that key's newest version, which the hash index finds, so it links in place without
/// descending the skiplist (see ``insert(key:lsn:kind:value:)``).
final class Memtable: @unchecked Sendable {
    static let maxHeight = 12
    private static let prev0Offset = 16
    private static let nextOffset = 24

    private let arena = Arena()
    /// Point reads go through this hash index instead of descending the skiplist.
    private let index: MemtableIndex
    private let head: UnsafeMutableRawPointer
    private let currentHeight = ManagedAtomic<Int>(1)
    private let entries = ManagedAtomic<Int>(0)
    private var random: UInt64 = 0x9E37_79B9_7F4A_7C15
    /// Scratch for inserts (single writer), so an insert allocates nothing but its node.
    private var previous: [UnsafeMutableRawPointer] = []
    /// Nodes built and indexed but not yet linked into the skiplist (writer only), and their
    /// count for readers.
    private var pending: [UnsafeMutableRawPointer] = []
    /// Scratch for ``insert(_:)``: the operations of the commits it inserts (writer only).
    private var operations: [(commit: Int, offset: Int)] = []
    private let unlinked = ManagedAtomic<Int>(0)
    /// Identifies the memtable in logs and for flush bookkeeping.
    let id: UInt64
    /// The largest LSN inserted (written by the single writer, read after it publishes).
    private let largestLSN = ManagedAtomic<UInt64>(0)

    /// `expectedEntries` sizes the hash index up front (see ``MemtableIndex/init(expectedCount:)``).
    init(id: UInt64, expectedEntries: Int = 0) {
        self.id = id
        index = MemtableIndex(expectedCount: expectedEntries)
        head = arena.allocate(Self.nextOffset + 8 * Self.maxHeight)
        head.storeBytes(of: 0, as: UInt64.self)
        head.storeBytes(of: UInt32(Self.maxHeight), toByteOffset: 8, as: UInt32.self)
        for level in 0..<Self.maxHeight { Self.initializeLink(head, level) }
    }

    /// Bytes of node memory held (arena blocks); what triggers a flush. The hash index adds
    /// 11 to 21 bytes per entry (8-byte slots at most 3/4 full, plus the outgrown tables).
    var memoryUsage: Int { arena.memoryUsage }
    var count: Int { entries.load(ordering: .relaxed) }
    var isEmpty: Bool { count == 0 }
    var maxLSN: LSN { largestLSN.load(ordering: .acquiring) }

    // MARK: node access

    @inline(__always) private static func link(_ node: UnsafeMutableRawPointer, _ level: Int) -> UnsafeAtomic<UInt> {
        UnsafeAtomic<UInt>(at: (node + nextOffset + 8 * level).assumingMemoryBound(to: UnsafeAtomic<UInt>.Storage.self))
    }

    private static func initializeLink(_ node: UnsafeMutableRawPointer, _ level: Int) {
        (node + nextOffset + 8 * level).bindMemory(to: UnsafeAtomic<UInt>.Storage.self, capacity: 1)
            .initialize(to: UnsafeAtomic<UInt>.Storage(0))
    }

    @inline(__always) static func next(_ node: UnsafeMutableRawPointer, _ level: Int) -> UnsafeMutableRawPointer? {
        UnsafeMutableRawPointer(bitPattern: link(node, level).load(ordering: .acquiring))
    }

    @inline(__always) private static func setNext(_ node: UnsafeMutableRawPointer, _ level: Int, _ target: UnsafeMutableRawPointer?) {
        link(node, level).store(UInt(bitPattern: target), ordering: .releasing)
    }

    @inline(__always) static func key(_ node: UnsafeMutableRawPointer) -> UnsafeRawBufferPointer {
        let length = Int(node.load(as: UInt32.self))
        return UnsafeRawBufferPointer(start: node + nextOffset + 8 * height(node), count: length)
    }

    @inline(__always) static func value(_ node: UnsafeMutableRawPointer) -> UnsafeRawBufferPointer {
        let keyLength = Int(node.load(as: UInt32.self))
        let valueLength = Int(node.load(fromByteOffset: 4, as: UInt32.self))
        return UnsafeRawBufferPointer(start: node + nextOffset + 8 * height(node) + keyLength, count: valueLength)
    }

    var first: UnsafeMutableRawPointer? { Self.next(head, 0) }

    /// Versions linked in place in a row, ending at this node (writer only; header offset 12).
    @inline(__always) private static func flatRun(_ node: UnsafeMutableRawPointer) -> UInt32 {
        node.load(fromByteOffset: 12, as: UInt32.self)
    }

    static let maxFlatRun: UInt32 = 4

    @inline(__always) private static func prev0(_ node: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
        node.load(fromByteOffset: prev0Offset, as: UnsafeMutableRawPointer.self)
    }

    @inline(__always) private static func setPrev0(_ node: UnsafeMutableRawPointer, _ before: UnsafeMutableRawPointer) {
        node.storeBytes(of: before, toByteOffset: prev0Offset, as: UnsafeMutableRawPointer.self)
    }

    // MARK: writing (single writer)

    private func randomHeight() -> Int {
        var height = 1
        while height < Self.maxHeight {
            random ^= random << 13
            random ^= random >> 7
            random ^= random << 17
            if random & 3 != 0 { break }  // each level with probability 1/4
            height += 1
        }
        return height
    }

    /// Adds every operation of `batch` with version `lsn`, one at a time, each linked at once.
    /// A batch holds each key at most once. The engine inserts through ``insert(_:)``; the
    /// tests hold that path to the list this one builds.
    func insert(_ batch: WriteBatch, lsn: LSN) {
        batch.forEach { op in insert(key: op.key, lsn: lsn, kind: op.kind, value: op.value) }
        largestLSN.store(max(lsn, largestLSN.load(ordering: .relaxed)), ordering: .releasing)
    }

    /// Adds the operations of several commits (LSNs ascending, each batch holding a key at
    /// most once).
    ///
    /// A key new to the memtable gets its node built and put in the hash index at once (point
    /// reads find it), but joins the skiplist later, with others: once `linkBatch` such nodes
    /// wait, or when anything needs them linked (a new version of the key, a scan, a switch
    /// to immutable; see ``linkPending()``). Linked together, their searches run interleaved,
    /// a few keys at a time, each step prefetching the next node of every search, so the
    /// cache misses of the descents (about one per level in a large memtable) overlap instead
    /// of following one another. The list is the one inserting them one by one gives.
    func insert(_ commits: [(batch: WriteBatch, lsn: LSN)]) {
        // Operations on keys whose node waits to be linked: they go in after the linking.
        var later: [(commit: Int, offset: Int)] = []
        // Every operation, so the cache misses of those a few places ahead can be started now
        // (below). The scratch array is moved out of the object and the batches are read
        // through a buffer pointer: no exclusivity checks or reference counting per operation.
        var operations = self.operations
        self.operations = []
        defer {
            operations.removeAll(keepingCapacity: true)
            self.operations = operations
        }
        commits.withUnsafeBufferPointer { commits in
            for c in commits.indices { commits[c].batch.forEach { op in operations.append((c, op.offset)) } }
            @inline(__always) func withOperation(_ i: Int, _ body: (WriteBatch.BorrowedOperation) -> Void) {
                commits[operations[i].commit].batch.withOperation(at: operations[i].offset, body)
            }
            let count = operations.count
            for i in 0..<count {
                // A version of a key the memtable holds costs three misses in a row: the index
                // slot, the key's newest node, and the node before that one (linked to the new
                // version). Each is prefetched a few operations ahead, once the one before it
                // is in cache, so the misses of neighbouring operations overlap.
                if i + Self.slotDistance < count { withOperation(i + Self.slotDistance) { prefetchFind($0.key, step: 0) } }
                if i + Self.nodeDistance < count { withOperation(i + Self.nodeDistance) { prefetchFind($0.key, step: 1) } }
                if i + Self.previousDistance < count {
                    withOperation(i + Self.previousDistance) {
                        if let node = index.candidate($0.key) { toondb_prefetch(Self.prev0(node), 64) }
                    }
                }
                let c = operations[i].commit
                let lsn = commits[c].lsn
                commits[c].batch.withOperation(at: operations[i].offset) { op in
                    let newest = index.newest(op.key)
                    if let newest, Self.flatRun(newest) == Self.pendingRun {
                        later.append((c, op.offset))
                        return
                    }
                    if newest != nil {
                        insert(key: op.key, lsn: lsn, kind: op.kind, value: op.value, newest: newest)
                        return
                    }
                    let node = makeNode(key: op.key, lsn: lsn, kind: op.kind, value: op.value, height: randomHeight())
                    node.storeBytes(of: Self.pendingRun, toByteOffset: 12, as: UInt32.self)
                    // Published to readers through the index before it is linked: a reader sees
                    // an empty level 0 after it (no older version in this memtable, which is true).
                    for level in 0..<Self.height(node) { Self.initializeLink(node, level) }
                    index.insert(node, userKey: op.key)
                    pending.append(node)
                    entries.wrappingIncrement(ordering: .relaxed)
                }
            }
        }
        if !later.isEmpty || pending.count >= Self.linkBatch { linkPending() }
        for (c, offset) in later {
            commits[c].batch.withOperation(at: offset) { op in
                insert(key: op.key, lsn: commits[c].lsn, kind: op.kind, value: op.value)
            }
        }
        unlinked.store(pending.count, ordering: .releasing)
        let largest = commits.last.map { max($0.lsn, largestLSN.load(ordering: .relaxed)) } ?? largestLSN.load(ordering: .relaxed)
        largestLSN.store(largest, ordering: .releasing)
    }

    /// How many operations ahead ``insert(_:)`` prefetches index slots, newest nodes, and the
    /// nodes before those.
    private static let slotDistance = 12
    private static let nodeDistance = 8
    private static let previousDistance = 4

    /// Nodes that wait to be linked at once (one set of interleaved searches).
    static let linkBatch = 64

    /// Whether some inserted nodes are not in the skiplist yet (any thread). A reader that
    /// loaded its snapshot before asking and is told no will find, by walking the list, every
    /// version its snapshot covers: the writer clears this only after linking.
    var hasUnlinked: Bool { unlinked.load(ordering: .acquiring) > 0 }

    /// Links every node that waits (writer only: the commit leader, or a commit barrier).
    func linkPending() {
        guard !pending.isEmpty else { return }
        linkFresh(pending)
        pending.removeAll(keepingCapacity: true)
        unlinked.store(0, ordering: .releasing)
    }

    /// Marks a node built and indexed but not yet linked (in the `flat_run` field).
    private static let pendingRun = UInt32.max
    /// Searches interleaved at once by ``linkFresh(_:)``.
    private static let searchWidth = 64

    /// The node's tower height (header offset 8).
    @inline(__always) private static func height(_ node: UnsafeMutableRawPointer) -> Int {
        Int(node.load(fromByteOffset: 8, as: UInt32.self))
    }

    /// Links `nodes` (distinct user keys, none in the list yet) into the skiplist.
    private func linkFresh(_ nodes: [UnsafeMutableRawPointer]) {
        guard !nodes.isEmpty else { return }
        let sorted = nodes.sorted { InternalKey.compare(Self.key($0), Self.key($1)) < 0 }
        let levels = Self.maxHeight
        // predecessors[i * levels + level]: the last node before sorted[i] on that level, in
        // the list as it was before any of them was linked.
        let predecessors = UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: sorted.count * levels)
        defer { predecessors.deallocate() }
        predecessors.initialize(repeating: head, count: sorted.count * levels)
        let top = currentHeight.load(ordering: .relaxed) - 1
        var start = 0
        while start < sorted.count {
            let width = min(Self.searchWidth, sorted.count - start)
            withUnsafeTemporaryAllocation(of: UnsafeMutableRawPointer.self, capacity: 2 * width) { cursor in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: width) { level in
                    // cursor[i]: where search i stands; cursor[width + i]: the node after it.
                    for i in 0..<width {
                        cursor[i] = head
                        level[i] = top
                    }
                    var active = width
                    while active > 0 {
                        for i in 0..<width where level[i] >= 0 {
                            let next = Self.next(cursor[i], level[i])
                            cursor[width + i] = next ?? head
                            if let next { toondb_prefetch(next, 128) }
                        }
                        for i in 0..<width where level[i] >= 0 {
                            let next = cursor[width + i]
                            if next != head, InternalKey.compare(Self.key(next), Self.key(sorted[start + i])) < 0 {
                                cursor[i] = next
                            } else {
                                predecessors[(start + i) * levels + level[i]] = cursor[i]
                                level[i] -= 1
                                if level[i] < 0 { active -= 1 }
                            }
                        }
                    }
                }
            }
            start += width
        }
        // Link in key order. On each level the true predecessor is the later of the one
        // found and the last node of this batch linked on that level (it sorts before).
        var linked = [UnsafeMutableRawPointer?](repeating: nil, count: levels)
        for (i, node) in sorted.enumerated() {
            let height = Self.height(node)
            if height > currentHeight.load(ordering: .relaxed) { currentHeight.store(height, ordering: .relaxed) }
            for level in 0..<height {
                var before = predecessors[i * levels + level]
                if let previous = linked[level], before == head || InternalKey.compare(Self.key(previous), Self.key(before)) > 0 {
                    before = previous
                }
                if level == 0 {
                    Self.setPrev0(node, before)
                    if let after = Self.next(before, 0) { Self.setPrev0(after, node) }
                }
                Self.link(node, level).store(UInt(bitPattern: Self.next(before, level)), ordering: .relaxed)
                Self.setNext(before, level, node)
                linked[level] = node
            }
            node.storeBytes(of: UInt32(0), toByteOffset: 12, as: UInt32.self)
        }
    }

    /// A node holding the version, its links not yet initialized.
    private func makeNode(key: UnsafeRawBufferPointer, lsn: LSN, kind: ValueKind, value: UnsafeRawBufferPointer, height: Int) -> UnsafeMutableRawPointer {
        let internalKeyLength = key.count + 8
        let node = arena.allocate(Self.nextOffset + 8 * height + internalKeyLength + value.count)
        node.storeBytes(of: UInt32(internalKeyLength), as: UInt32.self)
        node.storeBytes(of: UInt32(value.count), toByteOffset: 4, as: UInt32.self)
        node.storeBytes(of: UInt32(height), toByteOffset: 8, as: UInt32.self)
        let keyStart = node + Self.nextOffset + 8 * height
        if key.count > 0 { keyStart.copyMemory(from: key.baseAddress!, byteCount: key.count) }
        (keyStart + key.count).storeBytes(of: InternalKey.trailer(lsn, kind).littleEndian, as: UInt64.self)
        if value.count > 0 { (keyStart + internalKeyLength).copyMemory(from: value.baseAddress!, byteCount: value.count) }
        return node
    }

    func insert(key: UnsafeRawBufferPointer, lsn: LSN, kind: ValueKind, value: UnsafeRawBufferPointer) {
        let newest = index.newest(key)
        if let newest, Self.flatRun(newest) == Self.pendingRun { linkPending() }
        insert(key: key, lsn: lsn, kind: kind, value: value, newest: newest)
    }

    /// `newest`: what the index holds for the key (looked up by the caller).
    private func insert(key: UnsafeRawBufferPointer, lsn: LSN, kind: ValueKind, value: UnsafeRawBufferPointer, newest found: UnsafeMutableRawPointer?) {
        var height = randomHeight()
        // A new version of a key the memtable holds links in just before the key's newest
        // version, on level 0 only: no descent. A tower drawn for it is dropped while the key's
        // run of such level-0-only versions is short (under `maxFlatRun`), so an update-heavy
        // key cannot grow an unbounded tower-less stretch that searches would walk.
        var newest = found
        if let found = newest, InternalKey.trailer(of: Self.key(found)) >> 8 >= lsn { newest = nil }
        if let found = newest, height > 1, Self.flatRun(found) >= Self.maxFlatRun { newest = nil }
        if newest != nil { height = 1 }
        let node = makeNode(key: key, lsn: lsn, kind: kind, value: value, height: height)

        if let newest {
            // Just before the key's newest version (versions of a key are newest first).
            node.storeBytes(of: Self.flatRun(newest) + 1, toByteOffset: 12, as: UInt32.self)
            let before = Self.prev0(newest)
            Self.initializeLink(node, 0)
            Self.link(node, 0).store(UInt(bitPattern: newest), ordering: .relaxed)
            Self.setPrev0(node, before)
            Self.setPrev0(newest, node)
            Self.setNext(before, 0, node)
            index.insert(node, userKey: key)
            entries.wrappingIncrement(ordering: .relaxed)
            return
        }

        if previous.isEmpty { previous = Array(repeating: head, count: Self.maxHeight) }
        let searchKey = Self.key(node)
        _ = previous.withUnsafeMutableBufferPointer { findGreaterOrEqual(searchKey, previous: $0.baseAddress!) }
        let current = currentHeight.load(ordering: .relaxed)
        if height > current {
            // New levels start at the head; readers that see the old height simply skip them.
            currentHeight.store(height, ordering: .relaxed)
        }
        for level in 0..<height {
            Self.initializeLink(node, level)
            Self.link(node, level).store(UInt(bitPattern: Self.next(previous[level], level)), ordering: .relaxed)
            Self.setNext(previous[level], level, node)
        }
        node.storeBytes(of: UInt32(0), toByteOffset: 12, as: UInt32.self)
        Self.setPrev0(node, previous[0])
        if let after = Self.next(node, 0) { Self.setPrev0(after, node) }
        index.insert(node, userKey: key)
        entries.wrappingIncrement(ordering: .relaxed)
    }

    // MARK: reading (any thread)

    /// The first node whose internal key is >= `target`. With `previous`, also records the last
    /// node before it on each level (what an insert links after).
    private func findGreaterOrEqual(_ target: UnsafeRawBufferPointer, previous: UnsafeMutablePointer<UnsafeMutableRawPointer>?) -> UnsafeMutableRawPointer? {
        var node = head
        var level = currentHeight.load(ordering: .relaxed) - 1
        while true {
            let next = Self.next(node, level)
            if let next, InternalKey.compare(Self.key(next), target) < 0 {
                node = next
            } else {
                previous?[level] = node
                if level == 0 { return next }
                level -= 1
            }
        }
    }

    func seek(_ target: UnsafeRawBufferPointer) -> UnsafeMutableRawPointer? {
        findGreaterOrEqual(target, previous: nil)
    }

    /// Starts loading what a ``find(_:snapshot:)`` of `key` touches first: its index slot
    /// (`step` 0), then, once that is in cache, its likely node (`step` 1). A hint for readers
    /// that look up several keys: misses of neighbouring lookups overlap.
    @inline(__always) func prefetchFind(_ key: UnsafeRawBufferPointer, step: Int) {
        if step == 0 {
            index.prefetchSlot(key)
        } else if let node = index.candidate(key) {
            toondb_prefetch(node, 128)
        }
    }

    /// The newest version of `userKey` with LSN <= `snapshot`.
    func get(_ userKey: [UInt8], snapshot: LSN) -> VersionLookup {
        userKey.withUnsafeBytes { key in
            switch find(key, snapshot: snapshot) {
            case .notFound: return .notFound
            case .deleted(let lsn): return .deleted(lsn: lsn)
            case .value(let node, let lsn): return .value([UInt8](Self.value(node)), lsn: lsn)
            }
        }
    }

    /// Where a version lives: its node (valid while the memtable lives), or what it is.
    enum NodeLookup {
        case notFound
        case deleted(lsn: LSN)
        case value(UnsafeMutableRawPointer, lsn: LSN)
    }

    /// The newest version of `userKey` with LSN <= `snapshot`, found through the hash index
    /// (which gives the newest version; older ones follow it on level 0, newest first).
    func find(_ key: UnsafeRawBufferPointer, snapshot: LSN) -> NodeLookup {
        guard var node = index.newest(key) else { return .notFound }
        while true {
            let trailer = InternalKey.trailer(of: Self.key(node))
            let lsn = trailer >> 8
            if lsn <= snapshot {
                if UInt8(truncatingIfNeeded: trailer) == ValueKind.deletion.rawValue { return .deleted(lsn: lsn) }
                return .value(node, lsn: lsn)
            }
            guard let older = Self.next(node, 0), compareBytes(InternalKey.userKey(Self.key(older)), key) == 0 else {
                return .notFound
            }
            node = older
        }
    }

    func makeIterator() -> MemtableIterator { MemtableIterator(self) }
}

/// Builds, on the stack, the internal key that sorts at or before every version of `userKey`
/// visible at `snapshot`: trailer `snapshot << 8 | value`, the largest trailer an LSN-`snapshot`
/// version can have, so seeking to it lands on the newest version with LSN <= `snapshot`.
@inline(__always)
func withLookupKey<R>(_ userKey: [UInt8], _ snapshot: LSN, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    withUnsafeTemporaryAllocation(byteCount: userKey.count + 8, alignment: 8) { buffer in
        userKey.withUnsafeBytes { key in
            if key.count > 0 { buffer.baseAddress!.copyMemory(from: key.baseAddress!, byteCount: key.count) }
        }
        (buffer.baseAddress! + userKey.count).storeBytes(
            of: InternalKey.trailer(min(snapshot, InternalKey.maxLSN), .value).littleEndian, as: UInt64.self)
        return body(UnsafeRawBufferPointer(buffer))
    }
}

/// Walks a memtable in internal-key order; keeps the memtable alive.
final class MemtableIterator: InternalIterator {
    private let memtable: Memtable
    private var node: UnsafeMutableRawPointer?

    init(_ memtable: Memtable) { self.memtable = memtable }

    var isValid: Bool { node != nil }
    func seekToFirst() { node = memtable.first }
    func seek(_ target: [UInt8]) { node = target.withUnsafeBytes { memtable.seek($0) } }
    func next() {
        node = node.flatMap { Memtable.next($0, 0) }
        // Nodes lie wherever they were allocated: start loading the one after, whose key the
        // merge reads at the next step.
        if let node, let following = Memtable.next(node, 0) { toondb_prefetch(following, 128) }
    }
    var key: UnsafeRawBufferPointer { Memtable.key(node!) }
    var value: UnsafeRawBufferPointer { Memtable.value(node!) }
}

import ToonDBFormat

/// Merges several internal iterators into one in internal-key order. Children are ordered
/// newest source first, so for equal internal keys (which cannot occur across sources, as each
/// LSN is written once) the newest wins anyway.
///
/// The valid children are kept sorted by their current key; after the front child advances it
/// is sifted back into place, which costs one comparison when the same source supplies the next
/// key too (the common case: long runs from one table or level).
final class MergingIterator: InternalIterator {
    /// The children as given (a lazily opened table among them).
    private let owned: [any InternalIterator]
    /// What the per-entry path calls: each child's ``InternalIterator/unwrapped`` iterator
    /// once positioned, in a raw buffer (no array bounds checks or buffer retains).
    private let children: UnsafeMutableBufferPointer<any InternalIterator>
    /// Each valid child's current key and value. A child's buffers stay valid until that
    /// child moves, and only the front child moves, so comparisons and `key`/`value` read
    /// these instead of calling the child: every call on a child loaded from storage costs a
    /// retain/release pair, which was 30% of a long scan's profile.
    private let keys: UnsafeMutableBufferPointer<UnsafeRawBufferPointer>
    private let values: UnsafeMutableBufferPointer<UnsafeRawBufferPointer>
    /// Indices of the valid children, smallest current key first.
    private var order: [Int] = []

    init(_ children: [any InternalIterator]) {
        owned = children
        self.children = .allocate(capacity: children.count)
        _ = self.children.initialize(from: children)
        keys = .allocate(capacity: children.count)
        keys.initialize(repeating: UnsafeRawBufferPointer(start: nil, count: 0))
        values = .allocate(capacity: children.count)
        values.initialize(repeating: UnsafeRawBufferPointer(start: nil, count: 0))
    }

    deinit {
        children.deinitialize()
        children.deallocate()
        keys.deallocate()
        values.deallocate()
    }

    var isValid: Bool { !order.isEmpty }

    private func rebuildOrder() {
        let children = self.children, keys = self.keys
        order.removeAll(keepingCapacity: true)
        for (i, child) in owned.enumerated() {
            let it = child.unwrapped
            children[i] = it
            if it.isValid {
                keys[i] = it.key
                values[i] = it.value
                order.append(i)
            }
        }
        order.sort { a, b in
            let c = InternalKey.compare(keys[a], keys[b])
            return c < 0 || (c == 0 && a < b)
        }
    }

    func seekToFirst() throws(StorageError) {
        for child in owned { try child.seekToFirst() }
        rebuildOrder()
    }

    func seek(_ target: [UInt8]) throws(StorageError) {
        for child in owned { try child.seek(target) }
        rebuildOrder()
    }

    func next() throws(StorageError) {
        let keys = self.keys
        let front = order[0]
        let child = children[front]
        try child.next()
        guard child.isValid else {
            order.removeFirst()
            return
        }
        let key = child.key
        keys[front] = key
        values[front] = child.value
        // Sift the advanced child right past every child with a smaller key.
        var position = 0
        while position + 1 < order.count {
            let other = order[position + 1]
            let c = InternalKey.compare(keys[other], key)
            if c > 0 || (c == 0 && other > front) { break }
            order[position] = other
            position += 1
        }
        order[position] = front
    }

    var key: UnsafeRawBufferPointer { keys[order[0]] }
    var value: UnsafeRawBufferPointer { values[order[0]] }
}

/// Walks the tables of one sorted, disjoint level (1 and up), opening each table only when
/// the walk reaches it.
final class LevelIterator: InternalIterator {
    private let tables: [FileMetadata]
    private let open: (FileMetadata) throws(StorageError) -> any InternalIterator
    private var index = 0
    private var iterator: (any InternalIterator)?

    init(tables: [FileMetadata], open: @escaping (FileMetadata) throws(StorageError) -> any InternalIterator) {
        self.tables = tables
        self.open = open
    }

    var isValid: Bool { iterator?.isValid ?? false }

    private func openTable(_ i: Int) throws(StorageError) {
        index = i
        iterator = i < tables.count ? try open(tables[i]) : nil
    }

    /// Moves to following tables while the current one is exhausted.
    private func skipExhausted() throws(StorageError) {
        while let it = iterator, !it.isValid {
            try openTable(index + 1)
            try iterator?.seekToFirst()
        }
    }

    func seekToFirst() throws(StorageError) {
        try openTable(0)
        try iterator?.seekToFirst()
        try skipExhausted()
    }

    func seek(_ target: [UInt8]) throws(StorageError) {
        // The first table whose largest key is >= target.
        var low = 0, high = tables.count
        target.withUnsafeBytes { t in
            while low < high {
                let mid = (low + high) / 2
                if tables[mid].largest.withUnsafeBytes({ InternalKey.compare($0, t) < 0 }) { low = mid + 1 } else { high = mid }
            }
        }
        try openTable(low)
        try iterator?.seek(target)
        try skipExhausted()
    }

    func next() throws(StorageError) {
        try iterator?.next()
        try skipExhausted()
    }

    var key: UnsafeRawBufferPointer { iterator!.key }
    var value: UnsafeRawBufferPointer { iterator!.value }
}

import ToonDBFormat

/// Merges several internal iterators into one in internal-key order. Children are ordered
/// newest source first, so for equal internal keys (which cannot occur across sources, as each
/// LSN is written once) the newest wins anyway.
///
/// The valid children are kept sorted by their current key; after the front child advances it
/// is sifted back into place, which costs one comparison when the same source supplies the next
/// key too (the common case: long runs from one table or level).
final class MergingIterator: InternalIterator {
    private let children: [any InternalIterator]
    /// Indices of the valid children, smallest current key first.
    private var order: [Int] = []

    init(_ children: [any InternalIterator]) { self.children = children }

    var isValid: Bool { !order.isEmpty }

    private func rebuildOrder() {
        order = children.indices.filter { children[$0].isValid }
        order.sort { a, b in
            let c = InternalKey.compare(children[a].key, children[b].key)
            return c < 0 || (c == 0 && a < b)
        }
    }

    func seekToFirst() throws(StorageError) {
        for child in children { try child.seekToFirst() }
        rebuildOrder()
    }

    func seek(_ target: [UInt8]) throws(StorageError) {
        for child in children { try child.seek(target) }
        rebuildOrder()
    }

    func next() throws(StorageError) {
        let front = order[0]
        let child = children[front]
        try child.next()
        guard child.isValid else {
            order.removeFirst()
            return
        }
        // Sift the advanced child right past every child with a smaller key.
        let key = child.key
        var position = 0
        while position + 1 < order.count {
            let other = order[position + 1]
            let c = InternalKey.compare(children[other].key, key)
            if c > 0 || (c == 0 && other > front) { break }
            order[position] = other
            position += 1
        }
        order[position] = front
    }

    var key: UnsafeRawBufferPointer { children[order[0]].key }
    var value: UnsafeRawBufferPointer { children[order[0]].value }
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

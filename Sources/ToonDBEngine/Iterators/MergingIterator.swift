import ToonDBFormat

/// Merges several internal iterators into one in internal-key order. Children are ordered
/// newest source first, so for equal internal keys (which cannot occur across sources, as each
/// LSN is written once) the newest wins anyway.
final class MergingIterator: InternalIterator {
    private let children: [any InternalIterator]
    private var current: Int = -1

    init(_ children: [any InternalIterator]) { self.children = children }

    var isValid: Bool { current >= 0 }

    private func pickSmallest() {
        current = -1
        var best: UnsafeRawBufferPointer? = nil
        for (index, child) in children.enumerated() where child.isValid {
            let key = child.key
            if let b = best, InternalKey.compare(key, b) >= 0 { continue }
            best = key
            current = index
        }
    }

    func seekToFirst() throws(StorageError) {
        for child in children { try child.seekToFirst() }
        pickSmallest()
    }

    func seek(_ target: [UInt8]) throws(StorageError) {
        for child in children { try child.seek(target) }
        pickSmallest()
    }

    func next() throws(StorageError) {
        try children[current].next()
        pickSmallest()
    }

    var key: UnsafeRawBufferPointer { children[current].key }
    var value: UnsafeRawBufferPointer { children[current].value }
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

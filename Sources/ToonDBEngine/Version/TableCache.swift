import Synchronization
import ToonDBFormat
import ToonDBIO
import ToonDBTable

/// Open table readers by file number, bounded by ``DatabaseOptions/maxOpenTables``.
///
/// A reader evicted while an iterator still uses it stays open until that iterator is done
/// (readers are reference counted); eviction only drops the cache's reference.
final class TableCache: Sendable {
    private let backend: any IOBackend
    let blockCache: BlockCache
    private let options: TableOptions
    private let capacity: Int
    private let readers = Mutex<[UInt64: TableReader]>([:])

    init(backend: any IOBackend, blockCache: BlockCache, options: TableOptions, capacity: Int) {
        self.backend = backend
        self.blockCache = blockCache
        self.options = options
        self.capacity = max(16, capacity)
    }

    func reader(for table: FileMetadata) throws(StorageError) -> TableReader {
        if let reader = readers.withLock({ $0[table.number] }) { return reader }
        let reader = try TableReader.open(path: table.path, fileNumber: table.number, backend: backend, cache: blockCache, options: options)
        readers.withLock { cache in
            if cache.count >= capacity, let victim = cache.keys.randomElement() { cache[victim] = nil }
            cache[table.number] = reader
        }
        return reader
    }

    func evict(_ number: UInt64) {
        _ = readers.withLock { $0.removeValue(forKey: number) }
        blockCache.evict(fileNumber: number)
    }
}

/// Deletes a table's file when the last version referencing it is gone.
final class TableDeleter: ObsoleteFileSink {
    let tableCache: TableCache
    init(tableCache: TableCache) { self.tableCache = tableCache }

    func tableBecameUnreferenced(number: UInt64, path: String) {
        tableCache.evict(number)
        try? FileSystem.remove(path)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import ToonDBEngine
import ToonDBFormat

/// The vector collections of one open database: creates, opens, lists and drops them, and keeps
/// every opened collection's index current through one commit observer on
/// ``CollectionKeys/prefix``.
///
/// Create one catalog per open ``Database`` (the embedded library and the server each hold one)
/// and keep it as long as the database is open. Collections are opened lazily: the first
/// ``collection(_:)`` of a name builds its index from the stored records.
public final class CollectionCatalog: Sendable {
    public let database: Database
    /// Opened collections by name. The observer takes this lock, then a collection's queue lock.
    private let opened = Mutex<[String: VectorCollection]>([:])

    public init(database: Database) throws(CollectionError) {
        self.database = database
        _ = try storage { () throws(StorageError) in
            try database.observeCommits(prefix: CollectionKeys.prefix) { [weak self] _, operations in
                self?.observe(operations)
            }
        }
    }

    /// Routes committed changes to the opened collections they belong to.
    private func observe(_ operations: [WriteBatch.Operation]) {
        opened.withLock { opened in
            for op in operations {
                switch CollectionKeys.parse(op.key) {
                case .item(let name, let id)?:
                    opened[name]?.record(VectorCollection.Change(id: id, record: op.kind == .value ? op.value : nil))
                case .descriptor(let name)?:
                    // A deleted (or rewritten) descriptor ends the opened collection; a later
                    // `collection(_:)` reads the new descriptor.
                    opened.removeValue(forKey: name)?.markDropped()
                case nil:
                    break
                }
            }
        }
    }

    /// Creates a collection and returns it.
    ///
    /// - Throws: ``CollectionError`` with `collectionExists`, `invalidArgument` (a bad name or
    ///   settings) or `storage`.
    @discardableResult
    public func create(_ name: String, settings: CollectionSettings) throws(CollectionError) -> VectorCollection {
        try CollectionKeys.validate(name: name)
        try settings.validate()
        let key = CollectionKeys.descriptor(name)
        // Items left behind by an insert that raced a drop of an earlier collection of this name.
        try deleteItems(of: name)
        let outcome = try storage { () throws(StorageError) -> Bool in
            let transaction = try database.beginTransaction()
            if try transaction.get(key) != nil {
                try transaction.abort()
                return false
            }
            try transaction.put(key, settings.encoded())
            do throws(StorageError) {
                _ = try transaction.commit()
            } catch {
                if error.code == .conflict { return false }
                throw error
            }
            return true
        }
        guard outcome else { throw CollectionError(.collectionExists, "collection \"\(name)\" already exists") }
        return try collection(name)
    }

    /// The collection of this name, opening it (building its index) on first use.
    ///
    /// - Throws: ``CollectionError`` with `collectionNotFound`, `invalidArgument`, `corruptRecord`
    ///   (an unreadable descriptor) or `storage`.
    public func collection(_ name: String) throws(CollectionError) -> VectorCollection {
        try CollectionKeys.validate(name: name)
        if let existing = opened.withLock({ $0[name] }) { return existing }
        let settings = try readSettings(name)
        let fresh = try VectorCollection(name: name, settings: settings, database: database)
        // Register at a commit boundary: commits before it are in what the rebuild reads, later
        // ones reach the collection's queue.
        let winner = try storage { () throws(StorageError) in
            try database.atCommitBoundary { _ in
                self.opened.withLock { opened -> VectorCollection in
                    if let existing = opened[name] { return existing }
                    opened[name] = fresh
                    return fresh
                }
            }
        }
        guard winner === fresh else { return winner }
        do throws(CollectionError) {
            // Dropped (or replaced) between reading the descriptor and registering?
            guard try readSettings(name) == settings else {
                throw CollectionError(.collectionNotFound, "collection \"\(name)\" was dropped while opening")
            }
            try fresh.loadFromRecords()
        } catch {
            opened.withLock { opened in
                if opened[name] === fresh { opened.removeValue(forKey: name) }
            }
            throw error
        }
        return fresh
    }

    /// Deletes a collection: its descriptor at once (the name is free again), then its items.
    ///
    /// - Throws: ``CollectionError`` with `collectionNotFound` or `storage`.
    public func drop(_ name: String) throws(CollectionError) {
        try CollectionKeys.validate(name: name)
        let key = CollectionKeys.descriptor(name)
        let existed = try storage { () throws(StorageError) -> Bool in
            guard try database.get(key) != nil else { return false }
            try database.delete(key)
            return true
        }
        guard existed else { throw CollectionError(.collectionNotFound, "no collection named \"\(name)\"") }
        try deleteItems(of: name)
        // Its saved index, if any (a later collection of this name would ignore it anyway).
        unlink(VectorCollection.indexPath(database: database, name: name))
    }

    /// Saves the index of every opened collection that changed since it was loaded or saved
    /// (``VectorCollection/saveIndex()``), so the next open loads it instead of rebuilding.
    /// Call before closing the database; a collection dropped meanwhile is skipped.
    ///
    /// - Throws: the first ``CollectionError`` (every collection is still attempted).
    public func saveIndexes() throws(CollectionError) {
        var firstError: CollectionError?
        for collection in opened.withLock({ Array($0.values) }) {
            do { try collection.saveIndex() } catch {
                if error.code != .collectionNotFound && firstError == nil { firstError = error }
            }
        }
        if let firstError { throw firstError }
    }

    /// The collections that exist, in name order, with their settings.
    public func list() throws(CollectionError) -> [(name: String, settings: CollectionSettings)] {
        var result: [(name: String, settings: CollectionSettings)] = []
        let end = prefixSuccessor(CollectionKeys.prefix) ?? []
        var start = CollectionKeys.prefix
        while true {
            // One scan per collection: a name's items are skipped by starting after them.
            let scan = try storage { () throws(StorageError) in try database.scan(from: start, to: end) }
            guard let (key, value) = try storage({ () throws(StorageError) in try scan.next() }) else { break }
            switch CollectionKeys.parse(key) {
            case .descriptor(let name)?:
                result.append((name, try CollectionSettings.decode(value, name: name)))
                start = key + [0]
            case .item(let name, _)?:
                start = prefixSuccessor(CollectionKeys.items(name)) ?? end
            case nil:
                start = key + [0]
            }
        }
        return result
    }

    private func readSettings(_ name: String) throws(CollectionError) -> CollectionSettings {
        guard let descriptor = try storage({ () throws(StorageError) in try database.get(CollectionKeys.descriptor(name)) }) else {
            throw CollectionError(.collectionNotFound, "no collection named \"\(name)\"")
        }
        return try CollectionSettings.decode(descriptor, name: name)
    }

    /// Deletes every item record of `name`, 1,024 per transaction.
    private func deleteItems(of name: String) throws(CollectionError) {
        let prefix = CollectionKeys.items(name)
        try storage { () throws(StorageError) in
            while true {
                let keys = try database.scan(prefix: prefix).next(batch: 1024).map(\.key)
                if keys.isEmpty { return }
                var batch = WriteBatch()
                for key in keys { batch.delete(key) }
                try database.write(batch)
            }
        }
    }
}

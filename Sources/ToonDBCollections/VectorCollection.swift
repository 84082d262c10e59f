#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import ToonDBEngine
import ToonDBFormat
import ToonDBTOON
import ToonDBVector

/// One search result: the item's id, its distance to the query (``VectorMetric`` semantics,
/// smaller is closer) and its metadata as stored (JSON text; empty when it has none).
public struct CollectionHit: Sendable, Equatable {
    public var id: UInt64
    public var distance: Float
    public var metadata: [UInt8]

    public init(id: UInt64, distance: Float, metadata: [UInt8]) {
        self.id = id
        self.distance = distance
        self.metadata = metadata
    }
}

/// A stored item: its vector as given (not normalised) and its metadata (JSON text or empty).
public struct CollectionItem: Sendable, Equatable {
    public var id: UInt64
    public var vector: [Float]
    public var metadata: [UInt8]

    /// The item in the stored record layout (``CollectionRecord``).
    public var record: [UInt8] {
        vector.withUnsafeBufferPointer { CollectionRecord.encode($0, metadata: metadata) }
    }
}

/// A collection's parameters and current size.
public struct CollectionInfo: Sendable, Equatable {
    public var name: String
    public var settings: CollectionSettings
    /// Items in the index (after catching up with every commit so far).
    public var count: Int
    /// Removed vectors still in the graph until the next rebuild.
    public var tombstones: Int
    /// Stored records the index skipped because they cannot be indexed (a wrong dimension or
    /// a non-finite vector written through the raw key-value API).
    public var unindexable: Int
}

/// A vector collection: items (id, vector, metadata) stored as ordinary key-value records under
/// ``CollectionKeys``, and an HNSW index derived from them.
///
/// The records are the truth: they are written in transactions, logged, checkpointed and (later)
/// replicated like any other key. The index is built from them when the collection is first
/// opened (starting from the index saved at the last close, reconciled with the records, when
/// there is one: ``saveIndex()``), and kept current by a commit observer (``CollectionCatalog``) that queues every
/// committed change to this collection's keys, whoever wrote it; the queue is applied before
/// every search and after every insert. So a crash cannot leave the index disagreeing with the
/// data, and a search sees every write committed before it started.
///
/// Obtain collections from a ``CollectionCatalog``. All methods are thread-safe.
public final class VectorCollection: Sendable {
    /// A committed change reported by the observer, not yet applied to the index.
    struct Change {
        var id: UInt64
        /// The new record, or nil for a deletion.
        var record: [UInt8]?
    }

    /// The derived index and what it skipped; guarded by `updater`.
    struct IndexState {
        var index: HNSWIndex
        var unindexable: Set<UInt64> = []
        /// Whether the index changed since it was loaded from or written to ``indexPath``.
        var unsaved = true
    }

    public let name: String
    public let settings: CollectionSettings
    let database: Database
    /// Where ``saveIndex()`` writes the index: `<database>/collections/<name>.hnsw`.
    let indexPath: String

    /// Committed changes in commit order, not yet applied (the observer appends, under the
    /// catalog's lock).
    private let changes = Mutex<[Change]>([])
    /// Held while changes are applied or the index is rebuilt: one updater at a time, in order.
    private let updater: Mutex<IndexState>
    private let dropped = Atomic<Bool>(false)
    private let openedFromSavedIndex = Atomic<Bool>(false)
    /// Whether the open started from the saved index file (for tests and diagnostics).
    var startedFromSavedIndex: Bool { openedFromSavedIndex.load(ordering: .relaxed) }

    /// Rebuild the graph when removed vectors exceed this share of the live ones.
    static let tombstoneRebuildRatio = 0.25
    static let tombstoneRebuildMinimum = 64
    /// The largest k or ef_search a search accepts.
    public static let maxBeam = 100_000
    /// Apply a run of new vectors with a parallel build from this many on.
    static let parallelApplyMinimum = 256

    init(name: String, settings: CollectionSettings, database: Database) throws(CollectionError) {
        self.name = name
        self.settings = settings
        self.database = database
        self.indexPath = Self.indexPath(database: database, name: name)
        do {
            let index = try HNSWIndex(dimension: settings.dimension, metric: settings.metric, m: settings.m,
                                      efConstruction: settings.efConstruction, encoding: settings.encoding)
            self.updater = Mutex(IndexState(index: index))
        } catch {
            throw CollectionError(error)
        }
    }

    // MARK: - Writing

    /// Stores one item (replacing any item with this id) and returns the commit LSN.
    ///
    /// - Parameters:
    ///   - vector: exactly ``CollectionSettings/dimension`` finite floats (not all zero under
    ///     cosine).
    ///   - metadata: a JSON object as UTF-8 text, or empty for none.
    @discardableResult
    public func insert(id: UInt64, vector: UnsafeBufferPointer<Float>, metadata: [UInt8] = []) throws(CollectionError) -> LSN {
        try insert(ids: [id], vectors: vector, metadata: [metadata])
    }

    /// Stores `ids.count` items in one transaction (all or none) and returns its commit LSN.
    /// `vectors` holds their vectors back to back; `metadata` is empty (no metadata for any) or
    /// has one entry per item (each a JSON object or empty). A repeated id keeps its last item.
    @discardableResult
    public func insert(ids: [UInt64], vectors: UnsafeBufferPointer<Float>, metadata: [[UInt8]] = []) throws(CollectionError) -> LSN {
        try checkLive()
        let dimension = settings.dimension
        guard vectors.count == ids.count * dimension else {
            throw CollectionError(.wrongDimension, "\(vectors.count) floats for \(ids.count) vectors of dimension \(dimension) in collection \"\(name)\"")
        }
        guard metadata.isEmpty || metadata.count == ids.count else {
            throw CollectionError(.invalidArgument, "\(metadata.count) metadata entries for \(ids.count) items")
        }
        var batch = WriteBatch()
        for (i, id) in ids.enumerated() {
            let vector = UnsafeBufferPointer(rebasing: vectors[(i * dimension)..<((i + 1) * dimension)])
            do {
                try HNSWIndex.validate(vector.baseAddress!, dimension: dimension, metric: settings.metric, what: "the vector of id \(id)")
            } catch {
                throw CollectionError(error)
            }
            let meta = metadata.isEmpty ? [] : metadata[i]
            try validateMetadata(meta, id: id)
            batch.put(CollectionKeys.item(name, id: id), CollectionRecord.encode(vector, metadata: meta))
        }
        let lsn = try storage { () throws(StorageError) in try database.write(batch) }
        catchUp()
        return lsn
    }

    /// Deletes the item with this id; returns whether it existed.
    @discardableResult
    public func delete(id: UInt64) throws(CollectionError) -> Bool {
        try checkLive()
        let key = CollectionKeys.item(name, id: id)
        let existed = try storage { () throws(StorageError) in
            let transaction = try database.beginTransaction()
            let existed = try transaction.get(key) != nil
            if existed {
                try transaction.delete(key)
                _ = try transaction.commit()
            } else {
                try transaction.abort()
            }
            return existed
        }
        catchUp()
        return existed
    }

    /// The stored item with this id, or nil.
    public func item(id: UInt64) throws(CollectionError) -> CollectionItem? {
        try checkLive()
        guard let record = try storage({ () throws(StorageError) in try database.get(CollectionKeys.item(name, id: id)) }) else {
            return nil
        }
        guard let dimension = record.withUnsafeBytes({ CollectionRecord.dimension(of: $0) }) else {
            throw CollectionError(.corruptRecord, "the record of id \(id) in collection \"\(name)\" is malformed")
        }
        return CollectionItem(id: id, vector: CollectionRecord.vector(of: record, dimension: dimension),
                              metadata: record.withUnsafeBytes { CollectionRecord.metadata(of: $0, dimension: dimension) })
    }

    // MARK: - Searching

    /// The (approximate) `k` nearest items to `query`, closest first, with their metadata.
    ///
    /// - Parameters:
    ///   - efSearch: the beam width; nil uses the collection's default.
    ///   - filter: only items whose metadata satisfies it are returned (they are still found
    ///     through the others).
    public func search(_ query: [Float], k: Int, efSearch: Int? = nil, filter: MetadataFilter? = nil) throws(CollectionError) -> [CollectionHit] {
        try checkLive()
        // The search reserves memory in proportion to max(k, ef): bound both.
        guard (1...Self.maxBeam).contains(k) else {
            throw CollectionError(.invalidArgument, "k must be in 1...\(Self.maxBeam), got \(k)")
        }
        let ef = efSearch ?? settings.efSearch
        guard (1...Self.maxBeam).contains(ef) else {
            throw CollectionError(.invalidArgument, "ef_search must be in 1...\(Self.maxBeam), got \(ef)")
        }
        let index = catchUp()
        let database = self.database
        let name = self.name
        var predicate: ((UInt64) -> Bool)?
        if let filter {
            var verdicts: [UInt64: Bool] = [:]
            predicate = { id in
                if let known = verdicts[id] { return known }
                let key = CollectionKeys.item(name, id: id)
                let verdict = (try? key.withUnsafeBytes { raw in
                    try database.withValue(of: raw) { record -> Bool in
                        guard let record, let dimension = CollectionRecord.dimension(of: record) else { return false }
                        let metadata = CollectionRecord.metadata(of: record, dimension: dimension)
                        return filter.matches(try? validateMetadata(metadata, id: id))
                    }
                }) ?? false
                verdicts[id] = verdict
                return verdict
            }
        }
        let found: [(id: UInt64, distance: Float)]
        do { found = try index.search(query, k: k, efSearch: ef, filter: predicate) } catch { throw CollectionError(error) }
        let records = try storage { () throws(StorageError) in try database.getMany(found.map { CollectionKeys.item(name, id: $0.id) }) }
        var hits: [CollectionHit] = []
        hits.reserveCapacity(found.count)
        for (hit, record) in zip(found, records) {
            // Deleted since the index caught up: the data wins.
            guard let record, let dimension = record.withUnsafeBytes({ CollectionRecord.dimension(of: $0) }) else { continue }
            hits.append(CollectionHit(id: hit.id, distance: hit.distance,
                                      metadata: record.withUnsafeBytes { CollectionRecord.metadata(of: $0, dimension: dimension) }))
        }
        return hits
    }

    /// Name, settings and counts, after catching up with every commit so far.
    public func info() throws(CollectionError) -> CollectionInfo {
        try checkLive()
        _ = catchUp()
        return updater.withLock { state in
            CollectionInfo(name: name, settings: settings, count: state.index.count,
                           tombstones: state.index.tombstoneCount, unindexable: state.unindexable.count)
        }
    }

    /// The number of items, after catching up with every commit so far.
    public func count() throws(CollectionError) -> Int { try info().count }

    // MARK: - Keeping the index current

    /// Queues a committed change (called by the catalog's commit observer, in LSN order).
    func record(_ change: Change) {
        changes.withLock { $0.append(change) }
    }

    /// Marks the collection dropped: later calls throw ``CollectionError/Code/collectionNotFound``.
    func markDropped() {
        dropped.store(true, ordering: .releasing)
    }

    func checkLive() throws(CollectionError) {
        if dropped.load(ordering: .acquiring) {
            throw CollectionError(.collectionNotFound, "collection \"\(name)\" was dropped")
        }
        try storage { () throws(StorageError) in try database.checkOpen() }
    }

    /// Applies every queued change to the index (waiting for an update in progress) and returns
    /// the index to search.
    @discardableResult
    func catchUp() -> HNSWIndex {
        updater.withLock { state in
            applyPending(to: &state)
            return state.index
        }
    }

    /// Takes the queued changes and applies them. Called with the updater held.
    private func applyPending(to state: inout IndexState) {
        let pending = changes.withLock { queue in
            let taken = queue
            queue.removeAll(keepingCapacity: true)
            return taken
        }
        guard !pending.isEmpty else { return }
        apply(pending, to: &state)
        state.unsaved = true
    }

    /// Brings the index to the final state of `pending` for each id it touches: removes the old
    /// vector, adds the new one (new vectors in one build, parallel when there are many).
    private func apply(_ pending: [Change], to state: inout IndexState) {
        var lastPosition: [UInt64: Int] = [:]
        lastPosition.reserveCapacity(pending.count)
        for (position, change) in pending.enumerated() { lastPosition[change.id] = position }
        var ids: [UInt64] = []
        var flat: [Float] = []
        let index = state.index
        for (position, change) in pending.enumerated() where lastPosition[change.id] == position {
            if index.contains(id: change.id) { index.remove(id: change.id) }
            state.unindexable.remove(change.id)
            guard let record = change.record else { continue }
            if record.withUnsafeBytes({ appendVector(of: $0, to: &flat) }) {
                ids.append(change.id)
            } else {
                state.unindexable.insert(change.id)
            }
        }
        addAll(ids: ids, flat: flat, to: &state)
        let tombstones = index.tombstoneCount
        if tombstones >= Self.tombstoneRebuildMinimum, Double(tombstones) > Self.tombstoneRebuildRatio * Double(index.count) {
            state.index = index.compacted(threads: 0)
        }
    }

    /// Appends the record's vector to `flat` when it can be indexed; false otherwise.
    private func appendVector(of raw: UnsafeRawBufferPointer, to flat: inout [Float]) -> Bool {
        let dimension = settings.dimension
        guard CollectionRecord.dimension(of: raw) == dimension else { return false }
        let start = flat.count
        flat.append(contentsOf: repeatElement(0, count: dimension))
        let valid = flat.withUnsafeMutableBufferPointer { buffer -> Bool in
            let out = buffer.baseAddress! + start
            CollectionRecord.copyVector(of: raw, dimension: dimension, to: out)
            return (try? HNSWIndex.validate(out, dimension: dimension, metric: settings.metric, what: "")) != nil
        }
        if !valid { flat.removeLast(dimension) }
        return valid
    }

    private func addAll(ids: [UInt64], flat: [Float], to state: inout IndexState) {
        guard !ids.isEmpty else { return }
        do {
            try state.index.build(ids: ids, vectors: flat, count: ids.count,
                                  threads: ids.count >= Self.parallelApplyMinimum ? 0 : 1)
        } catch {
            // Every vector was validated and every id removed first; this cannot happen.
            preconditionFailure("applying validated vectors failed: \(error)")
        }
    }

    // MARK: - Loading and saving

    static func indexDirectory(database: Database) -> String { database.path + "/collections" }

    static func indexPath(database: Database, name: String) -> String {
        indexDirectory(database: database) + "/" + name + ".hnsw"
    }

    /// Builds the index at open: from the saved index file when there is a usable one,
    /// reconciled with the stored records, else from the records alone. The records are read
    /// at the current snapshot, which includes every commit before this collection was
    /// registered with the catalog's observer (later ones are queued). Holds the updater, so
    /// searches wait for it.
    ///
    /// The saved file is only a head start: every record is checked against it, so a stale,
    /// foreign or damaged file can cost time but never correctness. Records whose vector the
    /// file holds bit for bit are kept as they are; other records are (re)inserted; ids the
    /// file holds without a record are removed. A file that does not load (damaged, another
    /// version) or was built with other settings is ignored and removed.
    func loadFromRecords() throws(CollectionError) {
        try updater.withLock { (state) throws(CollectionError) in
            let saved = loadSavedIndex(like: state.index)
            if let saved { state.index = saved }
            openedFromSavedIndex.store(saved != nil, ordering: .relaxed)
            var kept = Set<UInt64>()
            var ids: [UInt64] = []
            var flat: [Float] = []
            let prefix = CollectionKeys.items(name)
            let scan = try storage { () throws(StorageError) in try database.scan(prefix: prefix) }
            let index = state.index
            try storage { () throws(StorageError) in
                try scan.forEach { key, value in
                    guard key.count == prefix.count + 8 else { return true }
                    let id = key[prefix.count...].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                    guard appendVector(of: value, to: &flat) else {
                        state.unindexable.insert(id)
                        return true
                    }
                    if saved != nil, flat.withUnsafeBufferPointer({ index.storesExactly(id: id, $0.baseAddress! + $0.count - settings.dimension) }) {
                        flat.removeLast(settings.dimension)
                        kept.insert(id)
                    } else {
                        ids.append(id)
                    }
                    return true
                }
            }
            var removed = 0
            if saved != nil {
                for id in index.liveIDs() where !kept.contains(id) {
                    index.remove(id: id)
                    removed += 1
                }
            }
            addAll(ids: ids, flat: flat, to: &state)
            state.unsaved = saved == nil || !ids.isEmpty || removed > 0
        }
    }

    /// The saved index if its file loads and has the parameters of `fresh` (the empty index
    /// this collection's settings make); a file that does not is removed.
    private func loadSavedIndex(like fresh: HNSWIndex) -> HNSWIndex? {
        guard access(indexPath, F_OK) == 0 else { return nil }
        if let index = try? HNSWIndex.load(path: indexPath),
           index.dimension == fresh.dimension, index.metric == fresh.metric, index.m == fresh.m,
           index.efConstruction == fresh.efConstruction, index.encoding == fresh.encoding {
            return index
        }
        unlink(indexPath)
        return nil
    }

    /// Writes the index (caught up with every commit so far) to `<database>/collections/<name>.hnsw`
    /// if it changed since it was loaded or last saved, so that the next open starts from it
    /// instead of building the graph again. Atomic: a crash leaves the old file or the new one.
    ///
    /// - Throws: ``CollectionError`` with `storage` when the file cannot be written.
    public func saveIndex() throws(CollectionError) {
        try checkLive()
        try updater.withLock { (state) throws(CollectionError) in
            applyPending(to: &state)
            guard state.unsaved else { return }
            let directory = Self.indexDirectory(database: database)
            if mkdir(directory, 0o755) != 0 && errno != EEXIST {
                throw CollectionError(.storage, "cannot create \(directory): errno \(errno)")
            }
            do throws(VectorIndexError) {
                try state.index.write(to: indexPath)
            } catch {
                throw CollectionError(.storage, "cannot save the index of collection \"\(name)\": \(error.message)")
            }
            state.unsaved = false
        }
    }
}

extension CollectionInfo {
    /// The JSON object both the C ABI and the IPC server return for a collection's info:
    /// `name, dimension, metric, m, ef_construction, ef_search, encoding, count, tombstones, unindexable`.
    public var json: String {
        JSON.object(CollectionSettings.jsonMembers(name: name, settings) + [
            ("count", String(count)),
            ("tombstones", String(tombstones)),
            ("unindexable", String(unindexable)),
        ])
    }
}

extension CollectionSettings {
    /// `name` and the settings as JSON members (for info and list replies).
    public static func jsonMembers(name: String, _ settings: CollectionSettings) -> [(String, String)] {
        [
            ("name", JSON.string(name)),
            ("dimension", String(settings.dimension)),
            ("metric", JSON.string(settings.metric.rawValue)),
            ("m", String(settings.m)),
            ("ef_construction", String(settings.efConstruction)),
            ("ef_search", String(settings.efSearch)),
            ("encoding", JSON.string(settings.encoding.rawValue)),
        ]
    }
}

extension CollectionHit {
    /// The binary hit list of the C ABI and IPC (docs/vector-collections.md): u32 count, then
    /// per hit u64 id, f32 distance, u32 metadata length and the metadata JSON; little-endian.
    public static func encode(_ hits: [CollectionHit]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4 + hits.reduce(0) { $0 + 16 + $1.metadata.count })
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        append(UInt32(hits.count))
        for hit in hits {
            append(hit.id)
            append(hit.distance.bitPattern)
            append(UInt32(hit.metadata.count))
            out.append(contentsOf: hit.metadata)
        }
        return out
    }
}

import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An in-memory HNSW (hierarchical navigable small world) index for approximate nearest
/// neighbour search over fixed-dimension `Float` vectors keyed by `UInt64` ids.
///
/// Graph: a node's level is drawn as `⌊−ln(U)·mL⌋` with `mL = 1/ln(M)` from a SplitMix64
/// generator seeded with `seed`; upper layers keep at most `M` neighbours per node, layer 0 at
/// most `2·M`, chosen with the paper's diversity heuristic. A search descends greedily from
/// the top layer, then runs an `efSearch`-bounded beam search at layer 0.
///
/// Vectors are stored once, in a flat buffer (see ``GraphStorage``); for ``VectorMetric/cosine``
/// they are normalised on insert (and queries on search), so cosine distance is `1 − dot`.
///
/// ## Thread safety
/// Every method may be called from any thread at any time:
/// - Searches run concurrently with each other and with inserts.
/// - Inserts (``add(id:vector:)``, ``build(ids:vectors:count:threads:)``) run concurrently with
///   each other and with searches: each adjacency list is guarded by a per-node lock (4,096
///   striped mutexes; a thread holds at most one), the entry point by its own mutex, the id map
///   and counters by another.
/// - A structure read-write lock is held for reading by every search and insert and for
///   writing only when the storage has to grow (reallocation) and by ``remove(id:)``, so
///   pointers into the storage stay valid during any read.
///
/// An id is visible to ``contains(id:)`` from the moment its insert has reserved a slot, and to
/// searches once its insert has linked it. Building on one thread is deterministic for a given
/// seed; a parallel build draws the same levels but may link nodes in a different order.
///
/// A `filter` passed to ``search(_:k:efSearch:filter:)`` runs on the searching thread while the
/// structure lock is held for reading: it must not call ``remove(id:)`` (or anything else that
/// takes the lock for writing) on the same index.
public final class HNSWIndex: @unchecked Sendable {
    // @unchecked Sendable: the mutable state below is raw storage and plain vars, each guarded
    // as documented next to it (structureLock, bookkeeping, entryLock, node stripes, poolLock);
    // the compiler cannot see those locks, so the conformance is asserted by hand.

    /// Number of components of every vector.
    public let dimension: Int
    /// How distances are measured.
    public let metric: VectorMetric
    /// The target neighbour count `M` on layers ≥ 1 (layer 0 keeps up to `2·M`).
    public let m: Int
    /// The beam width used while inserting.
    public let efConstruction: Int
    /// The seed of the level generator.
    public let seed: UInt64
    /// The form of the vectors the graph walk reads (see ``VectorEncoding``).
    public let encoding: VectorEncoding

    private let levelMultiplier: Double
    /// `dimension` rounded up to a multiple of 16 (the storage row length), kept here so that
    /// reading it needs no lock.
    private let stride: Int

    /// Read-locked by every operation that touches `storage`; write-locked to grow it and to
    /// set tombstones.
    private let structureLock = ReadWriteLock()
    /// Guards `nodeCount`, `idToNode`, `rng`, `tombstones`.
    private let bookkeeping = MutexArray(count: 1)
    /// Guards `entryNode` and `topLayer`.
    private let entryLock = MutexArray(count: 1)
    /// Guards the adjacency lists: node `n` → stripe `n & 4095`.
    private let nodeLocks = MutexArray(count: 4096)
    /// Guards `visitedPool`.
    private let poolLock = MutexArray(count: 1)

    /// The storage's pointers and capacity change only under `structureLock` held for writing.
    private var storage: GraphStorage
    private var nodeCount = 0
    private var idToNode: [UInt64: UInt32] = [:]
    private var rng: SplitMix64
    private var tombstones = 0
    private var entryNode: UInt32?
    private var topLayer = -1
    private var visitedPool: [VisitedSet] = []

    /// Creates an empty index.
    ///
    /// - Parameters:
    ///   - dimension: the number of components of every vector (≥ 1).
    ///   - metric: how distances are measured.
    ///   - m: neighbours per node on upper layers (≥ 2, ≤ 255; layer 0 keeps `2·m`).
    ///   - efConstruction: beam width while inserting (≥ 1; raised to at least `m`).
    ///   - seed: seed of the level generator; equal seeds give equal graphs when built on one
    ///     thread.
    ///   - encoding: the compact copy the graph walk reads (``VectorEncoding/float32``, the
    ///     default, walks the exact vectors); int8 allows a dimension of at most 32,768.
    /// - Throws: ``VectorIndexError/Code/invalidArgument`` for out-of-range parameters.
    public init(dimension: Int, metric: VectorMetric, m: Int = 16, efConstruction: Int = 100,
                seed: UInt64 = 42, encoding: VectorEncoding = .float32) throws(VectorIndexError) {
        guard dimension >= 1 else {
            throw VectorIndexError(.invalidArgument, "dimension must be at least 1, got \(dimension)")
        }
        guard (2...255).contains(m) else {
            throw VectorIndexError(.invalidArgument, "m must be in 2...255, got \(m)")
        }
        guard efConstruction >= 1 else {
            throw VectorIndexError(.invalidArgument, "efConstruction must be at least 1, got \(efConstruction)")
        }
        guard encoding != .int8 || dimension <= VectorEncoding.maxInt8Dimension else {
            throw VectorIndexError(.invalidArgument,
                                   "the int8 encoding allows a dimension of at most \(VectorEncoding.maxInt8Dimension), got \(dimension)")
        }
        self.dimension = dimension
        self.metric = metric
        self.m = m
        self.efConstruction = max(efConstruction, m)
        self.seed = seed
        self.levelMultiplier = 1 / log(Double(m))
        self.rng = SplitMix64(seed: seed)
        self.encoding = encoding
        self.storage = GraphStorage(dimension: dimension, metric: metric, m: m, encoding: encoding)
        self.stride = storage.stride
    }

    /// An index rebuilt from a file (``load(path:)``, in IndexFileReader.swift): `storage`
    /// already holds `nodeCount` validated nodes, `idToNode` maps the live ones. The level
    /// generator continues where the writer's stopped: every reserved slot drew exactly one
    /// value, and SplitMix64 advances its state by a constant per draw.
    init(loadedDimension dimension: Int, metric: VectorMetric, m: Int, efConstruction: Int, seed: UInt64,
         storage: GraphStorage, nodeCount: Int, tombstones: Int, idToNode: [UInt64: UInt32],
         entryNode: UInt32?, topLayer: Int) {
        self.dimension = dimension
        self.metric = metric
        self.m = m
        self.efConstruction = efConstruction
        self.seed = seed
        self.encoding = storage.encoding
        self.levelMultiplier = 1 / log(Double(m))
        self.rng = SplitMix64(seed: seed &+ UInt64(nodeCount) &* 0x9E37_79B9_7F4A_7C15)
        self.storage = storage
        self.stride = storage.stride
        self.nodeCount = nodeCount
        self.tombstones = tombstones
        self.idToNode = idToNode
        self.entryNode = entryNode
        self.topLayer = topLayer
    }

    deinit {
        storage.deallocate(used: nodeCount)
    }

    /// Runs `body` with the structure lock held for writing (so no insert or removal is in
    /// flight and none starts) on the storage and the graph state; used by ``write(to:)``.
    func withFrozenGraph<T>(_ body: (_ storage: GraphStorage, _ nodeCount: Int, _ tombstones: Int,
                                     _ entryNode: UInt32?, _ topLayer: Int) throws(VectorIndexError) -> T) throws(VectorIndexError) -> T {
        try structureLock.withWriteLock { () throws(VectorIndexError) -> T in
            let (used, removed) = bookkeeping.withLock(0) { (nodeCount, tombstones) }
            let (entry, top) = entryLock.withLock(0) { (entryNode, topLayer) }
            return try body(storage, used, removed, entry, top)
        }
    }

    // MARK: - Counts

    /// The number of live (not removed) vectors.
    public var count: Int {
        bookkeeping.withLock(0) { nodeCount - tombstones }
    }

    /// The number of removed vectors still held in the graph (for navigation) until
    /// ``compacted(threads:)``.
    public var tombstoneCount: Int {
        bookkeeping.withLock(0) { tombstones }
    }

    /// The int8 encoding's scale (codes are `round(x · scale)`), or `nil` when the encoding is
    /// not int8 or no vector has been added yet (the scale is chosen from the first batch).
    public var int8Scale: Float? {
        structureLock.withReadLock { storage.int8Scale > 0 ? storage.int8Scale : nil }
    }

    /// Whether a live vector with this id is in the index.
    public func contains(id: UInt64) -> Bool {
        bookkeeping.withLock(0) { idToNode[id] != nil }
    }

    /// A copy of the stored vector for `id` (normalised, for a cosine index), or `nil`.
    public func vector(id: UInt64) -> [Float]? {
        structureLock.withReadLock {
            guard let node = bookkeeping.withLock(0, { idToNode[id] }) else { return nil }
            let p = storage.vector(Int(node))
            return Array(UnsafeBufferPointer(start: p, count: dimension))
        }
    }

    /// The ids of every live vector, in no particular order.
    public func liveIDs() -> [UInt64] {
        bookkeeping.withLock(0) { Array(idToNode.keys) }
    }

    /// Whether the live vector stored for `id` is exactly `vector` (``dimension`` floats) as
    /// this index would store it (normalised first for a cosine index): bit for bit, so a
    /// caller can tell whether a saved index still holds the vector it has.
    public func storesExactly(id: UInt64, _ vector: UnsafePointer<Float>) -> Bool {
        structureLock.withReadLock {
            guard let node = bookkeeping.withLock(0, { idToNode[id] }) else { return false }
            let stored = storage.vector(Int(node))
            return withUnsafeTemporaryAllocation(of: Float.self, capacity: dimension) { copy in
                let row = copy.baseAddress!
                storedForm(of: vector, into: row)
                return memcmp(row, stored, dimension * MemoryLayout<Float>.stride) == 0
            }
        }
    }

    // MARK: - Inserting

    /// Adds one vector.
    ///
    /// - Throws: ``VectorIndexError`` with `wrongDimension`, `duplicateID`, `nonFiniteValue`
    ///   or (cosine) `zeroVector`; the index is unchanged then.
    public func add(id: UInt64, vector: [Float]) throws(VectorIndexError) {
        try vector.withUnsafeBufferPointer { (buffer) throws(VectorIndexError) in
            try add(id: id, vector: buffer)
        }
    }

    /// Adds one vector read from `vector` (exactly ``dimension`` floats).
    ///
    /// - Throws: as `add(id:vector:)` with an array.
    public func add(id: UInt64, vector: UnsafeBufferPointer<Float>) throws(VectorIndexError) {
        try insert(ids: [id], vectors: vector, count: 1, threads: 1)
    }

    /// Bulk-inserts `count` vectors stored back to back in `vectors` (`count × dimension`
    /// floats), the `i`-th keyed by `ids[i]`, linking them on `threads` threads (0 = one per
    /// core) of a fixed pool (`DispatchQueue.concurrentPerform`).
    ///
    /// Everything is validated before anything is inserted: on error the index is unchanged.
    /// With `threads == 1` the result is deterministic for a given seed (and equals adding the
    /// vectors one by one in order, plus the repair below).
    ///
    /// A batch of at least two vectors and at least an eighth of the index ends with a walk of
    /// the whole graph that gives any node no search can reach a new incoming link (the
    /// neighbour heuristic leaves a few such nodes, more often when linking in parallel).
    ///
    /// - Throws: ``VectorIndexError`` with `wrongDimension` (also when `ids.count` or
    ///   `vectors.count` do not match `count`), `duplicateID` (in the index or twice in `ids`),
    ///   `nonFiniteValue`, (cosine) `zeroVector`, or `invalidArgument` (negative `count` or
    ///   `threads`).
    ///
    /// `progress`, when given, is called with the number of vectors linked so far (and
    /// `count`) after every ``progressStep`` of them and once at the end; it runs on the
    /// linking threads, possibly on several at once and slightly out of order, so it must be
    /// thread-safe and quick (the CLI's progress bar keeps the largest value it has seen).
    public func build(ids: [UInt64], vectors: UnsafeBufferPointer<Float>, count: Int,
                      threads: Int = 0,
                      progress: (@Sendable (_ linked: Int, _ total: Int) -> Void)? = nil) throws(VectorIndexError) {
        try insert(ids: ids, vectors: vectors, count: count, threads: threads, progress: progress)
    }

    /// How many linked vectors a bulk insert reports at a time to its `progress` callback.
    public static let progressStep = 1024

    /// Bulk-inserts from a flat array; see the `UnsafeBufferPointer` variant.
    public func build(ids: [UInt64], vectors: [Float], count: Int, threads: Int = 0,
                      progress: (@Sendable (_ linked: Int, _ total: Int) -> Void)? = nil) throws(VectorIndexError) {
        try vectors.withUnsafeBufferPointer { (buffer) throws(VectorIndexError) in
            try insert(ids: ids, vectors: buffer, count: count, threads: threads, progress: progress)
        }
    }

    private func insert(ids: [UInt64], vectors: UnsafeBufferPointer<Float>, count: Int,
                        threads: Int, progress: (@Sendable (Int, Int) -> Void)? = nil) throws(VectorIndexError) {
        guard count >= 0, threads >= 0 else {
            throw VectorIndexError(.invalidArgument, "count and threads must not be negative")
        }
        guard ids.count == count else {
            throw VectorIndexError(.wrongDimension, "\(ids.count) ids for \(count) vectors")
        }
        guard vectors.count == count * dimension else {
            throw VectorIndexError(.wrongDimension,
                                   "expected \(count) × \(dimension) = \(count * dimension) floats, got \(vectors.count)")
        }
        guard count > 0, let source = vectors.baseAddress else { return }
        for i in 0..<count {
            try validate(source + i * dimension, what: "vector \(i) (id \(ids[i]))")
        }
        if count > 1 {
            var seen = Set<UInt64>(minimumCapacity: count)
            for id in ids where !seen.insert(id).inserted {
                throw VectorIndexError(.duplicateID, "id \(id) appears twice in the batch")
            }
        }

        if encoding == .int8 { trainInt8Scale(source: source, count: count) }
        structureLock.readLock()
        defer { structureLock.unlock() }
        let first = try reserveSlots(ids: ids, source: source)
        let workers = min(threads == 0 ? Self.coreCount : threads, count)
        let snapshot = storage  // cannot move: we hold the structure lock for reading
        if workers <= 1 {
            let (visited, buffer) = takeScratch(capacity: snapshot.capacity)
            for i in 0..<count {
                link(UInt32(first + i), storage: snapshot, visited: visited, buffer: buffer)
                if let progress, (i + 1) % Self.progressStep == 0 { progress(i + 1, count) }
            }
            returnScratch(visited, buffer)
        } else {
            let next = Atomic<Int>(0)
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                // Each worker reads the storage itself: the caller's read lock keeps it in place.
                let snapshot = self.storage
                let (visited, buffer) = takeScratch(capacity: snapshot.capacity)
                while true {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    if i >= count { break }
                    link(UInt32(first + i), storage: snapshot, visited: visited, buffer: buffer)
                    if let progress, (i + 1) % Self.progressStep == 0 { progress(i + 1, count) }
                }
                returnScratch(visited, buffer)
            }
        }
        // The heuristic can leave nodes no search reaches; a walk of the whole graph finds them
        // (see repairUnreachable). It costs one pass over every adjacency list, so it runs only
        // after a batch of at least an eighth of the index: amortised, a small share of the
        // cost of linking the batch.
        let used = bookkeeping.withLock(0) { nodeCount }
        if count >= 2 && count * 8 >= used {
            let (entry, top) = entryLock.withLock(0) { (entryNode, topLayer) }
            if let entry {
                let (visited, buffer) = takeScratch(capacity: snapshot.capacity)
                _ = GraphSearch(s: snapshot, locks: nodeLocks).repairUnreachable(
                    count: used, entry: entry, topLayer: top, ef: efConstruction, visited: visited, buffer: buffer)
                returnScratch(visited, buffer)
            }
        }
        progress?(count, count)
    }

    /// Chooses the int8 scale from this batch if no batch has yet (see ``Int8Scale``).
    private func trainInt8Scale(source: UnsafePointer<Float>, count: Int) {
        if structureLock.withReadLock({ storage.int8Scale > 0 }) { return }
        let scale = Int8Scale.train(rows: source, count: count, dimension: dimension, normalize: metric == .cosine)
        structureLock.withWriteLock {
            if storage.int8Scale == 0 { storage.setInt8Scale(scale) }
        }
    }

    /// Reserves `ids.count` consecutive slots, copies (and for cosine normalises) the vectors
    /// in, draws their levels, and records the ids; returns the first slot. Called with the
    /// structure lock held for reading; may drop and retake it to grow the storage.
    private func reserveSlots(ids: [UInt64], source: UnsafePointer<Float>) throws(VectorIndexError) -> Int {
        let count = ids.count
        while true {
            bookkeeping.lock(0)
            for id in ids where idToNode[id] != nil {
                bookkeeping.unlock(0)
                throw VectorIndexError(.duplicateID, "id \(id) is already in the index")
            }
            if nodeCount + count <= storage.capacity {
                let first = nodeCount
                nodeCount += count
                var levels = [Int]()
                levels.reserveCapacity(count)
                for (i, id) in ids.enumerated() {
                    idToNode[id] = UInt32(first + i)
                    levels.append(min(Int(-log(rng.nextUnitInterval()) * levelMultiplier), 31))
                }
                bookkeeping.unlock(0)
                // The slots are ours and unreachable until linked: no lock needed to fill them.
                let s = storage
                for i in 0..<count {
                    let n = first + i
                    s.initializeSlot(n, id: ids[i], level: levels[i])
                    storedForm(of: source + i * dimension, into: s.vector(n))
                    s.encodeRow(n)
                }
                return first
            }
            let needed = nodeCount + count
            bookkeeping.unlock(0)
            structureLock.unlock()
            structureLock.withWriteLock {
                bookkeeping.withLock(0) {
                    if nodeCount + count > storage.capacity {
                        storage.grow(to: max(needed, storage.capacity * 2, 64), used: nodeCount)
                    }
                }
            }
            structureLock.readLock()
        }
    }

    /// Links slot `q` into the graph (handles the first node and a new top layer).
    private func link(_ q: UInt32, storage s: GraphStorage, visited: VisitedSet,
                      buffer: UnsafeMutablePointer<UInt32>) {
        let level = Int(s.levels[Int(q)])
        entryLock.lock(0)
        guard let entry = entryNode else {
            entryNode = q
            topLayer = level
            entryLock.unlock(0)
            return
        }
        let top = topLayer
        // A node that raises the top layer keeps the entry lock for its whole insert, so two
        // such nodes cannot both become the entry point (rare: about one node in M^level).
        let raisesTop = level > top
        if !raisesTop { entryLock.unlock(0) }
        GraphSearch(s: s, locks: nodeLocks).insert(q, entry: entry, topLayer: top,
                                                    efConstruction: efConstruction,
                                                    visited: visited, buffer: buffer)
        if raisesTop {
            entryNode = q
            topLayer = level
            entryLock.unlock(0)
        }
    }

    // MARK: - Removing

    /// Marks the vector with this id as removed: it is never returned again, but stays in the
    /// graph to route searches until ``compacted(threads:)``. The id may be added again (as a
    /// new node). Returns whether the id was present.
    @discardableResult
    public func remove(id: UInt64) -> Bool {
        structureLock.withWriteLock {
            bookkeeping.withLock(0) {
                guard let node = idToNode.removeValue(forKey: id) else { return false }
                storage.deleted[Int(node)] = true
                tombstones += 1
                return true
            }
        }
    }

    /// A new index with the same parameters and seed holding only the live vectors (in
    /// insertion order), built on `threads` threads (0 = one per core; 1 = deterministic).
    public func compacted(threads: Int = 0) -> HNSWIndex {
        let (ids, flat) = structureLock.withReadLock {
            bookkeeping.withLock(0) { () -> ([UInt64], [Float]) in
                var ids: [UInt64] = []
                var flat: [Float] = []
                ids.reserveCapacity(nodeCount - tombstones)
                flat.reserveCapacity((nodeCount - tombstones) * dimension)
                for n in 0..<nodeCount where !storage.deleted[n] {
                    ids.append(storage.ids[n])
                    flat.append(contentsOf: UnsafeBufferPointer(start: storage.vector(n), count: dimension))
                }
                return (ids, flat)
            }
        }
        do {
            let index = try HNSWIndex(dimension: dimension, metric: metric, m: m,
                                      efConstruction: efConstruction, seed: seed, encoding: encoding)
            try index.build(ids: ids, vectors: flat, count: ids.count, threads: threads)
            return index
        } catch {
            // The vectors were validated when first inserted and the ids are unique.
            preconditionFailure("rebuilding from valid contents failed: \(error)")
        }
    }

    // MARK: - Searching

    /// The (approximate) `k` nearest live vectors to `query`, closest first.
    ///
    /// - Parameters:
    ///   - query: ``dimension`` floats (normalised here for a cosine index).
    ///   - k: how many results at most.
    ///   - efSearch: the layer-0 beam width (raised to at least `k`); larger is slower and more
    ///     accurate.
    ///   - filter: when given, only ids for which it returns `true` are returned; nodes it
    ///     rejects still route the search, so up to `k` results come back as long as enough
    ///     ids pass (a very selective filter makes the search visit more of the graph).
    /// - Returns: pairs of id and distance (``VectorMetric`` semantics), closest first. The
    ///   distances are exact for every encoding: with f16 or int8 the `efSearch` candidates
    ///   the walk found are re-ranked on the `Float` vectors.
    /// - Throws: ``VectorIndexError`` with `wrongDimension`, `nonFiniteValue` or (cosine)
    ///   `zeroVector`.
    public func search(_ query: [Float], k: Int, efSearch: Int = 64,
                       filter: ((UInt64) -> Bool)? = nil) throws(VectorIndexError) -> [(id: UInt64, distance: Float)] {
        try checkDimension(of: query)
        guard k > 0 else { return [] }
        let q = try prepareQuery(query)
        return q.withUnsafeBufferPointer { qb in
            let exactQuery = qb.baseAddress!
            return structureLock.withReadLock {
                let s = storage
                return withUnsafeTemporaryAllocation(byteCount: s.rowBytes, alignment: 64) { codeBuffer in
                let query = s.encodeQuery(exactQuery, into: codeBuffer.baseAddress!)
                entryLock.lock(0)
                let entry = entryNode
                let top = topLayer
                entryLock.unlock(0)
                guard let entry else { return [] }
                let (visited, buffer) = takeScratch(capacity: s.capacity)
                defer { returnScratch(visited, buffer) }
                let graph = GraphSearch(s: s, locks: nodeLocks)
                var current = Neighbor(distance: s.distance(query, node: entry), node: entry)
                var layer = top
                while layer > 0 {
                    current = graph.greedyClosest(query, from: current, layer: layer, buffer: buffer)
                    layer -= 1
                }
                let hasTombstones = bookkeeping.withLock(0) { tombstones > 0 }
                let deleted = s.deleted
                let ids = s.ids
                let eligible: ((UInt32) -> Bool)?
                if let filter {
                    eligible = { !deleted[Int($0)] && filter(ids[Int($0)]) }
                } else if hasTombstones {
                    eligible = { !deleted[Int($0)] }
                } else {
                    eligible = nil
                }
                let found = graph.searchLayer(query, entries: [current], ef: max(efSearch, k), layer: 0,
                                              visited: visited, buffer: buffer, eligible: eligible)
                var ranked = found.sortedClosestFirst()
                if s.encoding != .float32 {
                    ranked = ranked.map { Neighbor(distance: s.exactDistance(exactQuery, node: $0.node), node: $0.node) }
                    ranked.sort { $0.distance < $1.distance || ($0.distance == $1.distance && $0.node < $1.node) }
                }
                return ranked.prefix(k).map { (id: ids[Int($0.node)], distance: $0.distance) }
                }
            }
        }
    }

    /// The exact `k` nearest live vectors to `query` by scanning every vector (for checking
    /// recall and for small sets), closest first, ties by insertion order.
    ///
    /// - Throws: as ``search(_:k:efSearch:filter:)``.
    public func exactSearch(_ query: [Float], k: Int,
                            filter: ((UInt64) -> Bool)? = nil) throws(VectorIndexError) -> [(id: UInt64, distance: Float)] {
        try checkDimension(of: query)
        guard k > 0 else { return [] }
        let q = try prepareQuery(query)
        return q.withUnsafeBufferPointer { qb in
            structureLock.withReadLock {
                let s = storage
                let used = bookkeeping.withLock(0) { nodeCount }
                var heap = FarthestFirstHeap(capacity: k + 1)
                for n in 0..<used where !s.deleted[n] && (filter?(s.ids[n]) ?? true) {
                    let d = s.exactDistance(qb.baseAddress!, node: UInt32(n))
                    if heap.count < k || d < heap.top.distance {
                        heap.push(Neighbor(distance: d, node: UInt32(n)))
                        if heap.count > k { heap.pop() }
                    }
                }
                return heap.sortedClosestFirst().map { (id: s.ids[Int($0.node)], distance: $0.distance) }
            }
        }
    }

    // MARK: - Helpers

    private static let coreCount = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    /// Checks one input vector of ``dimension`` floats.
    private func validate(_ v: UnsafePointer<Float>, what: String) throws(VectorIndexError) {
        try Self.validate(v, dimension: dimension, metric: metric, what: what)
    }

    /// Checks that `dimension` floats at `v` can be indexed under `metric`: all finite and, for
    /// cosine, not all zero. `what` names the vector in the error message.
    ///
    /// - Throws: ``VectorIndexError`` with `nonFiniteValue` or `zeroVector`.
    public static func validate(_ v: UnsafePointer<Float>, dimension: Int, metric: VectorMetric,
                                what: String) throws(VectorIndexError) {
        var sumSquares: Float = 0
        for i in 0..<dimension {
            guard v[i].isFinite else {
                throw VectorIndexError(.nonFiniteValue, "\(what) has a non-finite value at component \(i)")
            }
            sumSquares += v[i] * v[i]
        }
        if metric == .cosine && !(sumSquares > 0) {
            throw VectorIndexError(.zeroVector, "\(what) is all zeros, which has no cosine direction")
        }
    }

    private func checkDimension(of query: [Float]) throws(VectorIndexError) {
        guard query.count == dimension else {
            throw VectorIndexError(.wrongDimension, "query has \(query.count) components, index has \(dimension)")
        }
    }

    /// A validated, zero-padded (to the storage stride) and, for cosine, normalised copy.
    private func prepareQuery(_ query: [Float]) throws(VectorIndexError) -> [Float] {
        var padded = [Float](repeating: 0, count: stride)
        try query.withUnsafeBufferPointer { (qb) throws(VectorIndexError) in
            try validate(qb.baseAddress!, what: "the query")
            padded.withUnsafeMutableBufferPointer { storedForm(of: qb.baseAddress!, into: $0.baseAddress!) }
        }
        return padded
    }

    /// Writes ``dimension`` floats of `vector` to `row` as the index stores them: copied, then
    /// normalised for cosine. Inserts, queries and ``storesExactly(id:_:)`` all go through here,
    /// so a vector compared with a stored one is prepared bit for bit the same way.
    private func storedForm(of vector: UnsafePointer<Float>, into row: UnsafeMutablePointer<Float>) {
        row.update(from: vector, count: dimension)
        if metric == .cosine { VectorDistance.normalize(row, count: dimension) }
    }

    private func takeScratch(capacity: Int) -> (VisitedSet, UnsafeMutablePointer<UInt32>) {
        let pooled = poolLock.withLock(0) { visitedPool.popLast() }
        let visited = pooled ?? VisitedSet(capacity: capacity)
        return (visited, .allocate(capacity: 2 * m))
    }

    private func returnScratch(_ visited: VisitedSet, _ buffer: UnsafeMutablePointer<UInt32>) {
        buffer.deallocate()
        poolLock.withLock(0) { visitedPool.append(visited) }
    }
}

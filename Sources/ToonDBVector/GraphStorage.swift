/// The index's flat storage: every array is indexed by node slot (0..<capacity) and lives in
/// one heap block, so hot loops do pointer arithmetic instead of touching Swift arrays.
///
/// - `vectors`: `capacity × stride` floats, 64-byte aligned; row `n` is node `n`'s vector
///   (normalised for cosine) zero-padded from `dimension` to `stride` (a multiple of 16), so
///   the distance kernels never run their scalar tail inside the index.
/// - `links0`: layer-0 adjacency, `capacity × (1 + maxM0)` `UInt32`s: a count, then up to
///   `maxM0` (= 2·M) neighbour slots.
/// - `upper`: per node, `nil` for level 0, else a block of `level × (1 + M)` `UInt32`s holding
///   the adjacency lists of layers 1...level in the same count-then-slots layout.
/// - `levels`, `deleted` (tombstones), `ids` (the caller's 64-bit ids).
///
/// A plain struct of pointers: ``HNSWIndex`` decides who may read and write what (see there).
struct GraphStorage {
    let dimension: Int
    let stride: Int
    let metric: VectorMetric
    let m: Int
    let maxM0: Int
    private(set) var capacity: Int = 0

    private(set) var vectors: UnsafeMutablePointer<Float>
    private(set) var links0: UnsafeMutablePointer<UInt32>
    private(set) var upper: UnsafeMutablePointer<UnsafeMutablePointer<UInt32>?>
    private(set) var levels: UnsafeMutablePointer<UInt8>
    private(set) var deleted: UnsafeMutablePointer<Bool>
    private(set) var ids: UnsafeMutablePointer<UInt64>
    /// When the index was loaded from a file (``HNSWIndex/load(path:)``), `vectors` points into
    /// this read-only mapping of the whole file (`capacity` is then exactly the loaded node
    /// count, so no slot in it is ever written); the first `grow` copies the rows to the heap
    /// and unmaps the file.
    private(set) var mapping: FileMapping?

    init(dimension: Int, metric: VectorMetric, m: Int) {
        self.dimension = dimension
        self.stride = (dimension + 15) & ~15
        self.metric = metric
        self.m = m
        self.maxM0 = 2 * m
        vectors = Self.allocateVectors(count: 1)
        links0 = .allocate(capacity: 1)
        upper = .allocate(capacity: 1)
        levels = .allocate(capacity: 1)
        deleted = .allocate(capacity: 1)
        ids = .allocate(capacity: 1)
    }

    /// Storage for `count` loaded nodes: `vectors` is borrowed from `mapping` (which it now
    /// owns), the other arrays are fresh heap blocks of exactly `count` slots for the caller to
    /// fill (upper-layer blocks start `nil`).
    init(dimension: Int, metric: VectorMetric, m: Int, count: Int,
         mappedVectors: UnsafeMutablePointer<Float>, mapping: FileMapping) {
        self.init(dimension: dimension, metric: metric, m: m)
        UnsafeMutableRawPointer(vectors).deallocate()
        links0.deallocate(); upper.deallocate(); levels.deallocate(); deleted.deallocate(); ids.deallocate()
        vectors = mappedVectors
        self.mapping = mapping
        let slots = max(count, 1)
        links0 = .allocate(capacity: slots * (1 + maxM0))
        links0.initialize(repeating: 0, count: slots * (1 + maxM0))
        upper = .allocate(capacity: slots)
        upper.initialize(repeating: nil, count: slots)
        levels = .allocate(capacity: slots)
        levels.initialize(repeating: 0, count: slots)
        deleted = .allocate(capacity: slots)
        deleted.initialize(repeating: false, count: slots)
        ids = .allocate(capacity: slots)
        ids.initialize(repeating: 0, count: slots)
        capacity = count
    }

    /// Frees `vectors`: unmaps the file it was borrowed from, or deallocates the heap block.
    private func releaseVectors() {
        if let mapping { mapping.unmap() } else { UnsafeMutableRawPointer(vectors).deallocate() }
    }

    private static func allocateVectors(count: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// Reallocates every array for `newCapacity` slots, keeping the first `used`.
    mutating func grow(to newCapacity: Int, used: Int) {
        precondition(newCapacity >= used && newCapacity <= Int(UInt32.max))
        let v = Self.allocateVectors(count: newCapacity * stride)
        v.update(from: vectors, count: used * stride)
        v.advanced(by: used * stride).initialize(repeating: 0, count: (newCapacity - used) * stride)
        releaseVectors()
        mapping = nil
        vectors = v

        let l0 = UnsafeMutablePointer<UInt32>.allocate(capacity: newCapacity * (1 + maxM0))
        l0.update(from: links0, count: used * (1 + maxM0))
        l0.advanced(by: used * (1 + maxM0)).initialize(repeating: 0, count: (newCapacity - used) * (1 + maxM0))
        links0.deallocate()
        links0 = l0

        func regrow<T>(_ p: inout UnsafeMutablePointer<T>, fill: T) {
            let q = UnsafeMutablePointer<T>.allocate(capacity: newCapacity)
            q.update(from: p, count: used)
            q.advanced(by: used).initialize(repeating: fill, count: newCapacity - used)
            p.deallocate()
            p = q
        }
        regrow(&upper, fill: nil)
        regrow(&levels, fill: 0)
        regrow(&deleted, fill: false)
        regrow(&ids, fill: 0)
        capacity = newCapacity
    }

    /// Frees everything; `used` slots may own upper-layer blocks.
    func deallocate(used: Int) {
        for n in 0..<used { upper[n]?.deallocate() }
        releaseVectors()
        links0.deallocate()
        upper.deallocate()
        levels.deallocate()
        deleted.deallocate()
        ids.deallocate()
    }

    /// Sets up slot `n` (not yet reachable from the graph): id, level and empty adjacency.
    func initializeSlot(_ n: Int, id: UInt64, level: Int) {
        ids[n] = id
        levels[n] = UInt8(level)
        deleted[n] = false
        links0[n * (1 + maxM0)] = 0
        if level > 0 {
            let block = UnsafeMutablePointer<UInt32>.allocate(capacity: level * (1 + m))
            block.initialize(repeating: 0, count: level * (1 + m))
            upper[n] = block
        } else {
            upper[n] = nil
        }
    }

    @inline(__always)
    func vector(_ n: Int) -> UnsafeMutablePointer<Float> { vectors + n * stride }

    /// Node `n`'s adjacency list at `layer` (a count, then the slots).
    /// - Precondition: `layer <= levels[n]`.
    @inline(__always)
    func links(_ n: Int, layer: Int) -> UnsafeMutablePointer<UInt32> {
        if layer == 0 { return links0 + n * (1 + maxM0) }
        return upper[n].unsafelyUnwrapped + (layer - 1) * (1 + m)
    }

    @inline(__always)
    func maxLinks(layer: Int) -> Int { layer == 0 ? maxM0 : m }

    /// The distance between two `stride`-long rows (smaller is closer).
    @inline(__always)
    func distance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Float {
        VectorDistance.distance(metric, a, b, count: stride)
    }

    @inline(__always)
    func distance(_ a: UnsafePointer<Float>, node b: UInt32) -> Float {
        distance(a, vector(Int(b)))
    }
}

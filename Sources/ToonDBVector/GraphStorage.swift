/// The index's flat storage: every array is indexed by node slot (0..<capacity) and lives in
/// one heap block, so hot loops do pointer arithmetic instead of touching Swift arrays.
///
/// - `vectors`: `capacity × stride` floats, 64-byte aligned; row `n` is node `n`'s vector
///   (normalised for cosine) zero-padded from `dimension` to `stride` (a multiple of 16), so
///   the distance kernels never run their scalar tail inside the index.
/// - `codes`: for ``VectorEncoding/float16`` and ``VectorEncoding/int8``, `capacity × rowBytes`
///   bytes, 64-byte aligned: row `n` is the compact copy of node `n`'s padded vector. The graph
///   walk (build and search) reads only ``row(_:)``, which is the code row, or the vector row
///   for ``VectorEncoding/float32``.
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
    let encoding: VectorEncoding
    /// Bytes of one row that the graph walk reads (`stride × 4` for f32, else the code row).
    let rowBytes: Int
    private(set) var capacity: Int = 0
    /// The int8 encoding's scale (0 until ``setInt8Scale(_:)``), and `1 / scale²`, which turns
    /// integer code products back into distances.
    private(set) var int8Scale: Float = 0
    private var int8DistanceFactor: Float = 0

    private(set) var vectors: UnsafeMutablePointer<Float>
    /// The code rows (one unused byte for f32).
    private(set) var codes: UnsafeMutableRawPointer
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

    init(dimension: Int, metric: VectorMetric, m: Int, encoding: VectorEncoding) {
        self.dimension = dimension
        self.stride = (dimension + 15) & ~15
        self.metric = metric
        self.m = m
        self.maxM0 = 2 * m
        self.encoding = encoding
        self.rowBytes = encoding == .float32 ? stride * 4 : stride * encoding.codeBytes
        vectors = Self.allocateVectors(count: 1)
        codes = .allocate(byteCount: 1, alignment: 64)
        links0 = .allocate(capacity: 1)
        upper = .allocate(capacity: 1)
        levels = .allocate(capacity: 1)
        deleted = .allocate(capacity: 1)
        ids = .allocate(capacity: 1)
    }

    /// Storage for `count` loaded nodes: `vectors` is borrowed from `mapping` (which it now
    /// owns), the other arrays are fresh heap blocks of exactly `count` slots for the caller to
    /// fill (upper-layer blocks start `nil`). Code rows are computed here from the vectors
    /// (an int8 index needs `int8Scale`).
    init(dimension: Int, metric: VectorMetric, m: Int, encoding: VectorEncoding, int8Scale: Float, count: Int,
         mappedVectors: UnsafeMutablePointer<Float>, mapping: FileMapping) {
        self.init(dimension: dimension, metric: metric, m: m, encoding: encoding)
        UnsafeMutableRawPointer(vectors).deallocate()
        codes.deallocate()
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
        codes = Self.allocateCodes(bytes: encoding == .float32 ? 1 : slots * rowBytes)
        if encoding == .int8 { setInt8Scale(int8Scale) }
        for n in 0..<count { encodeRow(n) }
    }

    private static func allocateCodes(bytes: Int) -> UnsafeMutableRawPointer {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: max(bytes, 1))
        return p
    }

    /// Sets the int8 scale. Called once, before any row is encoded (under the index's
    /// structure lock held for writing).
    mutating func setInt8Scale(_ scale: Float) {
        int8Scale = scale
        int8DistanceFactor = 1 / (scale * scale)
    }

    /// Writes node `n`'s code row from its vector row (nothing for f32). The padding
    /// components are zero in both.
    func encodeRow(_ n: Int) {
        guard encoding != .float32 else { return }
        encoding.encode(vector(n), into: codes + n * rowBytes, count: stride, int8Scale: int8Scale)
    }

    /// `query` (`stride` floats) in the form ``row(_:)`` returns, in `buffer` (`rowBytes`
    /// bytes); returns the pointer to pass to ``distance(_:_:)``.
    func encodeQuery(_ query: UnsafePointer<Float>, into buffer: UnsafeMutableRawPointer) -> UnsafeRawPointer {
        guard encoding != .float32 else { return UnsafeRawPointer(query) }
        encoding.encode(query, into: buffer, count: stride, int8Scale: int8Scale)
        return UnsafeRawPointer(buffer)
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
        if encoding != .float32 {
            let c = Self.allocateCodes(bytes: newCapacity * rowBytes)
            c.copyMemory(from: codes, byteCount: used * rowBytes)
            codes.deallocate()
            codes = c
        }

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
        codes.deallocate()
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

    /// Node `n`'s row as the graph walk reads it: the code row, or for f32 the vector row.
    @inline(__always)
    func row(_ n: Int) -> UnsafeRawPointer {
        encoding == .float32 ? UnsafeRawPointer(vectors + n * stride) : UnsafeRawPointer(codes + n * rowBytes)
    }

    /// Node `n`'s adjacency list at `layer` (a count, then the slots).
    /// - Precondition: `layer <= levels[n]`.
    @inline(__always)
    func links(_ n: Int, layer: Int) -> UnsafeMutablePointer<UInt32> {
        if layer == 0 { return links0 + n * (1 + maxM0) }
        return upper[n].unsafelyUnwrapped + (layer - 1) * (1 + m)
    }

    @inline(__always)
    func maxLinks(layer: Int) -> Int { layer == 0 ? maxM0 : m }

    /// The distance between two rows as ``row(_:)`` returns them (smaller is closer): exact
    /// for f32, approximate from the codes otherwise.
    @inline(__always)
    func distance(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer) -> Float {
        VectorDistance.distance(metric, dot: { dot(a, b) }, squaredL2: { squaredL2(a, b) })
    }

    /// The inner product of two rows (int8: the integer sum scaled back to the vectors' units).
    @inline(__always)
    private func dot(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer) -> Float {
        switch encoding {
        case .float32:
            return VectorDistance.dot(a.assumingMemoryBound(to: Float.self), b.assumingMemoryBound(to: Float.self), count: stride)
        case .float16:
            return VectorDistance.dotFloat16(a.assumingMemoryBound(to: UInt16.self), b.assumingMemoryBound(to: UInt16.self), count: stride)
        case .int8:
            return Float(VectorDistance.dotInt8(a.assumingMemoryBound(to: Int8.self), b.assumingMemoryBound(to: Int8.self),
                                                count: stride)) * int8DistanceFactor
        }
    }

    /// The squared Euclidean distance of two rows (int8: scaled back likewise).
    @inline(__always)
    private func squaredL2(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer) -> Float {
        switch encoding {
        case .float32:
            return VectorDistance.squaredL2(a.assumingMemoryBound(to: Float.self), b.assumingMemoryBound(to: Float.self), count: stride)
        case .float16:
            return VectorDistance.squaredL2Float16(a.assumingMemoryBound(to: UInt16.self), b.assumingMemoryBound(to: UInt16.self),
                                                   count: stride)
        case .int8:
            return Float(VectorDistance.squaredL2Int8(a.assumingMemoryBound(to: Int8.self), b.assumingMemoryBound(to: Int8.self),
                                                      count: stride)) * int8DistanceFactor
        }
    }

    @inline(__always)
    func distance(_ a: UnsafeRawPointer, node b: UInt32) -> Float {
        distance(a, row(Int(b)))
    }

    /// The exact distance from `query` (`stride` floats) to node `b`'s vector.
    @inline(__always)
    func exactDistance(_ query: UnsafePointer<Float>, node b: UInt32) -> Float {
        VectorDistance.distance(metric, query, vector(Int(b)), count: stride)
    }
}

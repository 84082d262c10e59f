import CToonDBVectorKernels

/// Distance kernels over `Float` vectors of any dimension.
///
/// ``dot(_:_:count:)`` and ``squaredL2(_:_:count:)`` call the C kernels of
/// CToonDBVectorKernels, built for AVX-512, AVX2+FMA and a baseline and chosen when the binary
/// loads from what the CPU supports (``kernels``): Swift can only raise the target CPU for a
/// whole module, which would make the binary fault on older CPUs, while the widest units gave
/// 1.2–1.5× the search rate of the baseline build (BENCHMARKS.md).
///
/// ``simdDot(_:_:count:)`` and ``simdSquaredL2(_:_:count:)`` are the portable Swift kernels
/// (the tests check the C kernels against them). Each runs a `SIMD16<Float>` body with two independent accumulators (32 floats per
/// step, so the two dependency chains overlap), then at most one more 16-wide step, then a
/// scalar tail for the last `count % 16` elements. Products are accumulated as `acc += a * b`,
/// never with `addingProduct`/`fma`: without an FMA-capable target CPU those become a per-lane
/// library call (see ENGINEERING-NOTES.md, "Hot loops").
///
/// Every distance is "smaller is closer":
/// - ``VectorMetric/cosine``: `1 − a·b`, for vectors already normalised to unit length;
/// - ``VectorMetric/innerProduct``: `−a·b`;
/// - ``VectorMetric/l2``: the squared Euclidean distance `Σ (aᵢ − bᵢ)²`.
public enum VectorDistance {
    /// Which C kernels are in use: `avx512`, `avx2` or `baseline`.
    public static var kernels: String { String(cString: toondb_vector_kernels()) }

    /// The inner product `Σ aᵢ·bᵢ` of two vectors of `count` floats (the dispatched C kernel).
    /// The pointers need no particular alignment.
    @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        toondb_dot(a, b, count)
    }

    /// The squared Euclidean distance of two vectors of `count` floats (the dispatched C kernel).
    @inline(__always)
    public static func squaredL2(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        toondb_squared_l2(a, b, count)
    }

    /// The exact inner product of `count` int8 codes (the int8 encoding's kernel); codes must
    /// lie in −127...127.
    @inline(__always)
    public static func dotInt8(_ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>, count: Int) -> Int32 {
        toondb_dot_i8(a, b, count)
    }

    /// The exact squared Euclidean distance of `count` int8 codes in −127...127 (`count` ≤
    /// 32,768, so the sum fits 32 bits).
    @inline(__always)
    public static func squaredL2Int8(_ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>, count: Int) -> Int32 {
        toondb_squared_l2_i8(a, b, count)
    }

    /// The inner product of `count` IEEE binary16 values given as bit patterns (the f16
    /// encoding's kernel), accumulated in `Float`.
    @inline(__always)
    public static func dotFloat16(_ a: UnsafePointer<UInt16>, _ b: UnsafePointer<UInt16>, count: Int) -> Float {
        toondb_dot_f16(a, b, count)
    }

    /// The squared Euclidean distance of `count` binary16 bit patterns, accumulated in `Float`.
    @inline(__always)
    public static func squaredL2Float16(_ a: UnsafePointer<UInt16>, _ b: UnsafePointer<UInt16>, count: Int) -> Float {
        toondb_squared_l2_f16(a, b, count)
    }

    /// Narrows `count` floats to binary16 bit patterns (round to nearest even).
    public static func float16Bits(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<UInt16>, count: Int) {
        toondb_f32_to_f16(source, destination, count)
    }

    /// Widens one binary16 bit pattern to `Float` (exact).
    public static func float(float16Bits bits: UInt16) -> Float { toondb_f16_to_f32(bits) }

    /// The inner product `Σ aᵢ·bᵢ` of two vectors of `count` floats, in portable Swift.
    ///
    /// The pointers need no particular alignment.
    @inlinable
    public static func simdDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        let ra = UnsafeRawPointer(a)
        let rb = UnsafeRawPointer(b)
        var acc0 = SIMD16<Float>()
        var acc1 = SIMD16<Float>()
        var i = 0
        while i &+ 32 <= count {
            let off = i &* 4
            let a0 = ra.loadUnaligned(fromByteOffset: off, as: SIMD16<Float>.self)
            let b0 = rb.loadUnaligned(fromByteOffset: off, as: SIMD16<Float>.self)
            let a1 = ra.loadUnaligned(fromByteOffset: off &+ 64, as: SIMD16<Float>.self)
            let b1 = rb.loadUnaligned(fromByteOffset: off &+ 64, as: SIMD16<Float>.self)
            acc0 += a0 * b0
            acc1 += a1 * b1
            i &+= 32
        }
        if i &+ 16 <= count {
            let off = i &* 4
            let a0 = ra.loadUnaligned(fromByteOffset: off, as: SIMD16<Float>.self)
            let b0 = rb.loadUnaligned(fromByteOffset: off, as: SIMD16<Float>.self)
            acc0 += a0 * b0
            i &+= 16
        }
        var sum = (acc0 + acc1).sum()
        while i < count {
            sum += a[i] * b[i]
            i &+= 1
        }
        return sum
    }

    /// The squared Euclidean distance `Σ (aᵢ − bᵢ)²` of two vectors of `count` floats, in
    /// portable Swift.
    ///
    /// The pointers need no particular alignment.
    @inlinable
    public static func simdSquaredL2(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        let ra = UnsafeRawPointer(a)
        let rb = UnsafeRawPointer(b)
        var acc0 = SIMD16<Float>()
        var acc1 = SIMD16<Float>()
        var i = 0
        while i &+ 32 <= count {
            let off = i &* 4
            let d0 = ra.loadUnaligned(fromByteOffset: off, as: SIMD16<Float>.self)
                - rb.loadUnaligned(fromByteOffset: off, as: SIMD16<Float>.self)
            let d1 = ra.loadUnaligned(fromByteOffset: off &+ 64, as: SIMD16<Float>.self)
                - rb.loadUnaligned(fromByteOffset: off &+ 64, as: SIMD16<Float>.self)
            acc0 += d0 * d0
            acc1 += d1 * d1
            i &+= 32
        }
        if i &+ 16 <= count {
            let off = i &* 4
            let d0 = ra.loadUnaligned(fromByteOffset: off, as: SIMD16<Float>.self)
                - rb.loadUnaligned(fromByteOffset: off, as: SIMD16<Float>.self)
            acc0 += d0 * d0
            i &+= 16
        }
        var sum = (acc0 + acc1).sum()
        while i < count {
            let d = a[i] - b[i]
            sum += d * d
            i &+= 1
        }
        return sum
    }

    /// The distance between two vectors of `count` floats under `metric` (smaller is closer).
    ///
    /// For ``VectorMetric/cosine`` both vectors must already be unit length (the index
    /// normalises on insert and on search); the result is then `1 − a·b`.
    @inlinable
    public static func distance(_ metric: VectorMetric, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        distance(metric, dot: { dot(a, b, count: count) }, squaredL2: { squaredL2(a, b, count: count) })
    }

    /// The distance under `metric` from whichever kernel it needs (only that one runs): the
    /// one place that turns a dot product or a squared L2 into "smaller is closer", for the
    /// `Float` kernels above and the index's f16 and int8 rows alike.
    @inlinable @inline(__always)
    public static func distance(_ metric: VectorMetric, dot: () -> Float, squaredL2: () -> Float) -> Float {
        switch metric {
        case .cosine: return 1 - dot()
        case .innerProduct: return -dot()
        case .l2: return squaredL2()
        }
    }

    /// The inner product of two arrays of equal length.
    ///
    /// - Precondition: `a.count == b.count`.
    public static func dot(_ a: [Float], _ b: [Float]) -> Float {
        withPointers(a, b) { dot($0, $1, count: $2) }
    }

    /// The squared Euclidean distance of two arrays of equal length.
    ///
    /// - Precondition: `a.count == b.count`.
    public static func squaredL2(_ a: [Float], _ b: [Float]) -> Float {
        withPointers(a, b) { squaredL2($0, $1, count: $2) }
    }

    /// The distance of two arrays of equal length under `metric` (see
    /// ``distance(_:_:_:count:)``; for cosine both must already be unit length).
    ///
    /// - Precondition: `a.count == b.count`.
    public static func distance(_ metric: VectorMetric, _ a: [Float], _ b: [Float]) -> Float {
        withPointers(a, b) { distance(metric, $0, $1, count: $2) }
    }

    /// Runs a pointer kernel over two arrays of equal length (0 for empty arrays).
    private static func withPointers(_ a: [Float], _ b: [Float],
                                     _ kernel: (UnsafePointer<Float>, UnsafePointer<Float>, Int) -> Float) -> Float {
        precondition(a.count == b.count, "vectors of different lengths")
        return a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                guard let x = pa.baseAddress, let y = pb.baseAddress else { return 0 }
                return kernel(x, y, pa.count)
            }
        }
    }

    /// Scales `count` floats in place to unit Euclidean length and returns the original norm
    /// (0 when the vector is all zeros, in which case it is left unchanged).
    @inlinable
    @discardableResult
    public static func normalize(_ v: UnsafeMutablePointer<Float>, count: Int) -> Float {
        let norm = dot(v, v, count: count).squareRoot()
        guard norm > 0 else { return 0 }
        let scale = 1 / norm
        for i in 0..<count { v[i] *= scale }
        return norm
    }
}

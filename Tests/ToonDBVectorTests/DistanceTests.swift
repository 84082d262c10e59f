import Testing
import ToonDBVector

@Suite struct DistanceTests {
    static let dimensions = [1, 15, 16, 17, 31, 32, 33, 384, 768]

    func reference(_ metric: VectorMetric, _ a: [Float], _ b: [Float]) -> Double {
        switch metric {
        case .cosine: return 1 - zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        case .innerProduct: return -zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        case .l2: return zip(a, b).reduce(0.0) { $0 + (Double($1.0) - Double($1.1)) * (Double($1.0) - Double($1.1)) }
        }
    }

    func normalized(_ v: [Float]) -> [Float] {
        let n = Float(v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
        return v.map { $0 / n }
    }

    @Test(arguments: dimensions)
    func kernelsMatchDoubleReference(dimension: Int) {
        var rng = TestRandom(UInt64(dimension))
        for _ in 0..<20 {
            let a = rng.vector(dimension), b = rng.vector(dimension)
            let tolerance = 1e-5 * Double(dimension) + 1e-6
            #expect(abs(Double(VectorDistance.dot(a, b)) + reference(.innerProduct, a, b)) <= tolerance)
            #expect(abs(Double(VectorDistance.squaredL2(a, b)) - reference(.l2, a, b)) <= tolerance)
            #expect(abs(Double(VectorDistance.distance(.innerProduct, a, b)) - reference(.innerProduct, a, b)) <= tolerance)
            #expect(abs(Double(VectorDistance.distance(.l2, a, b)) - reference(.l2, a, b)) <= tolerance)
            let na = normalized(a), nb = normalized(b)
            #expect(abs(Double(VectorDistance.distance(.cosine, na, nb)) - reference(.cosine, na, nb)) <= 1e-5)
        }
    }

    /// The dispatched C kernels (whichever this CPU selects) and the portable Swift ones agree
    /// with each other and with a Double reference, tails included.
    @Test(arguments: dimensions + [0, 7, 8, 9, 48, 63, 65])
    func dispatchedAndPortableKernelsAgree(dimension: Int) {
        #expect(["avx512", "avx2", "baseline"].contains(VectorDistance.kernels))
        var rng = TestRandom(UInt64(dimension) &+ 100)
        let a = rng.vector(max(dimension, 1)), b = rng.vector(max(dimension, 1))
        let tolerance = 1e-5 * Double(dimension) + 1e-6
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                let x = pa.baseAddress!, y = pb.baseAddress!
                let dots = [VectorDistance.dot(x, y, count: dimension), VectorDistance.simdDot(x, y, count: dimension)]
                let l2s = [VectorDistance.squaredL2(x, y, count: dimension), VectorDistance.simdSquaredL2(x, y, count: dimension)]
                let refDot = -reference(.innerProduct, Array(a.prefix(dimension)), Array(b.prefix(dimension)))
                let refL2 = reference(.l2, Array(a.prefix(dimension)), Array(b.prefix(dimension)))
                for d in dots { #expect(abs(Double(d) - refDot) <= tolerance) }
                for d in l2s { #expect(abs(Double(d) - refL2) <= tolerance) }
            }
        }
    }

    @Test(arguments: [1, 17, 384])
    func pointerKernelsAcceptUnalignedInput(dimension: Int) {
        var rng = TestRandom(7)
        let storage = rng.vector(dimension + 1), other = rng.vector(dimension + 3)
        storage.withUnsafeBufferPointer { p in
            other.withUnsafeBufferPointer { q in
                let a = Array(storage[1...]), b = Array(other[3...])
                let d = VectorDistance.dot(p.baseAddress! + 1, q.baseAddress! + 3, count: dimension)
                #expect(abs(Double(d) + reference(.innerProduct, a, b)) <= 1e-5 * Double(dimension))
            }
        }
    }

    @Test func normalizeMakesUnitLength() {
        var v: [Float] = [3, 4]
        let norm = v.withUnsafeMutableBufferPointer { VectorDistance.normalize($0.baseAddress!, count: 2) }
        #expect(norm == 5)
        #expect(abs(v[0] - 0.6) < 1e-6 && abs(v[1] - 0.8) < 1e-6)
        var zero: [Float] = [0, 0, 0]
        #expect(zero.withUnsafeMutableBufferPointer { VectorDistance.normalize($0.baseAddress!, count: 3) } == 0)
    }
}

/// The int8 and f16 kernels of the compact encodings against plain Swift references.
@Suite struct QuantizedKernelTests {
    static let lengths = [0, 1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 96, 384, 768, 32_768]

    @Test(arguments: lengths)
    func int8KernelsAreExact(count: Int) {
        var rng = TestRandom(UInt64(count) &+ 5)
        // Extremes included: ±127 everywhere is the largest sum the kernels must hold.
        let extremes = count == 32_768
        let a: [Int8] = (0..<count).map { _ in extremes ? 127 : Int8(Int(rng.next() % 255) - 127) }
        let b: [Int8] = (0..<count).map { _ in extremes ? -127 : Int8(Int(rng.next() % 255) - 127) }
        var dot: Int64 = 0, l2: Int64 = 0
        for i in 0..<count {
            dot += Int64(a[i]) * Int64(b[i])
            l2 += (Int64(a[i]) - Int64(b[i])) * (Int64(a[i]) - Int64(b[i]))
        }
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                let x = pa.baseAddress ?? UnsafePointer(bitPattern: 64)!, y = pb.baseAddress ?? UnsafePointer(bitPattern: 64)!
                #expect(Int64(VectorDistance.dotInt8(x, y, count: count)) == dot)
                #expect(Int64(VectorDistance.squaredL2Int8(x, y, count: count)) == l2)
            }
        }
    }

    @Test(arguments: lengths.filter { $0 <= 768 })
    func float16KernelsMatchAWidenedReference(count: Int) {
        var rng = TestRandom(UInt64(count) &+ 9)
        let a = rng.vector(count).map { $0 * 3 }, b = rng.vector(count).map { $0 * 3 }
        var ha = [UInt16](repeating: 0, count: count), hb = ha
        a.withUnsafeBufferPointer { src in ha.withUnsafeMutableBufferPointer { VectorDistance.float16Bits(src.baseAddress ?? UnsafePointer(bitPattern: 64)!, into: $0.baseAddress ?? UnsafeMutablePointer(bitPattern: 64)!, count: count) } }
        b.withUnsafeBufferPointer { src in hb.withUnsafeMutableBufferPointer { VectorDistance.float16Bits(src.baseAddress ?? UnsafePointer(bitPattern: 64)!, into: $0.baseAddress ?? UnsafeMutablePointer(bitPattern: 64)!, count: count) } }
        // Narrowing is IEEE round-to-nearest-even, as Swift's Float16 initialiser.
        for i in 0..<count {
            #expect(ha[i] == Float16(a[i]).bitPattern)
            #expect(VectorDistance.float(float16Bits: ha[i]) == Float(Float16(bitPattern: ha[i])))
        }
        let wa = ha.map { Double(Float16(bitPattern: $0)) }, wb = hb.map { Double(Float16(bitPattern: $0)) }
        let dot = zip(wa, wb).reduce(0) { $0 + $1.0 * $1.1 }
        let l2 = zip(wa, wb).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        ha.withUnsafeBufferPointer { pa in
            hb.withUnsafeBufferPointer { pb in
                let x = pa.baseAddress ?? UnsafePointer(bitPattern: 64)!, y = pb.baseAddress ?? UnsafePointer(bitPattern: 64)!
                let tolerance = 1e-5 * Double(count) * 9 + 1e-6
                #expect(abs(Double(VectorDistance.dotFloat16(x, y, count: count)) - dot) <= tolerance)
                #expect(abs(Double(VectorDistance.squaredL2Float16(x, y, count: count)) - l2) <= tolerance)
            }
        }
    }

    /// Every binary16 bit pattern widens as Swift's Float16 does (subnormals, infinities and
    /// NaN included).
    @Test func float16WideningCoversEveryPattern() {
        for bits in 0...UInt16.max {
            let ours = VectorDistance.float(float16Bits: bits)
            let swift = Float(Float16(bitPattern: bits))
            #expect(ours.bitPattern == swift.bitPattern || (ours.isNaN && swift.isNaN), "bits \(bits)")
        }
    }
}

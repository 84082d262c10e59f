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

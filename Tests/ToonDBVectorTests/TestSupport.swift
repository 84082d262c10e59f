import Foundation
@testable import ToonDBVector

/// A small deterministic generator for test data (the index's own SplitMix64).
struct TestRandom {
    private var generator: SplitMix64
    init(_ seed: UInt64) { generator = SplitMix64(seed: seed) }
    mutating func next() -> UInt64 { generator.next() }
    /// Uniform in [-1, 1).
    mutating func nextFloat() -> Float { Float(Double(next() >> 11) / 4_503_599_627_370_496.0 - 1) }
    mutating func vector(_ dimension: Int) -> [Float] { (0..<dimension).map { _ in nextFloat() } }
    mutating func flat(count: Int, dimension: Int) -> [Float] { (0..<(count * dimension)).map { _ in nextFloat() } }
}

/// The vector test set in testdata/vectors (see its README.md).
enum VectorTestData {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("testdata/vectors")
    static let dimension = 384

    static func floats(_ name: String) throws -> [Float] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }

    static func int32s(_ name: String) throws -> [Int32] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
        }
    }

    /// The first `baseCount` (2,000 or 5,000) base vectors (`baseCount` × 384), the queries
    /// (200 × 384), and the exact top-10 base rows per query by inner product over those
    /// `baseCount` vectors (200 rows of 10).
    static func load(baseCount: Int) throws -> (base: [Float], queries: [Float], truth: [[Int32]]) {
        precondition(baseCount == 2000 || baseCount == 5000)
        let base = Array(try floats("minilm384_base_5k.f32").prefix(baseCount * dimension))
        let truth = try int32s(baseCount == 5000 ? "minilm384_gt_top10_5k.i32" : "minilm384_gt_top10_2k.i32")
        return (base, try floats("minilm384_query_200.f32"), (0..<(truth.count / 10)).map { Array(truth[($0 * 10)..<($0 * 10 + 10)]) })
    }

    /// recall@10 of searching the first `queryCount` queries (ids = base row numbers).
    static func recall(_ index: HNSWIndex, queries: [Float], truth: [[Int32]], queryCount: Int,
                       efSearch: Int) throws -> Double {
        var hits = 0
        for q in 0..<queryCount {
            let query = Array(queries[(q * dimension)..<((q + 1) * dimension)])
            let found = Set(try index.search(query, k: 10, efSearch: efSearch).map { Int32($0.id) })
            hits += truth[q].filter { found.contains($0) }.count
        }
        return Double(hits) / Double(queryCount * 10)
    }
}

import Foundation
import Testing
import ToonDBVector

/// Recall on real text embeddings (testdata/vectors: MiniLM-L6 base vectors, 200 held-out
/// queries, exact top-10 by inner product recomputed over the base slice used).
///
/// A debug build computes a 384-d distance about 300× slower than a release build (the
/// `SIMD16` operators are not inlined at -Onone: ~8 µs instead of ~30 ns), so the debug run
/// indexes the first 2,000 base vectors (about 10 s on 2 cores) and a release run all 5,000.
@Suite struct RecallTests {
    #if DEBUG
    static let baseCount = 2000
    #else
    static let baseCount = 5000
    #endif

    /// Every encoding: f16 and int8 walk the graph on compact codes and re-rank on the exact
    /// vectors, and must still reach the same bar at the default ef_search.
    @Test(arguments: VectorEncoding.allCases)
    func recallAt10OnMiniLMAtLeast095(encoding: VectorEncoding) throws {
        let (base, queries, truth) = try VectorTestData.load(baseCount: Self.baseCount)
        let baseCount = base.count / VectorTestData.dimension
        let queryCount = queries.count / VectorTestData.dimension
        #expect(baseCount == Self.baseCount && queryCount == 200 && truth.count == 200)

        let start = ContinuousClock.now
        let index = try HNSWIndex(dimension: 384, metric: .cosine, m: 16, efConstruction: 100, encoding: encoding)
        try index.build(ids: (0..<baseCount).map(UInt64.init), vectors: base, count: baseCount, threads: 0)
        let built = ContinuousClock.now
        let recall = try VectorTestData.recall(index, queries: queries, truth: truth, queryCount: queryCount, efSearch: 64)
        let searched = ContinuousClock.now
        print("recall@10 (\(encoding.rawValue), cosine, M=16, efConstruction=100, efSearch=64, \(baseCount) base, \(queryCount) queries) = \(recall); build \(built - start), search \(searched - built)")
        #expect(recall >= 0.95)
    }
}

/// Throughput figures, run only with TOONDB_VECTOR_PERF set (no timing assertions):
///   TOONDB_VECTOR_PERF=1 swift test -c release --disable-testable-imports --scratch-path .build-vector --filter VectorPerf
@Suite(.enabled(if: ProcessInfo.processInfo.environment["TOONDB_VECTOR_PERF"] != nil))
struct VectorPerf {
    @Test func buildAndSearchThroughput() throws {
        let (base, queries, truth) = try VectorTestData.load(baseCount: 5000)
        let dimension = VectorTestData.dimension
        let baseCount = base.count / dimension, queryCount = queries.count / dimension
        func seconds(_ d: Duration) -> Double {
            Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }

        // Kernels: 768-d distances in cache (32 rows × 768 floats = 96 KiB, a different pair
        // each call so the call cannot be hoisted out of the loop).
        var rng = TestRandom(1)
        let rows = rng.flat(count: 32, dimension: 768)
        var sink: Float = 0
        let reps = 2_000_000
        for metric in VectorMetric.allCases {
            let t0 = ContinuousClock.now
            rows.withUnsafeBufferPointer { p in
                let base = p.baseAddress!
                for r in 0..<reps {
                    sink += VectorDistance.distance(metric, base + (r & 31) * 768, base + ((r >> 5) & 31) * 768, count: 768)
                }
            }
            print("kernel: \(metric) 768-d \(seconds(ContinuousClock.now - t0) / Double(reps) * 1e9) ns/distance (sink \(sink))")
        }

        var index: HNSWIndex! = nil
        for threads in [1, 0] {
            let idx = try HNSWIndex(dimension: dimension, metric: .cosine, m: 16, efConstruction: 100)
            let start = ContinuousClock.now
            try idx.build(ids: (0..<baseCount).map(UInt64.init), vectors: base, count: baseCount, threads: threads)
            let elapsed = seconds(ContinuousClock.now - start)
            print("build \(baseCount) × \(dimension), threads \(threads == 0 ? "all" : String(threads)): \(Int(Double(baseCount) / elapsed)) vectors/s (\(elapsed) s)")
            if threads == 1 { index = idx }
        }
        let queryRows = (0..<queryCount).map { Array(queries[($0 * dimension)..<(($0 + 1) * dimension)]) }
        for ef in [16, 32, 64, 128, 256] {
            let recall = try VectorTestData.recall(index, queries: queries, truth: truth, queryCount: queryCount, efSearch: ef)
            let rounds = 5
            let start = ContinuousClock.now
            for _ in 0..<rounds { for q in queryRows { _ = try index.search(q, k: 10, efSearch: ef) } }
            let qps = Double(rounds * queryCount) / seconds(ContinuousClock.now - start)
            print("efSearch \(ef): recall@10 \(recall), \(Int(qps)) QPS (1 thread)")
        }
    }
}

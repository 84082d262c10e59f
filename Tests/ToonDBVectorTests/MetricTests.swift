import Testing
import ToonDBVector

@Suite struct MetricTests {
    @Test func namesAreStable() {
        #expect(VectorMetric.allCases.map(\.rawValue) == ["cosine", "ip", "l2"])
    }
}

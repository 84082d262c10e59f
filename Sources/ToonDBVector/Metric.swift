/// How the distance between two vectors is measured (smaller is closer for every metric).
public enum VectorMetric: String, Sendable, CaseIterable {
    /// 1 − cosine similarity (vectors are normalised when added).
    case cosine
    /// The negated inner product.
    case innerProduct = "ip"
    /// Squared Euclidean distance.
    case l2
}

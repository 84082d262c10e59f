import CToonDBVectorKernels

/// How an ``HNSWIndex`` holds the copy of each vector that the graph walk reads.
///
/// The index always keeps the exact `Float` vectors (they are what ``HNSWIndex/vector(id:)``
/// returns, what the index file stores, and what final distances are computed on). With
/// ``float16`` or ``int8`` it also keeps a compact copy, 2 or 1 bytes per component, and uses
/// it for every distance computed while building the graph and walking it in a search; a
/// search then re-ranks the `efSearch` candidates it found by their exact `Float` distance,
/// so the results' order and distances are exact and only the candidate set is approximate.
/// The compact copy is a quarter (int8) or half (f16) of the memory that traffic touches.
public enum VectorEncoding: String, Sendable, CaseIterable {
    /// The graph is walked on the `Float` vectors themselves (no second copy).
    case float32 = "f32"
    /// IEEE binary16 (round to nearest even): about 3 significant decimal digits.
    case float16 = "f16"
    /// Symmetric scalar quantisation: component `x` is stored as `round(x · scale)` clamped
    /// to −127...127, with one `scale` per index (see ``Int8Scale``).
    case int8

    /// Bytes per component of the compact copy (0 for ``float32``: there is none).
    var codeBytes: Int {
        switch self {
        case .float32: 0
        case .float16: 2
        case .int8: 1
        }
    }

    /// The code stored in the index file header.
    var fileCode: UInt32 {
        switch self {
        case .float32: 0
        case .float16: 1
        case .int8: 2
        }
    }

    init?(fileCode: UInt32) {
        switch fileCode {
        case 0: self = .float32
        case 1: self = .float16
        case 2: self = .int8
        default: return nil
        }
    }

    /// The largest dimension an int8 index accepts: the squared distance of two rows of
    /// codes in −127...127 must fit the kernels' 32-bit integer sum (254² · 32,768 < 2³¹).
    static let maxInt8Dimension = 32_768
}

/// The int8 encoding's scale: one factor for the whole index, chosen from the first vectors
/// added so that nearly all components use the full code range.
///
/// The scale is `127 / q`, where `q` is the 99.99th percentile of `|x|` over (a sample of at
/// most 2^20 of) the components of the first batch, after normalisation for a cosine index.
/// A percentile rather than the maximum keeps one outlier from coarsening every other
/// component; the few larger components clamp to ±127, and re-ranking on the exact vectors
/// repairs the order they might disturb. Vectors added later are encoded with the same scale
/// (and clamped likewise), so the first batch should be representative: add vectors in bulk
/// (``HNSWIndex/build(ids:vectors:count:threads:)``) rather than one at a time when using int8.
enum Int8Scale {
    /// The scale for `count` rows of `dimension` floats back to back at `rows`, normalising
    /// each row first when `normalize` is set. Never zero: all-zero input gives 127.
    static func train(rows: UnsafePointer<Float>, count: Int, dimension: Int, normalize: Bool) -> Float {
        let total = count * dimension
        let step = max(1, total / (1 << 20))
        var sample: [Float] = []
        sample.reserveCapacity(total / step + 1)
        var next = 0  // the next sampled component
        for row in 0..<count where next < (row + 1) * dimension {
            let start = rows + row * dimension
            var factor: Float = 1
            if normalize {
                let norm = VectorDistance.dot(start, start, count: dimension).squareRoot()
                if norm > 0 { factor = 1 / norm }
            }
            while next < (row + 1) * dimension {
                sample.append(abs(rows[next]) * factor)
                next += step
            }
        }
        sample.sort()
        let q = sample.isEmpty ? 0 : sample[min(sample.count - 1, Int(Double(sample.count - 1) * 0.9999))]
        return q > 0 && q.isFinite ? 127 / q : 127
    }

    /// Encodes `count` floats at `source` into codes at `destination`.
    static func encode(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Int8>,
                       count: Int, scale: Float) {
        for i in 0..<count {
            let scaled = (source[i] * scale).rounded(.toNearestOrEven)
            destination[i] = Int8(min(127, max(-127, scaled)))
        }
    }
}

extension VectorEncoding {
    /// Writes the compact copy of `count` floats at `source` to `destination` (which has room
    /// for `count · codeBytes` bytes). `int8Scale` is used by ``int8`` only.
    func encode(_ source: UnsafePointer<Float>, into destination: UnsafeMutableRawPointer, count: Int, int8Scale: Float) {
        switch self {
        case .float32:
            break
        case .float16:
            toondb_f32_to_f16(source, destination.assumingMemoryBound(to: UInt16.self), count)
        case .int8:
            Int8Scale.encode(source, into: destination.assumingMemoryBound(to: Int8.self), count: count, scale: int8Scale)
        }
    }
}

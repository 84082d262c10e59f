import ToonDBEngine
import ToonDBTOON
import ToonDBVector

/// A collection's fixed parameters, chosen at creation and stored in its descriptor.
public struct CollectionSettings: Sendable, Equatable {
    /// Components per vector.
    public var dimension: Int
    /// How distances are measured.
    public var metric: VectorMetric
    /// HNSW neighbours per node on upper layers (layer 0 keeps `2·m`).
    public var m: Int
    /// HNSW beam width while inserting.
    public var efConstruction: Int
    /// The beam width of a search that does not name one.
    public var efSearch: Int
    /// What the index's graph walk reads (``VectorEncoding``): the exact vectors, or an f16 or
    /// int8 copy with results re-ranked on the exact ones. The records always hold `Float`s.
    public var encoding: VectorEncoding

    public init(dimension: Int, metric: VectorMetric = .cosine, m: Int = 16, efConstruction: Int = 100, efSearch: Int = 64,
                encoding: VectorEncoding = .float32) {
        self.dimension = dimension
        self.metric = metric
        self.m = m
        self.efConstruction = efConstruction
        self.efSearch = efSearch
        self.encoding = encoding
    }

    /// Throws unless the index can be built with these settings.
    public func validate() throws(CollectionError) {
        guard (1...65_536).contains(dimension) else {
            throw CollectionError(.invalidArgument, "dimension must be in 1...65536, got \(dimension)")
        }
        guard (2...255).contains(m) else { throw CollectionError(.invalidArgument, "m must be in 2...255, got \(m)") }
        guard (1...100_000).contains(efConstruction) else {
            throw CollectionError(.invalidArgument, "ef_construction must be in 1...100000, got \(efConstruction)")
        }
        guard (1...100_000).contains(efSearch) else {
            throw CollectionError(.invalidArgument, "ef_search must be in 1...100000, got \(efSearch)")
        }
        guard encoding != .int8 || dimension <= 32_768 else {
            throw CollectionError(.invalidArgument, "the int8 encoding allows a dimension of at most 32768, got \(dimension)")
        }
    }

    /// The descriptor value: a JSON object, format version 1. `encoding` is written only when
    /// it is not f32 (and read as f32 when absent), so descriptors written before it existed
    /// stay valid and f32 descriptors are unchanged.
    func encoded() -> [UInt8] {
        var members = [
            ("version", "1"),
            ("dimension", String(dimension)),
            ("metric", JSON.string(metric.rawValue)),
            ("m", String(m)),
            ("ef_construction", String(efConstruction)),
            ("ef_search", String(efSearch)),
        ]
        if encoding != .float32 { members.append(("encoding", JSON.string(encoding.rawValue))) }
        return Array(JSON.object(members).utf8)
    }

    /// Parses a descriptor value of collection `name`.
    static func decode(_ bytes: [UInt8], name: String) throws(CollectionError) -> CollectionSettings {
        func corrupt(_ why: String) -> CollectionError {
            CollectionError(.corruptRecord, "the descriptor of collection \"\(name)\" \(why)")
        }
        let value: TOONValue
        do { value = try JSONReader.parse(bytes) } catch { throw corrupt("is not JSON (\(error.message))") }
        guard value["version"]?.numberValue == 1 else { throw corrupt("has an unsupported version") }
        func integer(_ key: String) throws(CollectionError) -> Int {
            guard let number = value[key]?.numberValue, let int = Int(exactly: number) else { throw corrupt("lacks \(key)") }
            return int
        }
        guard let metricName = value["metric"]?.stringValue, let metric = VectorMetric(rawValue: metricName) else {
            throw corrupt("has an unknown metric")
        }
        var encoding = VectorEncoding.float32
        if let field = value["encoding"] {
            guard let name = field.stringValue, let parsed = VectorEncoding(rawValue: name) else {
                throw corrupt("has an unknown encoding")
            }
            encoding = parsed
        }
        let settings = CollectionSettings(dimension: try integer("dimension"), metric: metric, m: try integer("m"),
                                          efConstruction: try integer("ef_construction"), efSearch: try integer("ef_search"),
                                          encoding: encoding)
        do { try settings.validate() } catch { throw corrupt("is out of range: \(error.message)") }
        return settings
    }
}

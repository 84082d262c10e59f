/// A parsed request. ToonDB's opcodes and their extended forms share cases: ToonDB's
/// PUT is `.put(transaction: 0, ...)`, GET_PATH is `.get(transaction: 0, .path(...), .bare)`.
public enum Request: Sendable, Equatable {
    case put(transaction: UInt64, KeyTarget, value: [UInt8])
    case get(transaction: UInt64, KeyTarget, ValueForm)
    case delete(transaction: UInt64, KeyTarget)
    case beginTransaction
    case commit(transaction: UInt64)
    case abort(transaction: UInt64)
    case query(QueryRequest)
    case createTable(TableSchema)
    case describeTable(name: String)
    /// ToonDB's SCAN: every pair under the prefix, in one VALUE frame.
    case scan(prefix: [UInt8])
    case scanStream(transaction: UInt64, ScanRange, limit: UInt32)
    case writeBatch(transaction: UInt64, [BatchOperation])
    case checkpoint
    case stats
    case ping
    case executeSQL(String)
    /// COLLECTION_CREATE: a new vector collection.
    case collectionCreate(CollectionSpec)
    case collectionDrop(name: String)
    case collectionList
    case collectionInfo(name: String)
    case collectionInsert(CollectionInsert)
    /// COLLECTION_DELETE: the item `id` of collection `name`.
    case collectionDelete(name: String, id: UInt64)
    /// COLLECTION_GET: the stored record of item `id` of collection `name`.
    case collectionGet(name: String, id: UInt64)
    case collectionSearch(CollectionSearch)

    /// The opcode a request of this kind is sent with (the extended form when the request
    /// carries a transaction or needs the extended reply).
    public var opcode: RequestOpcode {
        switch self {
        case .put(let txn, .key, _): txn == 0 ? .put : .kvPut
        case .put(let txn, .path, _): txn == 0 ? .putPath : .pathPut
        case .get(let txn, .key, let form): txn == 0 && form == .bare ? .get : .kvGet
        case .get(let txn, .path, let form): txn == 0 && form == .bare ? .getPath : .pathGet
        case .delete(let txn, .key): txn == 0 ? .delete : .kvDelete
        case .delete(_, .path): .pathDelete
        case .beginTransaction: .beginTransaction
        case .commit: .commitTransaction
        case .abort: .abortTransaction
        case .query: .query
        case .createTable: .createTable
        case .describeTable: .describeTable
        case .scan: .scan
        case .scanStream: .scanStream
        case .writeBatch: .writeBatch
        case .checkpoint: .checkpoint
        case .stats: .stats
        case .ping: .ping
        case .executeSQL: .executeSQL
        case .collectionCreate: .collectionCreate
        case .collectionDrop: .collectionDrop
        case .collectionList: .collectionList
        case .collectionInfo: .collectionInfo
        case .collectionInsert: .collectionInsert
        case .collectionDelete: .collectionDelete
        case .collectionGet: .collectionGet
        case .collectionSearch: .collectionSearch
        }
    }
}

/// What a key operation addresses: a raw key, or a path whose segments are joined by `/`.
public enum KeyTarget: Sendable, Equatable {
    case key([UInt8])
    case path([String])
}

/// How a GET answers: ToonDB's bare value (empty when missing), or the extension's
/// `found u8` flag before the value.
public enum ValueForm: Sendable, Equatable {
    case bare
    case flagged
}

/// A SCAN_STREAM range.
public enum ScanRange: Sendable, Equatable {
    /// `[start, end)`; an empty bound is open.
    case range(start: [UInt8], end: [UInt8])
    case prefix([UInt8])
}

/// One write of a WRITE_BATCH.
public enum BatchOperation: Sendable, Equatable {
    case put(key: [UInt8], value: [UInt8])
    case delete(key: [UInt8])
}

/// QUERY's arguments (docs/ipc-protocol.md, "Query").
public struct QueryRequest: Sendable, Equatable {
    public var path: String
    /// Rows to return; 0 = no limit.
    public var limit: UInt32
    public var offset: UInt32
    /// Columns to return, in this order; empty = every column, sorted.
    public var columns: [String]

    public init(path: String, limit: UInt32 = 0, offset: UInt32 = 0, columns: [String] = []) {
        self.path = path
        self.limit = limit
        self.offset = offset
        self.columns = columns
    }
}

/// A table schema, as CREATE_TABLE carries it.
public struct TableSchema: Sendable, Equatable {
    public enum ColumnType: UInt8, Sendable, CaseIterable {
        case int64 = 0, uint64 = 1, float64 = 2, text = 3, binary = 4, bool = 5
    }

    public struct Column: Sendable, Equatable {
        public var name: String
        public var type: ColumnType
        public var nullable: Bool

        public init(name: String, type: ColumnType, nullable: Bool) {
            self.name = name
            self.type = type
            self.nullable = nullable
        }
    }

    public static let maxColumns = 1024

    public var name: String
    public var columns: [Column]

    public init(name: String, columns: [Column]) {
        self.name = name
        self.columns = columns
    }
}

// MARK: - Vector collections

/// A collection's distance metric as COLLECTION_CREATE carries it (`metric u8`).
public enum CollectionMetric: UInt8, Sendable, CaseIterable {
    /// 1 − cosine similarity.
    case cosine = 0
    /// The negated inner product.
    case innerProduct = 1
    /// Squared Euclidean distance.
    case l2 = 2

    /// The metric's name in collection descriptors and info (`ToonDBVector.VectorMetric`'s raw value).
    public var name: String {
        switch self {
        case .cosine: "cosine"
        case .innerProduct: "ip"
        case .l2: "l2"
        }
    }
}

/// What a collection's index walks (COLLECTION_CREATE's optional last byte): the exact vectors
/// or an f16 / int8 copy (`ToonDBVector.VectorEncoding`).
public enum CollectionEncoding: UInt8, Sendable, CaseIterable {
    case float32 = 0
    case float16 = 1
    case int8 = 2

    /// The encoding's name in collection descriptors and info (`VectorEncoding`'s raw value).
    public var name: String {
        switch self {
        case .float32: "f32"
        case .float16: "f16"
        case .int8: "int8"
        }
    }
}

/// COLLECTION_CREATE's arguments: a name and the collection's fixed parameters (validated by
/// the server, not by the wire format).
public struct CollectionSpec: Sendable, Equatable {
    public var name: String
    /// Components per vector.
    public var dimension: UInt32
    public var metric: CollectionMetric
    /// HNSW neighbours per node.
    public var m: UInt32
    /// HNSW beam width while inserting.
    public var efConstruction: UInt32
    /// The beam width of a search that does not name one.
    public var efSearch: UInt32
    /// What the index walks; sent only when not f32.
    public var encoding: CollectionEncoding

    public init(name: String, dimension: UInt32, metric: CollectionMetric = .cosine, m: UInt32 = 16,
                efConstruction: UInt32 = 100, efSearch: UInt32 = 64, encoding: CollectionEncoding = .float32) {
        self.name = name
        self.dimension = dimension
        self.metric = metric
        self.m = m
        self.efConstruction = efConstruction
        self.efSearch = efSearch
        self.encoding = encoding
    }
}

/// COLLECTION_INSERT's arguments: `ids.count` items stored in one transaction.
public struct CollectionInsert: Sendable, Equatable {
    public var name: String
    /// Components per vector, as the client states it (the server checks it against the
    /// collection's).
    public var dimension: UInt32
    public var ids: [UInt64]
    /// `ids.count × dimension` floats, the items' vectors back to back.
    public var vectors: [Float]
    /// Empty: no item has metadata. Otherwise one entry per id: a JSON object as UTF-8, or
    /// empty for none.
    public var metadata: [[UInt8]]

    public init(name: String, dimension: UInt32, ids: [UInt64], vectors: [Float], metadata: [[UInt8]] = []) {
        self.name = name
        self.dimension = dimension
        self.ids = ids
        self.vectors = vectors
        self.metadata = metadata
    }
}

/// COLLECTION_SEARCH's arguments.
public struct CollectionSearch: Sendable, Equatable {
    /// How the hits come back.
    public enum Format: UInt8, Sendable, CaseIterable {
        /// The binary hit list: `count u32, {id u64, distance f32, meta_len u32, meta}*`.
        case hits = 0
        /// A TOON document (UTF-8 text) with a `result` table of id, distance and metadata.
        case toon = 1
    }

    public var name: String
    /// Hits wanted (at least 1).
    public var k: UInt32
    /// The beam width; 0 uses the collection's default.
    public var efSearch: UInt32
    public var format: Format
    /// A metadata filter as JSON text; empty for none.
    public var filter: [UInt8]
    /// The query vector (the collection's dimension).
    public var query: [Float]

    public init(name: String, k: UInt32, efSearch: UInt32 = 0, format: Format = .hits, filter: [UInt8] = [], query: [Float]) {
        self.name = name
        self.k = k
        self.efSearch = efSearch
        self.format = format
        self.filter = filter
        self.query = query
    }
}

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

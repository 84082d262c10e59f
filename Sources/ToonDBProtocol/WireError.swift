/// An error as it travels in an ERROR frame: `<code>: <text>` in UTF-8.
///
/// The code is a stable token clients map to exceptions; the text is for people (it names the
/// key, the transaction or the limit involved).
public struct WireError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        case unknownOpcode = "unknown_opcode"
        case malformed
        case frameTooLarge = "frame_too_large"
        case invalidArgument = "invalid_argument"
        case keyTooLarge = "key_too_large"
        case valueTooLarge = "value_too_large"
        case unknownTransaction = "unknown_transaction"
        case transaction
        case tooManyTransactions = "too_many_transactions"
        case conflict
        case resultTooLarge = "result_too_large"
        case notFound = "not_found"
        case alreadyExists = "already_exists"
        case notImplemented = "not_implemented"
        case busy
        case shuttingDown = "shutting_down"
        case storage
        // Vector collections (ToonDBCollections' CollectionError codes 21-26; its code 20 is
        // `invalid_argument` and its storage failures use the engine's mapping).
        case collectionNotFound = "collection_not_found"
        case collectionExists = "collection_exists"
        case wrongDimension = "wrong_dimension"
        case invalidVector = "invalid_vector"
        case invalidMetadata = "invalid_metadata"
        case corruptRecord = "corrupt_record"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The ERROR frame's payload text.
    public var description: String { "\(code.rawValue): \(message)" }

    /// Reads an ERROR payload back; text without a known code becomes `storage` with the whole
    /// text as message (ToonDB's own server sends bare messages).
    public init(wireText: String) {
        if let colon = wireText.firstIndex(of: ":"), let code = Code(rawValue: String(wireText[..<colon])) {
            var rest = wireText[wireText.index(after: colon)...]
            if rest.first == " " { rest = rest.dropFirst() }
            self.init(code, String(rest))
        } else {
            self.init(.storage, wireText)
        }
    }

    @usableFromInline static func malformed(_ opcode: RequestOpcode, _ what: String) -> WireError {
        WireError(.malformed, "\(opcode.name): \(what)")
    }
}

extension RequestOpcode {
    /// The opcode's protocol name, as in docs/ipc-protocol.md.
    public var name: String {
        switch self {
        case .put: "PUT"
        case .get: "GET"
        case .delete: "DELETE"
        case .beginTransaction: "BEGIN_TXN"
        case .commitTransaction: "COMMIT_TXN"
        case .abortTransaction: "ABORT_TXN"
        case .query: "QUERY"
        case .createTable: "CREATE_TABLE"
        case .putPath: "PUT_PATH"
        case .getPath: "GET_PATH"
        case .scan: "SCAN"
        case .checkpoint: "CHECKPOINT"
        case .stats: "STATS"
        case .ping: "PING"
        case .executeSQL: "EXECUTE_SQL"
        case .kvPut: "KV_PUT"
        case .kvGet: "KV_GET"
        case .kvDelete: "KV_DELETE"
        case .pathPut: "PATH_PUT"
        case .pathGet: "PATH_GET"
        case .pathDelete: "PATH_DELETE"
        case .scanStream: "SCAN_STREAM"
        case .writeBatch: "WRITE_BATCH"
        case .describeTable: "DESCRIBE_TABLE"
        case .collectionCreate: "COLLECTION_CREATE"
        case .collectionDrop: "COLLECTION_DROP"
        case .collectionList: "COLLECTION_LIST"
        case .collectionInfo: "COLLECTION_INFO"
        case .collectionInsert: "COLLECTION_INSERT"
        case .collectionDelete: "COLLECTION_DELETE"
        case .collectionGet: "COLLECTION_GET"
        case .collectionSearch: "COLLECTION_SEARCH"
        }
    }
}

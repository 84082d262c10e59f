import NIOCore
import Testing
@testable import ToonDBProtocol

private func bytes(_ frame: Frame) -> [UInt8] {
    var buffer = ByteBuffer()
    frame.write(into: &buffer)
    return buffer.readBytes(length: buffer.readableBytes)!
}

private func decode(_ opcode: UInt8, _ payload: [UInt8]) throws(WireError) -> Request {
    try Request.decode(opcode: opcode, payload: ByteBuffer(bytes: payload))
}

private func le32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
private func le16(_ value: UInt16) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
private func le64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }

@Suite struct RequestCodingTests {
    static let everyKind: [Request] = [
        .put(transaction: 0, .key(Array("k".utf8)), value: Array("v".utf8)),
        .put(transaction: 7, .key([0, 255]), value: []),
        .put(transaction: 0, .path(["users", "alice"]), value: [1, 2]),
        .put(transaction: 9, .path(["a"]), value: [3]),
        .get(transaction: 0, .key(Array("k".utf8)), .bare),
        .get(transaction: 0, .key(Array("k".utf8)), .flagged),
        .get(transaction: 5, .key([]), .flagged),
        .get(transaction: 0, .path(["x", "y"]), .bare),
        .get(transaction: 3, .path(["x"]), .flagged),
        .delete(transaction: 0, .key([9])),
        .delete(transaction: 4, .key([9])),
        .delete(transaction: 0, .path(["p", "q"])),
        .beginTransaction,
        .commit(transaction: UInt64.max),
        .abort(transaction: 1),
        .query(QueryRequest(path: "users/", limit: 10, offset: 2, columns: ["name", "email"])),
        .query(QueryRequest(path: "")),
        .createTable(TableSchema(name: "t", columns: [.init(name: "id", type: .int64, nullable: false), .init(name: "b", type: .bool, nullable: true)])),
        .describeTable(name: "t"),
        .scan(prefix: Array("users/".utf8)),
        .scanStream(transaction: 0, .range(start: [1], end: [2]), limit: 0),
        .scanStream(transaction: 2, .prefix([1, 2]), limit: 100),
        .writeBatch(transaction: 0, [.put(key: [1], value: [2]), .delete(key: [3]), .put(key: [], value: [])]),
        .writeBatch(transaction: 1, []),
        .checkpoint, .stats, .ping,
        .executeSQL("SELECT 1"),
        .collectionCreate(CollectionSpec(name: "docs", dimension: 768, metric: .innerProduct, m: 32, efConstruction: 200, efSearch: 50)),
        .collectionCreate(CollectionSpec(name: "", dimension: 0, metric: .l2, m: 0, efConstruction: 0, efSearch: UInt32.max)),
        .collectionCreate(CollectionSpec(name: "q", dimension: 384, encoding: .int8)),
        .collectionCreate(CollectionSpec(name: "h", dimension: 384, encoding: .float16)),
        .collectionDrop(name: "docs"),
        .collectionList,
        .collectionInfo(name: "ünï"),
        .collectionInsert(CollectionInsert(name: "docs", dimension: 2, ids: [1, UInt64.max], vectors: [0.5, -1, .infinity, 3e-38])),
        .collectionInsert(CollectionInsert(name: "docs", dimension: 3, ids: [7], vectors: [1, 2, 3], metadata: [Array(#"{"a":1}"#.utf8)])),
        .collectionInsert(CollectionInsert(name: "docs", dimension: 1, ids: [1, 2], vectors: [1, 2], metadata: [[], Array("{}".utf8)])),
        .collectionInsert(CollectionInsert(name: "docs", dimension: 4, ids: [], vectors: [])),
        .collectionDelete(name: "docs", id: 0),
        .collectionGet(name: "docs", id: UInt64.max),
        .collectionSearch(CollectionSearch(name: "docs", k: 10, query: [1, 0, -0.25])),
        .collectionSearch(CollectionSearch(name: "docs", k: 3, efSearch: 128, format: .toon, filter: Array(#"{"lang":"en"}"#.utf8), query: [])),
    ]

    @Test(arguments: everyKind)
    func roundTrips(_ request: Request) throws {
        let frame = request.encode()
        #expect(frame.opcode == request.opcode.rawValue)
        #expect(try Request.decode(opcode: frame.opcode, payload: frame.payload) == request)
    }

    @Test func coversEveryOpcode() {
        let covered = Set(Self.everyKind.map(\.opcode))
        #expect(covered == Set(RequestOpcode.allCases))
    }

    // ToonDB's layouts, byte for byte (docs/ipc-protocol.md).
    @Test func toonDBPutLayout() {
        let frame = Request.put(transaction: 0, .key(Array("ab".utf8)), value: Array("xyz".utf8)).encode()
        #expect(bytes(frame) == [0x01] + le32(9) + le32(2) + Array("abxyz".utf8))
    }

    @Test func toonDBPathAndQueryLayouts() {
        let put = Request.put(transaction: 0, .path(["u", "al"]), value: [7]).encode()
        #expect(bytes(put) == [0x09] + le32(10) + le16(2) + le16(1) + Array("u".utf8) + le16(2) + Array("al".utf8) + [7])
        let query = Request.query(QueryRequest(path: "u", limit: 3, offset: 1, columns: ["c"])).encode()
        #expect(bytes(query) == [0x07] + le32(16) + le16(1) + [0x75] + le32(3) + le32(1) + le16(1) + le16(1) + [0x63])
        let commit = Request.commit(transaction: 0x0102).encode()
        #expect(bytes(commit) == [0x05] + le32(8) + le64(0x0102))
    }

    @Test func unknownOpcode() {
        #expect(throws: WireError(.unknownOpcode, "unknown opcode 0x7F")) { try decode(0x7F, []) }
        #expect(throws: WireError(.unknownOpcode, "unknown opcode 0x00")) { try decode(0x00, []) }
        #expect(throws: WireError(.unknownOpcode, "unknown opcode 0x21")) { try decode(0x21, []) }
    }

    // The collection layouts, byte for byte (docs/ipc-protocol.md, "Vector collections").
    @Test func collectionLayouts() {
        let create = Request.collectionCreate(CollectionSpec(name: "ab", dimension: 3, metric: .l2, m: 16, efConstruction: 100, efSearch: 64)).encode()
        #expect(bytes(create) == [0x19] + le32(21) + le16(2) + Array("ab".utf8) + le32(3) + [2] + le32(16) + le32(100) + le32(64))
        // The optional encoding byte: sent only when not f32.
        let int8 = Request.collectionCreate(CollectionSpec(name: "ab", dimension: 3, metric: .l2, m: 16, efConstruction: 100,
                                                           efSearch: 64, encoding: .int8)).encode()
        #expect(bytes(int8) == [0x19] + le32(22) + le16(2) + Array("ab".utf8) + le32(3) + [2] + le32(16) + le32(100) + le32(64) + [2])
        #expect(bytes(Request.collectionDrop(name: "ab").encode()) == [0x1A] + le32(4) + le16(2) + Array("ab".utf8))
        #expect(bytes(Request.collectionList.encode()) == [0x1B] + le32(0))
        #expect(bytes(Request.collectionInfo(name: "c").encode()) == [0x1C] + le32(3) + le16(1) + [0x63])
        let insert = Request.collectionInsert(CollectionInsert(name: "c", dimension: 2, ids: [5, 6], vectors: [1, -2, 0.5, 0],
                                                               metadata: [Array("{}".utf8), []])).encode()
        let floats = [Float(1), -2, 0.5, 0].flatMap { le32($0.bitPattern) }
        #expect(bytes(insert) == [0x1D] + le32(54) + le16(1) + [0x63] + le32(2) + le32(2) + [1] + le64(5) + le64(6) + floats
                + le32(2) + Array("{}".utf8) + le32(0))
        let bare = Request.collectionInsert(CollectionInsert(name: "c", dimension: 1, ids: [9], vectors: [1])).encode()
        #expect(bytes(bare) == [0x1D] + le32(24) + le16(1) + [0x63] + le32(1) + le32(1) + [0] + le64(9) + le32(Float(1).bitPattern))
        #expect(bytes(Request.collectionDelete(name: "c", id: 0x0102).encode()) == [0x1E] + le32(11) + le16(1) + [0x63] + le64(0x0102))
        #expect(bytes(Request.collectionGet(name: "c", id: 3).encode()) == [0x1F] + le32(11) + le16(1) + [0x63] + le64(3))
        let search = Request.collectionSearch(CollectionSearch(name: "c", k: 5, efSearch: 0, format: .toon, filter: Array("{}".utf8), query: [0.5])).encode()
        #expect(bytes(search) == [0x20] + le32(26) + le16(1) + [0x63] + le32(5) + le32(0) + [1] + le32(2) + Array("{}".utf8)
                + le32(1) + le32(Float(0.5).bitPattern))
    }

    @Test func malformedCollectionPayloads() {
        let name = le16(1) + [0x63]
        #expect(throws: WireError(.malformed, "COLLECTION_CREATE: payload ends before ef_search")) {
            try decode(0x19, name + le32(3) + [0] + le32(16) + le32(100))
        }
        #expect(throws: WireError(.invalidArgument, "COLLECTION_CREATE: unknown metric 3 (0 cosine, 1 ip, 2 l2)")) {
            try decode(0x19, name + le32(3) + [3] + le32(16) + le32(100) + le32(64))
        }
        #expect(throws: WireError(.invalidArgument, "COLLECTION_CREATE: unknown encoding 3 (0 f32, 1 f16, 2 int8)")) {
            try decode(0x19, name + le32(3) + [0] + le32(16) + le32(100) + le32(64) + [3])
        }
        #expect(throws: WireError(.malformed, "COLLECTION_CREATE: 1 unexpected trailing bytes")) {
            try decode(0x19, name + le32(3) + [0] + le32(16) + le32(100) + le32(64) + [2, 0])
        }
        #expect(throws: WireError(.malformed, "COLLECTION_DROP: collection name declares 5 bytes but only 1 remain")) {
            try decode(0x1A, le16(5) + [0x63])
        }
        #expect(throws: WireError(.invalidArgument, "COLLECTION_INFO: collection name is not valid UTF-8")) {
            try decode(0x1C, le16(2) + [0xC3, 0x28])
        }
        #expect(throws: WireError(.malformed, "COLLECTION_LIST: 1 unexpected trailing bytes")) { try decode(0x1B, [0]) }
        // INSERT: counts the payload cannot hold are refused before anything is allocated.
        #expect(throws: WireError(.malformed, "COLLECTION_INSERT: count = 4000000000 ids cannot fit in 0 bytes")) {
            try decode(0x1D, name + le32(4_000_000_000) + le32(1) + [0])
        }
        #expect(throws: WireError(.malformed, "COLLECTION_INSERT: 2 vectors of dimension 4294967295 cannot fit in a frame")) {
            try decode(0x1D, name + le32(2) + le32(UInt32.max) + [0] + le64(1) + le64(2))
        }
        #expect(throws: WireError(.malformed, "COLLECTION_INSERT: the vectors: 4294967295 floats need 17179869180 bytes but only 0 remain")) {
            try decode(0x1D, name + le32(1) + le32(UInt32.max) + [0] + le64(1))
        }
        #expect(throws: WireError(.malformed, "COLLECTION_INSERT: the vectors: 4 floats need 16 bytes but only 8 remain")) {
            try decode(0x1D, name + le32(2) + le32(2) + [0] + le64(1) + le64(2) + le32(0) + le32(0))
        }
        #expect(throws: WireError(.invalidArgument, "COLLECTION_INSERT: has_metadata = 2 (expected 0 or 1)")) {
            try decode(0x1D, name + le32(1) + le32(1) + [2] + le64(1) + le32(0))
        }
        #expect(throws: WireError(.malformed, "COLLECTION_INSERT: metadata of item 1 declares 9 bytes but only 2 remain")) {
            try decode(0x1D, name + le32(1) + le32(1) + [1] + le64(1) + le32(0) + le32(9) + [0x7B, 0x7D])
        }
        #expect(throws: WireError(.malformed, "COLLECTION_INSERT: 3 metadata entries cannot fit in 4 bytes")) {
            try decode(0x1D, name + le32(3) + le32(0) + [1] + le64(1) + le64(2) + le64(3) + le32(0))
        }
        #expect(throws: WireError(.malformed, "COLLECTION_INSERT: 4 unexpected trailing bytes")) {
            try decode(0x1D, name + le32(1) + le32(1) + [0] + le64(1) + le32(0) + le32(0))
        }
        #expect(throws: WireError(.malformed, "COLLECTION_GET: payload ends before id")) { try decode(0x1F, name + [1, 2, 3]) }
        #expect(throws: WireError(.malformed, "COLLECTION_DELETE: payload ends before id")) { try decode(0x1E, name) }
        // SEARCH.
        #expect(throws: WireError(.invalidArgument, "COLLECTION_SEARCH: unknown format 2 (0 = binary hits, 1 = TOON text)")) {
            try decode(0x20, name + le32(1) + le32(0) + [2] + le32(0) + le32(0))
        }
        #expect(throws: WireError(.malformed, "COLLECTION_SEARCH: filter declares 100 bytes but only 4 remain")) {
            try decode(0x20, name + le32(1) + le32(0) + [0] + le32(100) + le32(0))
        }
        #expect(throws: WireError(.malformed, "COLLECTION_SEARCH: the query: 3 floats need 12 bytes but only 4 remain")) {
            try decode(0x20, name + le32(1) + le32(0) + [0] + le32(0) + le32(3) + le32(0))
        }
        #expect(throws: WireError(.malformed, "COLLECTION_SEARCH: payload ends before dimension")) {
            try decode(0x20, name + le32(1) + le32(0) + [0] + le32(0))
        }
    }

    @Test func truncatedAndTrailing() {
        #expect(throws: WireError(.malformed, "PUT: payload ends before length")) { try decode(0x01, [1, 0]) }
        #expect(throws: WireError(.malformed, "PUT: key declares 10 bytes but only 2 remain")) { try decode(0x01, le32(10) + [1, 2]) }
        #expect(throws: WireError(.malformed, "COMMIT_TXN: payload ends before txn_id")) { try decode(0x05, [1, 2, 3]) }
        #expect(throws: WireError(.malformed, "COMMIT_TXN: 1 unexpected trailing bytes")) { try decode(0x05, le64(1) + [0]) }
        #expect(throws: WireError(.malformed, "PING: 2 unexpected trailing bytes")) { try decode(0x0E, [0, 0]) }
    }

    @Test func badPaths() {
        #expect(throws: WireError(.invalidArgument, "PUT_PATH: a path needs at least one segment")) { try decode(0x09, le16(0) + [1]) }
        #expect(throws: WireError(.invalidArgument, "GET_PATH: path segment 2 is empty")) { try decode(0x0A, le16(2) + le16(1) + [0x61] + le16(0)) }
        #expect(throws: WireError(.invalidArgument, "GET_PATH: path segment 1 (\"a/b\") contains '/'")) { try decode(0x0A, le16(1) + le16(3) + Array("a/b".utf8)) }
        #expect(throws: WireError(.invalidArgument, "GET_PATH: path segment 1 is not valid UTF-8")) { try decode(0x0A, le16(1) + le16(2) + [0xC3, 0x28]) }
    }

    @Test func badScanAndBatch() {
        let head = le64(0)
        #expect(throws: WireError(.invalidArgument, "SCAN_STREAM: unknown mode 2 (0 = range, 1 = prefix)")) {
            try decode(0x16, head + [2] + le32(0) + le32(0) + le32(0))
        }
        #expect(throws: WireError(.invalidArgument, "SCAN_STREAM: a prefix scan (mode 1) takes an empty second bound")) {
            try decode(0x16, head + [1] + le32(0) + le32(1) + [1] + le32(1) + [2])
        }
        #expect(throws: WireError(.malformed, "WRITE_BATCH: n = 4000000000 operations cannot fit in 0 bytes")) {
            try decode(0x17, head + le32(4_000_000_000))
        }
        #expect(throws: WireError(.invalidArgument, "WRITE_BATCH: operation 1 has unknown op 9 (0 = put, 1 = delete)")) {
            try decode(0x17, head + le32(1) + [9] + le32(0) + [0, 0, 0, 0])
        }
    }

    @Test func badSchemas() throws {
        #expect(throws: WireError(.invalidArgument, "CREATE_TABLE: column 1 (\"c\") has unknown type 6 (0 Int64, 1 UInt64, 2 Float64, 3 Text, 4 Binary, 5 Bool)")) {
            try decode(0x08, le16(1) + [0x74] + le16(1) + le16(1) + [0x63, 6, 0])
        }
        let twice = TableSchema(name: "t", columns: [.init(name: "a", type: .text, nullable: true), .init(name: "a", type: .int64, nullable: false)])
        #expect(throws: WireError(.invalidArgument, "CREATE_TABLE: table \"t\" names column \"a\" twice")) { try twice.validate() }
        #expect(throws: WireError(.invalidArgument, "CREATE_TABLE: table \"t\" has no columns")) { try TableSchema(name: "t", columns: []).validate() }
        #expect(throws: WireError(.invalidArgument, "CREATE_TABLE: table name \"a/b\" contains '/' or NUL")) {
            try TableSchema(name: "a/b", columns: [.init(name: "x", type: .text, nullable: true)]).validate()
        }
    }

    /// Random payloads for every opcode: decoding either succeeds or throws, never traps.
    @Test func randomPayloadsNeverTrap() {
        var generator = SystemRandomNumberGenerator()
        var decoded = 0, rejected = 0
        for _ in 0..<20_000 {
            let opcode = UInt8.random(in: 0...0x22, using: &generator)
            let length = Int.random(in: 0...40, using: &generator)
            let payload = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            do {
                _ = try decode(opcode, payload)
                decoded += 1
            } catch {
                rejected += 1
            }
        }
        #expect(decoded + rejected == 20_000)
        #expect(decoded > 0 && rejected > 0)
    }
}

@Suite struct FrameTests {
    @Test func parsesWholeFramesOnly() {
        var buffer = ByteBuffer(bytes: [0x02] + le32(3) + [1, 2])
        #expect(Frame.parse(&buffer, maxPayload: 100) == .needMoreData)
        buffer.writeBytes([3, 0x0E, 0, 0])
        #expect(Frame.parse(&buffer, maxPayload: 100) == .frame(Frame(opcode: 2, payload: ByteBuffer(bytes: [1, 2, 3]))))
        #expect(Frame.parse(&buffer, maxPayload: 100) == .needMoreData)
        buffer.writeBytes([0, 0])
        #expect(Frame.parse(&buffer, maxPayload: 100) == .frame(Frame(opcode: 0x0E, payload: ByteBuffer())))
        #expect(buffer.readableBytes == 0)
    }

    @Test func rejectsOversizedBeforeReadingThePayload() {
        var buffer = ByteBuffer(bytes: [0x01] + le32(UInt32.max))
        #expect(Frame.parse(&buffer, maxPayload: Frame.defaultMaxPayload) == .oversized(opcode: 1, length: UInt64(UInt32.max)))
    }

    @Test func repliesReadBack() {
        var buffer = ByteBuffer()
        buffer.writeErrorFrame(WireError(.conflict, "write-write conflict on key \"k\""))
        buffer.writeUInt64Frame(.transactionID, 42)
        buffer.writeFrame(.pong)
        buffer.writeFrame(.value) { $0.writeBytes([1, 2]) }
        var replies: [Reply] = []
        while case .frame(let frame) = Frame.parse(&buffer, maxPayload: 100) { replies.append(Reply(frame)!) }
        #expect(replies == [.error(WireError(.conflict, "write-write conflict on key \"k\"")), .transactionID(42), .pong, .value(ByteBuffer(bytes: [1, 2]))])
    }

    @Test func errorTextWithoutCodeIsStorage() {
        #expect(WireError(wireText: "Failed to put value") == WireError(.storage, "Failed to put value"))
        #expect(WireError(wireText: "busy: 100 clients") == WireError(.busy, "100 clients"))
    }
}

/// The single-key layout (``KeyRequestFields``) that the decoder and the server's in-place
/// paths share: located fields, errors, and agreement with the decoder on random payloads.
@Suite struct KeyRequestFieldsTests {
    private func locate(_ opcode: RequestOpcode, _ payload: [UInt8]) throws(WireError) -> KeyRequestFields? {
        // Array.withUnsafeBytes rethrows untyped: carry the typed error out by hand.
        var result: Result<KeyRequestFields?, WireError> = .success(nil)
        payload.withUnsafeBytes { raw in result = Result { () throws(WireError) in try KeyRequestFields.locate(opcode: opcode, in: raw) } }
        return try result.get()
    }

    @Test func fieldsOfEverySingleKeyOpcode() throws {
        let key: [UInt8] = [1, 2, 3], value: [UInt8] = [9, 8]
        #expect(try locate(.put, le32(3) + key + value)
                == KeyRequestFields(operation: .put, transaction: 0, key: 4..<7, value: 7..<9, flagged: false))
        #expect(try locate(.kvPut, le64(42) + le32(3) + key + value)
                == KeyRequestFields(operation: .put, transaction: 42, key: 12..<15, value: 15..<17, flagged: false))
        #expect(try locate(.get, key) == KeyRequestFields(operation: .get, transaction: 0, key: 0..<3, value: 3..<3, flagged: false))
        #expect(try locate(.kvGet, le64(0) + key)
                == KeyRequestFields(operation: .get, transaction: 0, key: 8..<11, value: 11..<11, flagged: true))
        #expect(try locate(.delete, key) == KeyRequestFields(operation: .delete, transaction: 0, key: 0..<3, value: 3..<3, flagged: false))
        #expect(try locate(.kvDelete, le64(7) + key)
                == KeyRequestFields(operation: .delete, transaction: 7, key: 8..<11, value: 11..<11, flagged: false))
        #expect(try locate(.put, le32(0)) == KeyRequestFields(operation: .put, transaction: 0, key: 4..<4, value: 4..<4, flagged: false))
        #expect(try locate(.scan, key) == nil)
        #expect(try locate(.putPath, key) == nil)
    }

    @Test func truncatedPayloadsAreMalformed() {
        #expect(throws: WireError(.malformed, "KV_GET: payload ends before txn_id")) { try locate(.kvGet, [0, 0, 0]) }
        #expect(throws: WireError(.malformed, "KV_PUT: payload ends before length")) { try locate(.kvPut, le64(0) + [1]) }
        #expect(throws: WireError(.malformed, "KV_PUT: key declares 5 bytes but only 1 remain")) { try locate(.kvPut, le64(0) + le32(5) + [1]) }
        #expect(throws: WireError(.malformed, "PUT: key declares 4294967295 bytes but only 0 remain")) { try locate(.put, le32(.max)) }
    }

    @Test func theDecoderCopiesExactlyTheLocatedFields() throws {
        var random = SystemRandomNumberGenerator()
        for opcode in [RequestOpcode.put, .get, .delete, .kvPut, .kvGet, .kvDelete] {
            for _ in 0..<300 {
                var payload = (0..<Int.random(in: 0..<24, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
                if Bool.random(using: &random), opcode == .put || opcode == .kvPut {
                    // A plausible key length, so most payloads are well formed.
                    let at = opcode == .kvPut ? 8 : 0
                    if payload.count >= at + 4 {
                        let length = UInt32.random(in: 0...UInt32(payload.count - at - 4), using: &random)
                        payload.replaceSubrange(at..<(at + 4), with: le32(length))
                    }
                }
                let located = Result { () throws(WireError) in try locate(opcode, payload) }
                let decoded = Result { () throws(WireError) in try decode(opcode.rawValue, payload) }
                switch (located, decoded) {
                case (.success(let fields?), .success(let request)):
                    let key = Array(payload[fields.key]), value = Array(payload[fields.value])
                    let expected: Request = switch fields.operation {
                    case .put: .put(transaction: fields.transaction, .key(key), value: value)
                    case .get: .get(transaction: fields.transaction, .key(key), fields.flagged ? .flagged : .bare)
                    case .delete: .delete(transaction: fields.transaction, .key(key))
                    }
                    #expect(request == expected, "\(opcode.name) \(payload)")
                case (.failure(let a), .failure(let b)):
                    #expect(a == b, "\(opcode.name) \(payload)")
                default:
                    Issue.record("\(opcode.name) \(payload): located \(located), decoded \(decoded)")
                }
            }
        }
    }
}

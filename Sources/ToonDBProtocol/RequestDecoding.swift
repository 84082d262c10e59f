import NIOCore

extension Request {
    /// Parses a request frame's payload. Every malformation (an unknown opcode, a truncated
    /// field, trailing bytes, invalid UTF-8, an empty or `/`-containing path segment) is a
    /// ``WireError`` naming the opcode and the problem.
    public static func decode(opcode rawOpcode: UInt8, payload: ByteBuffer) throws(WireError) -> Request {
        guard let opcode = RequestOpcode(rawValue: rawOpcode) else {
            let hex = String(rawOpcode, radix: 16, uppercase: true)
            throw WireError(.unknownOpcode, "unknown opcode 0x\(hex.count == 1 ? "0" + hex : hex)")
        }
        var reader = PayloadReader(opcode: opcode, buffer: payload)
        let request = try reader.request()
        try reader.expectEnd()
        return request
    }
}

/// Reads one request's fields off its payload, failing with `malformed` on a short read.
private struct PayloadReader {
    let opcode: RequestOpcode
    var buffer: ByteBuffer

    mutating func request() throws(WireError) -> Request {
        let opcode = self.opcode
        if let fields = try buffer.withUnsafeReadableBytes({ (raw) throws(WireError) in try KeyRequestFields.locate(opcode: opcode, in: raw) }) {
            return keyRequest(fields)
        }
        switch opcode {
        case .put, .get, .delete, .kvPut, .kvGet, .kvDelete:
            // Located above: KeyRequestFields.locate answers every single-key opcode.
            throw .malformed(opcode, "not a single-key layout")
        case .beginTransaction:
            return .beginTransaction
        case .commitTransaction:
            return .commit(transaction: try u64("txn_id"))
        case .abortTransaction:
            return .abort(transaction: try u64("txn_id"))
        case .query:
            let path = try string(length: Int(u16("path_len")), "path")
            let limit = try u32("limit"), offset = try u32("offset")
            let count = try u16("ncols")
            var columns: [String] = []
            for index in 0..<Int(count) {
                columns.append(try string(length: Int(u16("col_len")), "column \(index + 1)"))
            }
            return .query(QueryRequest(path: path, limit: limit, offset: offset, columns: columns))
        case .createTable:
            return .createTable(try tableSchema())
        case .describeTable:
            return .describeTable(name: try string(length: Int(u16("name_len")), "name"))
        case .putPath:
            let path = try path()
            return .put(transaction: 0, .path(path), value: rest())
        case .getPath:
            return .get(transaction: 0, .path(try path()), .bare)
        case .scan:
            return .scan(prefix: rest())
        case .checkpoint:
            return .checkpoint
        case .stats:
            return .stats
        case .ping:
            return .ping
        case .executeSQL:
            return .executeSQL(try string(length: buffer.readableBytes, "SQL"))
        case .pathPut:
            let txn = try u64("txn_id")
            let path = try path()
            return .put(transaction: txn, .path(path), value: rest())
        case .pathGet:
            let txn = try u64("txn_id")
            return .get(transaction: txn, .path(try path()), .flagged)
        case .pathDelete:
            let txn = try u64("txn_id")
            return .delete(transaction: txn, .path(try path()))
        case .scanStream:
            let txn = try u64("txn_id")
            let mode = try u8("mode")
            let limit = try u32("limit")
            let a = try bytes(length: u32(), "first bound")
            let b = try bytes(length: u32(), "second bound")
            switch mode {
            case 0: return .scanStream(transaction: txn, .range(start: a, end: b), limit: limit)
            case 1:
                guard b.isEmpty else { throw WireError(.invalidArgument, "SCAN_STREAM: a prefix scan (mode 1) takes an empty second bound") }
                return .scanStream(transaction: txn, .prefix(a), limit: limit)
            default:
                throw WireError(.invalidArgument, "SCAN_STREAM: unknown mode \(mode) (0 = range, 1 = prefix)")
            }
        case .writeBatch:
            let txn = try u64("txn_id")
            let count = try u32("n")
            var operations: [BatchOperation] = []
            // Each operation takes at least 5 bytes: a count the payload cannot hold is malformed,
            // and this bound keeps a hostile count from reserving memory.
            guard Int(count) <= buffer.readableBytes / 5 else {
                throw .malformed(opcode, "n = \(count) operations cannot fit in \(buffer.readableBytes) bytes")
            }
            operations.reserveCapacity(Int(count))
            for index in 0..<Int(count) {
                let op = try u8("op")
                let key = try bytes(length: u32(), "key of operation \(index + 1)")
                switch op {
                case 0: operations.append(.put(key: key, value: try bytes(length: u32(), "value of operation \(index + 1)")))
                case 1: operations.append(.delete(key: key))
                default: throw WireError(.invalidArgument, "WRITE_BATCH: operation \(index + 1) has unknown op \(op) (0 = put, 1 = delete)")
                }
            }
            return .writeBatch(transaction: txn, operations)
        case .collectionCreate:
            let name = try collectionName()
            let dimension = try u32("dimension")
            let rawMetric = try u8("metric")
            guard let metric = CollectionMetric(rawValue: rawMetric) else {
                throw WireError(.invalidArgument, "COLLECTION_CREATE: unknown metric \(rawMetric) (0 cosine, 1 ip, 2 l2)")
            }
            let m = try u32("m"), efConstruction = try u32("ef_construction"), efSearch = try u32("ef_search")
            // The encoding byte is optional (absent: f32), so older clients' requests still parse.
            var encoding = CollectionEncoding.float32
            if buffer.readableBytes > 0 {
                let rawEncoding = try u8("encoding")
                guard let parsed = CollectionEncoding(rawValue: rawEncoding) else {
                    throw WireError(.invalidArgument, "COLLECTION_CREATE: unknown encoding \(rawEncoding) (0 f32, 1 f16, 2 int8)")
                }
                encoding = parsed
            }
            return .collectionCreate(CollectionSpec(name: name, dimension: dimension, metric: metric, m: m,
                                                    efConstruction: efConstruction, efSearch: efSearch, encoding: encoding))
        case .collectionDrop:
            return .collectionDrop(name: try collectionName())
        case .collectionList:
            return .collectionList
        case .collectionInfo:
            return .collectionInfo(name: try collectionName())
        case .collectionInsert:
            return .collectionInsert(try collectionInsert())
        case .collectionDelete:
            let name = try collectionName()
            return .collectionDelete(name: name, id: try u64("id"))
        case .collectionGet:
            let name = try collectionName()
            return .collectionGet(name: name, id: try u64("id"))
        case .collectionSearch:
            let name = try collectionName()
            let k = try u32("k"), efSearch = try u32("ef_search")
            let rawFormat = try u8("format")
            guard let format = CollectionSearch.Format(rawValue: rawFormat) else {
                throw WireError(.invalidArgument, "COLLECTION_SEARCH: unknown format \(rawFormat) (0 = binary hits, 1 = TOON text)")
            }
            let filter = try bytes(length: u32("filter_len"), "filter")
            let dimension = try u32("dimension")
            let query = try floats(count: dimension, what: "the query")
            return .collectionSearch(CollectionSearch(name: name, k: k, efSearch: efSearch, format: format, filter: filter, query: query))
        }
    }

    /// COLLECTION_INSERT: `name, count u32, dimension u32, has_metadata u8, ids u64 × count,
    /// vectors f32 × count × dimension, [{meta_len u32, meta} × count]`.
    mutating func collectionInsert() throws(WireError) -> CollectionInsert {
        let name = try collectionName()
        let count = try u32("count")
        let dimension = try u32("dimension")
        let hasMetadata = try u8("has_metadata")
        guard hasMetadata <= 1 else {
            throw WireError(.invalidArgument, "COLLECTION_INSERT: has_metadata = \(hasMetadata) (expected 0 or 1)")
        }
        // Bounds first: a hostile count reserves nothing.
        guard UInt64(count) * 8 <= UInt64(buffer.readableBytes) else {
            throw .malformed(opcode, "count = \(count) ids cannot fit in \(buffer.readableBytes) bytes")
        }
        let ids = try integers(count: Int(count))
        let (floatCount, overflow) = UInt64(count).multipliedReportingOverflow(by: UInt64(dimension))
        guard !overflow, floatCount <= UInt64(UInt32.max) else {
            throw .malformed(opcode, "\(count) vectors of dimension \(dimension) cannot fit in a frame")
        }
        let vectors = try floats(count: UInt32(floatCount), what: "the vectors")
        var metadata: [[UInt8]] = []
        if hasMetadata == 1 {
            guard UInt64(count) * 4 <= UInt64(buffer.readableBytes) else {
                throw .malformed(opcode, "\(count) metadata entries cannot fit in \(buffer.readableBytes) bytes")
            }
            metadata.reserveCapacity(Int(count))
            for index in 0..<Int(count) {
                metadata.append(try bytes(length: u32("meta_len"), "metadata of item \(index + 1)"))
            }
        }
        return CollectionInsert(name: name, dimension: dimension, ids: ids, vectors: vectors, metadata: metadata)
    }

    /// A single-key request with its fields copied out of the payload, which it consumes.
    mutating func keyRequest(_ fields: KeyRequestFields) -> Request {
        let (key, value) = buffer.withUnsafeReadableBytes { raw in
            ([UInt8](raw[fields.key]), [UInt8](raw[fields.value]))
        }
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        switch fields.operation {
        case .put: return .put(transaction: fields.transaction, .key(key), value: value)
        case .get: return .get(transaction: fields.transaction, .key(key), fields.flagged ? .flagged : .bare)
        case .delete: return .delete(transaction: fields.transaction, .key(key))
        }
    }

    mutating func expectEnd() throws(WireError) {
        if buffer.readableBytes > 0 {
            throw .malformed(opcode, "\(buffer.readableBytes) unexpected trailing bytes")
        }
    }

    // MARK: Fields

    mutating func u8(_ field: String) throws(WireError) -> UInt8 {
        guard let value = buffer.readInteger(as: UInt8.self) else { throw truncated(field) }
        return value
    }

    mutating func u16(_ field: String) throws(WireError) -> UInt16 {
        guard let value = buffer.readInteger(endianness: .little, as: UInt16.self) else { throw truncated(field) }
        return value
    }

    mutating func u32(_ field: String = "length") throws(WireError) -> UInt32 {
        guard let value = buffer.readInteger(endianness: .little, as: UInt32.self) else { throw truncated(field) }
        return value
    }

    mutating func u64(_ field: String) throws(WireError) -> UInt64 {
        guard let value = buffer.readInteger(endianness: .little, as: UInt64.self) else { throw truncated(field) }
        return value
    }

    mutating func bytes(length: UInt32, _ field: String) throws(WireError) -> [UInt8] {
        guard Int(length) <= buffer.readableBytes else {
            throw .malformed(opcode, "\(field) declares \(length) bytes but only \(buffer.readableBytes) remain")
        }
        return buffer.readBytes(length: Int(length))!
    }

    mutating func string(length: Int, _ field: String) throws(WireError) -> String {
        let raw = try bytes(length: UInt32(length), field)
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw WireError(.invalidArgument, "\(opcode.name): \(field) is not valid UTF-8")
        }
        return text
    }

    /// `name_len u16, name`: a collection name (the server checks its characters).
    mutating func collectionName() throws(WireError) -> String {
        try string(length: Int(u16("name_len")), "collection name")
    }

    /// `count` little-endian u64s.
    mutating func integers(count: Int) throws(WireError) -> [UInt64] {
        guard count * 8 <= buffer.readableBytes else {
            throw .malformed(opcode, "\(count) ids need \(count * 8) bytes but only \(buffer.readableBytes) remain")
        }
        let values = buffer.withUnsafeReadableBytes { raw in
            (0..<count).map { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)) }
        }
        buffer.moveReaderIndex(forwardBy: count * 8)
        return values
    }

    /// `count` little-endian f32s (the bound is checked before anything is allocated).
    mutating func floats(count: UInt32, what: String) throws(WireError) -> [Float] {
        let byteCount = UInt64(count) * 4
        guard byteCount <= UInt64(buffer.readableBytes) else {
            throw .malformed(opcode, "\(what): \(count) floats need \(byteCount) bytes but only \(buffer.readableBytes) remain")
        }
        let values = buffer.withUnsafeReadableBytes { raw in
            [Float](unsafeUninitializedCapacity: Int(count)) { out, initialized in
                for i in 0..<Int(count) {
                    out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
                }
                initialized = Int(count)
            }
        }
        buffer.moveReaderIndex(forwardBy: Int(byteCount))
        return values
    }

    mutating func rest() -> [UInt8] {
        buffer.readBytes(length: buffer.readableBytes)!
    }

    /// `nseg u16, {seg_len u16, seg}*`: at least one segment, each non-empty UTF-8 without `/`.
    mutating func path() throws(WireError) -> [String] {
        let count = try u16("nseg")
        guard count > 0 else { throw WireError(.invalidArgument, "\(opcode.name): a path needs at least one segment") }
        var segments: [String] = []
        segments.reserveCapacity(Int(count))
        for index in 1...Int(count) {
            let segment = try string(length: Int(u16("seg_len")), "path segment \(index)")
            if segment.isEmpty { throw WireError(.invalidArgument, "\(opcode.name): path segment \(index) is empty") }
            if segment.utf8.contains(UInt8(ascii: "/")) {
                throw WireError(.invalidArgument, "\(opcode.name): path segment \(index) (\"\(segment)\") contains '/'")
            }
            segments.append(segment)
        }
        return segments
    }

    mutating func tableSchema() throws(WireError) -> TableSchema {
        let name = try string(length: Int(u16("name_len")), "table name")
        let count = try u16("ncols")
        var columns: [TableSchema.Column] = []
        for position in 0..<Int(count) {
            let index = position + 1
            let column = try string(length: Int(u16("name_len")), "column \(index) name")
            let rawType = try u8("column \(index) type")
            guard let type = TableSchema.ColumnType(rawValue: rawType) else {
                throw WireError(.invalidArgument, "CREATE_TABLE: column \(index) (\"\(column)\") has unknown type \(rawType) (0 Int64, 1 UInt64, 2 Float64, 3 Text, 4 Binary, 5 Bool)")
            }
            let nullable = try u8("column \(index) nullable")
            guard nullable <= 1 else {
                throw WireError(.invalidArgument, "CREATE_TABLE: column \(index) (\"\(column)\") has nullable = \(nullable) (expected 0 or 1)")
            }
            columns.append(TableSchema.Column(name: column, type: type, nullable: nullable == 1))
        }
        return TableSchema(name: name, columns: columns)
    }

    func truncated(_ field: String) -> WireError {
        .malformed(opcode, "payload ends before \(field)")
    }
}

import NIOCore

extension Request {
    /// The request as a frame (what a client sends). ``decode(opcode:payload:)`` reads it back.
    public func encode(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> Frame {
        var payload = allocator.buffer(capacity: 64)
        switch self {
        case .put(let txn, let target, let value):
            if opcode.isExtension { payload.writeInteger(txn, endianness: .little) }
            switch target {
            case .key(let key):
                payload.writeInteger(UInt32(key.count), endianness: .little)
                payload.writeBytes(key)
            case .path(let segments):
                payload.writePath(segments)
            }
            payload.writeBytes(value)
        case .get(let txn, let target, _), .delete(let txn, let target):
            if opcode.isExtension { payload.writeInteger(txn, endianness: .little) }
            switch target {
            case .key(let key): payload.writeBytes(key)
            case .path(let segments): payload.writePath(segments)
            }
        case .beginTransaction, .checkpoint, .stats, .ping:
            break
        case .commit(let txn), .abort(let txn):
            payload.writeInteger(txn, endianness: .little)
        case .query(let query):
            payload.writeShortString(query.path)
            payload.writeInteger(query.limit, endianness: .little)
            payload.writeInteger(query.offset, endianness: .little)
            payload.writeInteger(UInt16(query.columns.count), endianness: .little)
            for column in query.columns { payload.writeShortString(column) }
        case .createTable(let schema):
            payload.writeTableSchema(schema)
        case .describeTable(let name):
            payload.writeShortString(name)
        case .scan(let prefix):
            payload.writeBytes(prefix)
        case .scanStream(let txn, let range, let limit):
            payload.writeInteger(txn, endianness: .little)
            let (mode, a, b): (UInt8, [UInt8], [UInt8]) = switch range {
            case .range(let start, let end): (0, start, end)
            case .prefix(let prefix): (1, prefix, [])
            }
            payload.writeInteger(mode)
            payload.writeInteger(limit, endianness: .little)
            payload.writeInteger(UInt32(a.count), endianness: .little)
            payload.writeBytes(a)
            payload.writeInteger(UInt32(b.count), endianness: .little)
            payload.writeBytes(b)
        case .writeBatch(let txn, let operations):
            payload.writeInteger(txn, endianness: .little)
            payload.writeInteger(UInt32(operations.count), endianness: .little)
            for operation in operations {
                switch operation {
                case .put(let key, let value):
                    payload.writeInteger(UInt8(0))
                    payload.writeInteger(UInt32(key.count), endianness: .little)
                    payload.writeBytes(key)
                    payload.writeInteger(UInt32(value.count), endianness: .little)
                    payload.writeBytes(value)
                case .delete(let key):
                    payload.writeInteger(UInt8(1))
                    payload.writeInteger(UInt32(key.count), endianness: .little)
                    payload.writeBytes(key)
                }
            }
        case .executeSQL(let sql):
            payload.writeString(sql)
        case .collectionCreate(let spec):
            payload.writeShortString(spec.name)
            payload.writeInteger(spec.dimension, endianness: .little)
            payload.writeInteger(spec.metric.rawValue)
            payload.writeInteger(spec.m, endianness: .little)
            payload.writeInteger(spec.efConstruction, endianness: .little)
            payload.writeInteger(spec.efSearch, endianness: .little)
            if spec.encoding != .float32 { payload.writeInteger(spec.encoding.rawValue) }
        case .collectionDrop(let name), .collectionInfo(let name):
            payload.writeShortString(name)
        case .collectionList:
            break
        case .collectionInsert(let insert):
            payload.writeShortString(insert.name)
            payload.writeInteger(UInt32(insert.ids.count), endianness: .little)
            payload.writeInteger(insert.dimension, endianness: .little)
            payload.writeInteger(UInt8(insert.metadata.isEmpty ? 0 : 1))
            for id in insert.ids { payload.writeInteger(id, endianness: .little) }
            payload.writeFloats(insert.vectors)
            for entry in insert.metadata {
                payload.writeInteger(UInt32(entry.count), endianness: .little)
                payload.writeBytes(entry)
            }
        case .collectionDelete(let name, let id), .collectionGet(let name, let id):
            payload.writeShortString(name)
            payload.writeInteger(id, endianness: .little)
        case .collectionSearch(let search):
            payload.writeShortString(search.name)
            payload.writeInteger(search.k, endianness: .little)
            payload.writeInteger(search.efSearch, endianness: .little)
            payload.writeInteger(search.format.rawValue)
            payload.writeInteger(UInt32(search.filter.count), endianness: .little)
            payload.writeBytes(search.filter)
            payload.writeInteger(UInt32(search.query.count), endianness: .little)
            payload.writeFloats(search.query)
        }
        return Frame(opcode: opcode.rawValue, payload: payload)
    }
}

extension ByteBuffer {
    mutating func writeShortString(_ text: String) {
        writeInteger(UInt16(text.utf8.count), endianness: .little)
        writeString(text)
    }

    /// Little-endian f32s, back to back.
    mutating func writeFloats(_ values: [Float]) {
        for value in values { writeInteger(value.bitPattern, endianness: .little) }
    }

    mutating func writePath(_ segments: [String]) {
        writeInteger(UInt16(segments.count), endianness: .little)
        for segment in segments { writeShortString(segment) }
    }

    /// CREATE_TABLE's payload layout (also DESCRIBE_TABLE's reply).
    public mutating func writeTableSchema(_ schema: TableSchema) {
        writeShortString(schema.name)
        writeInteger(UInt16(schema.columns.count), endianness: .little)
        for column in schema.columns {
            writeShortString(column.name)
            writeInteger(column.type.rawValue)
            writeInteger(UInt8(column.nullable ? 1 : 0))
        }
    }
}

extension TableSchema {
    /// Checks what the wire format cannot: a usable name and distinct, non-empty column names.
    public func validate() throws(WireError) {
        if name.isEmpty { throw WireError(.invalidArgument, "CREATE_TABLE: the table name is empty") }
        if name.utf8.contains(UInt8(ascii: "/")) || name.utf8.contains(0) {
            throw WireError(.invalidArgument, "CREATE_TABLE: table name \"\(name)\" contains '/' or NUL")
        }
        if columns.isEmpty { throw WireError(.invalidArgument, "CREATE_TABLE: table \"\(name)\" has no columns") }
        if columns.count > Self.maxColumns {
            throw WireError(.invalidArgument, "CREATE_TABLE: table \"\(name)\" has \(columns.count) columns (at most \(Self.maxColumns))")
        }
        var seen = Set<String>()
        for (index, column) in columns.enumerated() {
            if column.name.isEmpty { throw WireError(.invalidArgument, "CREATE_TABLE: column \(index + 1) of \"\(name)\" has an empty name") }
            if !seen.insert(column.name).inserted {
                throw WireError(.invalidArgument, "CREATE_TABLE: table \"\(name)\" names column \"\(column.name)\" twice")
            }
        }
    }

    /// The schema's stored form: the CREATE_TABLE payload.
    public var encoded: [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeTableSchema(self)
        return buffer.readBytes(length: buffer.readableBytes)!
    }
}

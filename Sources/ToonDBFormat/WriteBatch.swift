/// The puts and deletes of one committed transaction, in the order they were made.
///
/// Encoding (the payload of a WAL record, see docs/storage-format.md):
/// `count u32 | { kind u8 (1 put, 0 delete) | key_len varint | key | [value_len varint | value] }*`
public struct WriteBatch: Sendable, Equatable {
    /// One operation.
    public struct Operation: Sendable, Equatable {
        public var kind: ValueKind
        public var key: [UInt8]
        /// Empty for deletions.
        public var value: [UInt8]
        public init(kind: ValueKind, key: [UInt8], value: [UInt8] = []) {
            self.kind = kind
            self.key = key
            self.value = value
        }
    }

    public private(set) var operations: [Operation] = []
    /// Bytes of keys and values, for memory accounting.
    public private(set) var byteSize: Int = 0

    public init() {}

    public var isEmpty: Bool { operations.isEmpty }
    public var count: Int { operations.count }

    public mutating func put(_ key: [UInt8], _ value: [UInt8]) {
        operations.append(Operation(kind: .value, key: key, value: value))
        byteSize += key.count + value.count
    }

    public mutating func delete(_ key: [UInt8]) {
        operations.append(Operation(kind: .deletion, key: key))
        byteSize += key.count
    }

    public mutating func append(_ operation: Operation) {
        operations.append(operation)
        byteSize += operation.key.count + operation.value.count
    }

    /// The exact size of ``encode(into:)``'s output.
    public var encodedSize: Int {
        var size = 4
        // Subscripts rather than `for op in`: copying each operation out costs a retain and a
        // release of its key and value (visible in a server profile).
        for i in operations.indices {
            let keyCount = operations[i].key.count
            size += 1 + varintLength(UInt64(keyCount)) + keyCount
            if operations[i].kind == .value {
                let valueCount = operations[i].value.count
                size += varintLength(UInt64(valueCount)) + valueCount
            }
        }
        return size
    }

    public func encode(into bytes: inout [UInt8]) {
        bytes.appendFixed32(UInt32(operations.count))
        for i in operations.indices {
            let kind = operations[i].kind
            bytes.append(kind.rawValue)
            operations[i].key.withUnsafeBytes { bytes.appendLengthPrefixed($0) }
            if kind == .value { operations[i].value.withUnsafeBytes { bytes.appendLengthPrefixed($0) } }
        }
    }

    public static func decode(_ payload: UnsafeRawBufferPointer) throws(StorageError) -> WriteBatch {
        var reader = ByteReader(payload, context: "write batch")
        let count = Int(try reader.readFixed32())
        var batch = WriteBatch()
        batch.operations.reserveCapacity(Swift.min(count, payload.count / 2))
        for _ in 0..<count {
            let rawKind = try reader.readByte()
            guard let kind = ValueKind(rawValue: rawKind) else {
                throw .corruption("write batch: unknown operation kind \(rawKind) at byte \(reader.position - 1)")
            }
            let key = try reader.readLengthPrefixed()
            let value = kind == .value ? try reader.readLengthPrefixed() : []
            batch.append(Operation(kind: kind, key: key, value: value))
        }
        guard reader.isAtEnd else { throw .corruption("write batch: \(reader.remaining) trailing bytes after \(count) operations") }
        return batch
    }
}

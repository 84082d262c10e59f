/// The puts and deletes of one committed transaction, in the order they were made.
///
/// Encoding (the payload of a WAL record, see docs/storage-format.md):
/// `count u32 | { kind u8 (1 put, 0 delete) | key_len varint | key | [value_len varint | value] }*`
///
/// A batch holds its operations already encoded, in one byte array (as LevelDB's does): adding
/// an operation appends to it, the WAL record copies it whole, and the memtable reads keys and
/// values in place (``forEach(_:)``). Nothing is allocated per operation.
public struct WriteBatch: Sendable, Equatable {
    /// One operation, copied out (see ``operations``).
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

    /// One operation read in place: `key` and `value` point into the batch and are valid only
    /// inside the closure that received them.
    @frozen
    public struct BorrowedOperation {
        public let kind: ValueKind
        public let key: UnsafeRawBufferPointer
        /// Empty for deletions.
        public let value: UnsafeRawBufferPointer
        /// Where the operation starts in the batch (see ``withOperation(at:_:)``).
        public let offset: Int

        @inlinable init(kind: ValueKind, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, offset: Int) {
            self.kind = kind
            self.key = key
            self.value = value
            self.offset = offset
        }
    }

    /// The encoded operations (the encoding above without its count). Every byte was written
    /// by this type or checked by ``decode(_:)``, so it is read back without bounds checks.
    @usableFromInline private(set) var rep: [UInt8] = []
    public private(set) var count = 0
    /// Bytes of keys and values, for memory accounting.
    public private(set) var byteSize = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }

    public mutating func put(_ key: [UInt8], _ value: [UInt8]) {
        key.withUnsafeBytes { key in value.withUnsafeBytes { value in put(key, value) } }
    }

    public mutating func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        add(.value, key, value)
    }

    public mutating func delete(_ key: [UInt8]) {
        key.withUnsafeBytes { delete($0) }
    }

    public mutating func delete(_ key: UnsafeRawBufferPointer) {
        add(.deletion, key, UnsafeRawBufferPointer(start: nil, count: 0))
    }

    public mutating func append(_ operation: Operation) {
        operation.key.withUnsafeBytes { key in
            operation.value.withUnsafeBytes { value in add(operation.kind, key, value) }
        }
    }

    public mutating func append(_ operation: BorrowedOperation) {
        add(operation.kind, operation.key, operation.value)
    }

    private mutating func add(_ kind: ValueKind, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        let isPut = kind == .value
        let needed = rep.count + 1 + varintLength(UInt64(key.count)) + key.count
            + (isPut ? varintLength(UInt64(value.count)) + value.count : 0)
        // Geometric growth: reserveCapacity(exact) would copy the whole batch on every add.
        if rep.capacity < needed { rep.reserveCapacity(Swift.max(needed, 2 * rep.capacity, 64)) }
        rep.append(kind.rawValue)
        rep.appendVarint(UInt64(key.count))
        rep.append(contentsOf: key)
        if isPut {
            rep.appendVarint(UInt64(value.count))
            rep.append(contentsOf: value)
        }
        count += 1
        byteSize += key.count + (isPut ? value.count : 0)
    }

    /// Calls `body` with each operation in order, its key and value read in place.
    @inlinable
    public func forEach<E: Error>(_ body: (BorrowedOperation) throws(E) -> Void) throws(E) {
        // (Array.withUnsafeBytes rethrows untyped: the error is carried out by hand.)
        var failure: E?
        rep.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let operation = Self.operation(in: raw, at: offset)
                do throws(E) {
                    try body(operation.operation)
                } catch {
                    failure = error
                    return
                }
                offset = operation.next
            }
        }
        if let failure { throw failure }
    }

    /// Calls `body` with the operation that starts at `offset` (a ``BorrowedOperation/offset``
    /// seen earlier in this batch; any other offset is a programming error).
    @inlinable
    public func withOperation<R>(at offset: Int, _ body: (BorrowedOperation) -> R) -> R {
        precondition(offset >= 0 && offset < rep.count, "no operation of this batch starts at \(offset)")
        return rep.withUnsafeBytes { raw in body(Self.operation(in: raw, at: offset).operation) }
    }

    @inlinable
    static func operation(in raw: UnsafeRawBufferPointer, at start: Int) -> (operation: BorrowedOperation, next: Int) {
        let base = raw.baseAddress!
        var offset = start
        let kind = ValueKind(rawValue: base.load(fromByteOffset: offset, as: UInt8.self)).unsafelyUnwrapped
        offset += 1
        let keyCount = trustedVarint(base, &offset)
        let key = UnsafeRawBufferPointer(start: base + offset, count: keyCount)
        offset += keyCount
        var value = UnsafeRawBufferPointer(start: nil, count: 0)
        if kind == .value {
            let valueCount = trustedVarint(base, &offset)
            value = UnsafeRawBufferPointer(start: base + offset, count: valueCount)
            offset += valueCount
        }
        return (BorrowedOperation(kind: kind, key: key, value: value, offset: start), offset)
    }

    /// Reads a varint this type wrote (or ``decode(_:)`` checked).
    @inlinable
    static func trustedVarint(_ base: UnsafeRawPointer, _ offset: inout Int) -> Int {
        var result = 0
        var shift = 0
        while true {
            let byte = base.load(fromByteOffset: offset, as: UInt8.self)
            offset += 1
            result |= Int(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// Every operation, copied out into arrays (for tests and commit observers; the engine
    /// reads them in place with ``forEach(_:)``).
    public var operations: [Operation] {
        var operations: [Operation] = []
        operations.reserveCapacity(count)
        forEach { op in
            operations.append(Operation(kind: op.kind, key: [UInt8](op.key), value: [UInt8](op.value)))
        }
        return operations
    }

    /// The batch with one operation per key: the last one made, at the place of the first
    /// (the memtable holds one version per key and LSN). Returns `self` when no key repeats.
    public func lastWriteWins() -> WriteBatch {
        guard count > 1 else { return self }
        return rep.withUnsafeBytes { raw in
            // Open addressing over operation numbers, keyed by the key's bytes.
            let capacity = 1 << (Int.bitWidth - (2 * count - 1).leadingZeroBitCount)
            var slots = [Int](repeating: -1, count: capacity)
            var starts: [Int] = []  // each distinct key's first operation
            var winners: [Int] = []  // and the offset of its last one
            starts.reserveCapacity(count)
            var offset = 0
            while offset < raw.count {
                let (operation, next) = Self.operation(in: raw, at: offset)
                var hasher = Hasher()
                hasher.combine(bytes: operation.key)
                var slot = hasher.finalize() & (capacity - 1)
                while true {
                    let distinct = slots[slot]
                    if distinct < 0 {
                        slots[slot] = starts.count
                        starts.append(offset)
                        winners.append(offset)
                        break
                    }
                    let first = Self.operation(in: raw, at: starts[distinct]).operation.key
                    if first.count == operation.key.count && first.elementsEqual(operation.key) {
                        winners[distinct] = offset
                        break
                    }
                    slot = (slot + 1) & (capacity - 1)
                }
                offset = next
            }
            if starts.count == count { return self }
            var result = WriteBatch()
            result.rep.reserveCapacity(rep.count)
            for winner in winners { result.append(Self.operation(in: raw, at: winner).operation) }
            return result
        }
    }

    /// The exact size of ``encode(into:)``'s output.
    public var encodedSize: Int { 4 + rep.count }

    public func encode(into bytes: inout [UInt8]) {
        bytes.appendFixed32(UInt32(count))
        bytes.append(contentsOf: rep)
    }

    public static func decode(_ payload: UnsafeRawBufferPointer) throws(StorageError) -> WriteBatch {
        var reader = ByteReader(payload, context: "write batch")
        let count = Int(try reader.readFixed32())
        var byteSize = 0
        for _ in 0..<count {
            let rawKind = try reader.readByte()
            guard let kind = ValueKind(rawValue: rawKind) else {
                throw .corruption("write batch: unknown operation kind \(rawKind) at byte \(reader.position - 1)")
            }
            byteSize += try reader.readSlice(try reader.readLength()).count
            if kind == .value { byteSize += try reader.readSlice(try reader.readLength()).count }
        }
        guard reader.isAtEnd else { throw .corruption("write batch: \(reader.remaining) trailing bytes after \(count) operations") }
        var batch = WriteBatch()
        batch.rep = [UInt8](UnsafeRawBufferPointer(rebasing: payload[4...]))
        batch.count = count
        batch.byteSize = byteSize
        return batch
    }
}

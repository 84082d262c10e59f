/// Where the fields of a single-key request lie in its payload: PUT (0x01), GET (0x02),
/// DELETE (0x03) and their extension forms with a transaction, KV_PUT, KV_GET and KV_DELETE.
///
/// This is the one description of their layout (docs/ipc-protocol.md):
///
///     PUT       key_len u32 | key | value          KV_PUT     txn u64 | key_len u32 | key | value
///     GET       key                                KV_GET     txn u64 | key
///     DELETE    key                                KV_DELETE  txn u64 | key
///
/// ``Request/decode(opcode:payload:)`` copies the fields out of these ranges; a server's fast
/// path reads them in place (no request or key arrays).
public struct KeyRequestFields: Sendable, Equatable {
    public enum Operation: Sendable, Equatable {
        case put, get, delete
    }

    public var operation: Operation
    /// The transaction id: 0 for the ToonDB opcodes, which carry none.
    public var transaction: UInt64
    /// The key's bytes, as offsets in the payload.
    public var key: Range<Int>
    /// The value's bytes (empty except for a put), to the end of the payload.
    public var value: Range<Int>
    /// Whether a GET is answered in the extension's VALUE form (`found u8` first): KV_GET.
    public var flagged: Bool

    public init(operation: Operation, transaction: UInt64, key: Range<Int>, value: Range<Int>, flagged: Bool) {
        self.operation = operation
        self.transaction = transaction
        self.key = key
        self.value = value
        self.flagged = flagged
    }

    /// The fields of `payload` for a single-key opcode; nil for any other opcode.
    ///
    /// - Throws: ``WireError`` (malformed) when the payload ends inside its fixed fields or a
    ///   key length points past its end, with the decoder's messages.
    @inlinable
    public static func locate(opcode: RequestOpcode, in payload: UnsafeRawBufferPointer) throws(WireError) -> KeyRequestFields? {
        let operation: Operation
        let hasTransaction: Bool
        switch opcode {
        case .put: (operation, hasTransaction) = (.put, false)
        case .get: (operation, hasTransaction) = (.get, false)
        case .delete: (operation, hasTransaction) = (.delete, false)
        case .kvPut: (operation, hasTransaction) = (.put, true)
        case .kvGet: (operation, hasTransaction) = (.get, true)
        case .kvDelete: (operation, hasTransaction) = (.delete, true)
        default: return nil
        }
        let end = payload.count
        var offset = 0
        var transaction: UInt64 = 0
        if hasTransaction {
            guard end >= 8 else { throw .malformed(opcode, "payload ends before txn_id") }
            transaction = UInt64(littleEndian: payload.loadUnaligned(as: UInt64.self))
            offset = 8
        }
        guard operation == .put else {
            return KeyRequestFields(operation: operation, transaction: transaction, key: offset..<end, value: end..<end,
                                    flagged: opcode == .kvGet)
        }
        guard end - offset >= 4 else { throw .malformed(opcode, "payload ends before length") }
        let length = UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        offset += 4
        guard Int(length) <= end - offset else {
            throw .malformed(opcode, "key declares \(length) bytes but only \(end - offset) remain")
        }
        let keyEnd = offset + Int(length)
        return KeyRequestFields(operation: .put, transaction: transaction, key: offset..<keyEnd, value: keyEnd..<end, flagged: false)
    }
}

import NIOCore

/// Writes reply frames straight into an outbound buffer (the server's hot path: no
/// intermediate frame values).
extension ByteBuffer {
    /// A frame whose payload is produced by `body`; the length is patched in afterwards.
    @inlinable
    public mutating func writeFrame(_ opcode: ReplyOpcode, _ body: (inout ByteBuffer) -> Void) {
        writeInteger(opcode.rawValue)
        let lengthIndex = writerIndex
        writeInteger(UInt32(0), endianness: .little)
        let start = writerIndex
        body(&self)
        setInteger(UInt32(writerIndex - start), at: lengthIndex, endianness: .little)
    }

    /// A frame with an empty payload.
    public mutating func writeFrame(_ opcode: ReplyOpcode) {
        writeInteger(opcode.rawValue)
        writeInteger(UInt32(0), endianness: .little)
    }

    public mutating func writeErrorFrame(_ error: WireError) {
        writeFrame(.error) { $0.writeString(error.description) }
    }

    public mutating func writeUInt64Frame(_ opcode: ReplyOpcode, _ value: UInt64) {
        writeFrame(opcode) { $0.writeInteger(value, endianness: .little) }
    }
}

/// A reply frame as a client reads it.
public enum Reply: Sendable, Equatable {
    case ok(ByteBuffer)
    case error(WireError)
    case value(ByteBuffer)
    case transactionID(UInt64)
    case row(ByteBuffer)
    case endStream(total: UInt64)
    case stats(String)
    case pong

    /// Interprets a reply frame; `nil` for an unknown opcode or a malformed fixed-size payload.
    public init?(_ frame: Frame) {
        var payload = frame.payload
        switch ReplyOpcode(rawValue: frame.opcode) {
        case .ok: self = .ok(payload)
        case .error: self = .error(WireError(wireText: String(buffer: payload)))
        case .value: self = .value(payload)
        case .transactionID:
            guard payload.readableBytes == 8, let id = payload.readInteger(endianness: .little, as: UInt64.self) else { return nil }
            self = .transactionID(id)
        case .row: self = .row(payload)
        case .endStream:
            guard payload.readableBytes == 8, let total = payload.readInteger(endianness: .little, as: UInt64.self) else { return nil }
            self = .endStream(total: total)
        case .stats: self = .stats(String(buffer: payload))
        case .pong: self = .pong
        case nil: return nil
        }
    }
}

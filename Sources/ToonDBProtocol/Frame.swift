import NIOCore

/// The frame both directions use: `opcode u8 | payload_len u32 LE | payload`.
public struct Frame: Sendable, Equatable {
    /// Bytes before the payload.
    public static let headerSize = 5
    /// The default payload limit: 16 MiB (ToonDB's) plus 64 KiB, so a 16 MiB value with its
    /// key and length fields fits in one PUT.
    public static let defaultMaxPayload = 16 << 20 + 64 << 10

    public var opcode: UInt8
    public var payload: ByteBuffer

    public init(opcode: UInt8, payload: ByteBuffer) {
        self.opcode = opcode
        self.payload = payload
    }

    /// Writes the frame (header and payload) to `buffer`.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeInteger(opcode)
        buffer.writeInteger(UInt32(payload.readableBytes), endianness: .little)
        var payload = payload
        buffer.writeBuffer(&payload)
    }
}

/// What the frame decoder found at the front of a byte stream.
public enum FrameParse: Sendable, Equatable {
    /// A whole frame (its bytes are consumed).
    case frame(Frame)
    /// More bytes are needed.
    case needMoreData
    /// The header declares a payload over the limit: the stream cannot be resynchronised.
    case oversized(opcode: UInt8, length: UInt64)
}

extension Frame {
    /// Takes one frame off the front of `buffer`, if a whole one is there. The payload is a
    /// slice of `buffer` (no copy).
    public static func parse(_ buffer: inout ByteBuffer, maxPayload: Int) -> FrameParse {
        guard buffer.readableBytes >= headerSize,
              let opcode = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
              let length = buffer.getInteger(at: buffer.readerIndex + 1, endianness: .little, as: UInt32.self)
        else { return .needMoreData }
        if UInt64(length) > UInt64(maxPayload) { return .oversized(opcode: opcode, length: UInt64(length)) }
        guard buffer.readableBytes >= headerSize + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: headerSize)
        let payload = buffer.readSlice(length: Int(length))!
        return .frame(Frame(opcode: opcode, payload: payload))
    }
}

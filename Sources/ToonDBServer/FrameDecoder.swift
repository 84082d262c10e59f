import NIOCore
import ToonDBProtocol

/// What the frame decoder passes on: a request frame, or the fact that the client declared a
/// payload over the limit (after which the stream has no usable frame boundaries).
enum InboundFrame {
    case frame(Frame)
    case oversized(opcode: UInt8, length: UInt64)
}

/// Cuts the byte stream into frames (`opcode u8 | payload_len u32 | payload`). Payloads are
/// slices of the read buffer, not copies.
struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = InboundFrame

    let maxPayload: Int
    /// Set after an oversized header: everything that follows is discarded.
    private var poisoned = false

    init(maxPayload: Int) {
        self.maxPayload = maxPayload
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if poisoned {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        switch Frame.parse(&buffer, maxPayload: maxPayload) {
        case .frame(let frame):
            context.fireChannelRead(Self.wrapInboundOut(.frame(frame)))
            return .continue
        case .needMoreData:
            return .needMoreData
        case .oversized(let opcode, let length):
            poisoned = true
            buffer.moveReaderIndex(to: buffer.writerIndex)
            context.fireChannelRead(Self.wrapInboundOut(.oversized(opcode: opcode, length: length)))
            return .needMoreData
        }
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A partial frame at EOF is dropped: its sender is gone.
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}

import NIOCore
import Testing
import ToonDBProtocol
import ToonDBTestSupport
@testable import ToonDBServer

@Suite struct FrameSplitterTests {
    /// Frames of payload sizes 0, 1, 5 and 300, back to back.
    static let frames: [Frame] = [0, 1, 5, 300].enumerated().map { i, size in
        Frame(opcode: UInt8(i + 1), payload: ByteBuffer(bytes: (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) }))
    }

    static var stream: [UInt8] {
        var buffer = ByteBuffer()
        for frame in frames { frame.write(into: &buffer) }
        return buffer.readBytes(length: buffer.readableBytes)!
    }

    /// Feeds `chunks` one after another and collects every frame as it becomes whole.
    static func split(_ chunks: [ArraySlice<UInt8>], maxPayload: Int = 1000) -> [InboundFrame] {
        var splitter = FrameSplitter(maxPayload: maxPayload)
        var out: [InboundFrame] = []
        for chunk in chunks {
            var bytes = ByteBuffer(bytes: chunk)
            splitter.receive(&bytes)
            while let frame = splitter.next() { out.append(frame) }
        }
        return out
    }

    static func frames(of result: [InboundFrame]) -> [Frame] {
        result.compactMap { if case .frame(let f) = $0 { return f } else { return nil } }
    }

    @Test("whole frames come out in order however the stream is cut")
    func everyCut() {
        let stream = Self.stream
        #expect(Self.frames(of: Self.split([stream[...]])) == Self.frames)
        // Every two-piece cut, then byte by byte.
        for cut in 0...stream.count {
            #expect(Self.frames(of: Self.split([stream[..<cut], stream[cut...]])) == Self.frames, "cut at \(cut)")
        }
        #expect(Self.frames(of: Self.split(stream.indices.map { stream[$0...$0] })) == Self.frames)
        // Random chunk sizes.
        var random = SeededRandom(seed: 7)
        for _ in 0..<50 {
            var chunks: [ArraySlice<UInt8>] = []
            var start = 0
            while start < stream.count {
                let end = min(stream.count, start + Int.random(in: 1...40, using: &random))
                chunks.append(stream[start..<end])
                start = end
            }
            #expect(Self.frames(of: Self.split(chunks)) == Self.frames)
        }
    }

    @Test("an incomplete frame is held, not returned")
    func incomplete() {
        var splitter = FrameSplitter(maxPayload: 1000)
        var bytes = ByteBuffer(bytes: [0x02] + le32(4) + [1, 2, 3])
        splitter.receive(&bytes)
        #expect(splitter.next() == nil)
        #expect(splitter.bufferedBytes == 8)
        var rest = ByteBuffer(bytes: [4])
        splitter.receive(&rest)
        guard case .frame(let frame) = splitter.next() else { Issue.record("no frame"); return }
        #expect(frame == Frame(opcode: 2, payload: ByteBuffer(bytes: [1, 2, 3, 4])))
        #expect(splitter.next() == nil)
        #expect(splitter.bufferedBytes == 0)
    }

    @Test("an over-limit length is reported once; everything after it is discarded")
    func oversized() {
        let good = Self.stream
        let bad: [UInt8] = [0x01] + le32(1001)
        let result = Self.split([good[...], bad[...], good[...]])
        #expect(Self.frames(of: result) == Self.frames)  // the first copy only
        guard case .oversized(let opcode, let length) = result.last else { Issue.record("no oversized report: \(result)"); return }
        #expect(opcode == 1 && length == 1001)
        #expect(result.count == Self.frames.count + 1)
        // The limit itself is allowed.
        let atLimit = [0x01] + le32(1000) + [UInt8](repeating: 9, count: 1000)
        #expect(Self.frames(of: Self.split([atLimit[...]])).map(\.payload.readableBytes) == [1000])
    }
}

extension InboundFrame: Equatable {
    public static func == (a: InboundFrame, b: InboundFrame) -> Bool {
        switch (a, b) {
        case (.frame(let x), .frame(let y)): return x == y
        case (.oversized(let o1, let l1), .oversized(let o2, let l2)): return o1 == o2 && l1 == l2
        default: return false
        }
    }
}

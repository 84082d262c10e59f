// `toondb-ipc-bench`: a load generator for ToonDB's binary protocol (ToonDB's own server, the
// original sochdb-server, anything speaking opcodes 0x01/0x02), shaped like redis-benchmark so
// the two can be compared: `--clients` connections on one event-loop thread, each sending
// `--pipeline` requests, waiting for all their replies, and sending the next batch; keys
// `key:NNNNNNNNNNNN` (16 bytes) drawn at random from `--keyspace`; values of `--value-size`
// bytes. Prints one JSON object: requests, seconds, requests/s, errors.
import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import ToonDBProtocol

struct IPCBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "toondb-ipc-bench",
        abstract: "Drive a ToonDB-protocol server with SET (PUT 0x01) or GET (0x02) load, redis-benchmark style.")

    @Option(help: "The server's Unix socket.") var socket: String
    @Option(help: "set or get.") var op: String = "set"
    @Option(help: "Connections.") var clients = 50
    @Option(help: "Requests per batch on each connection (1 = no pipelining).") var pipeline = 1
    @Option(help: "Total requests.") var requests = 100_000
    @Option(name: .customLong("value-size"), help: "Value bytes for set.") var valueSize = 100
    @Option(help: "Keys are drawn from [0, keyspace).") var keyspace = 100_000
    @Option(help: "Stop after this many seconds even if requests remain.") var timeout: Double = 120
    @Flag(name: .customLong("allow-partial"), help: "A run stopped by --timeout succeeds (requests/s over what completed).") var allowPartial = false

    func validate() throws {
        guard ["set", "get"].contains(op) else { throw ValidationError("--op must be set or get") }
        guard clients >= 1, pipeline >= 1, requests >= clients, keyspace >= 1 else { throw ValidationError("bad counts") }
    }

    func run() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let shared = Shared(total: requests)
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: valueSize)
        let settings = ClientSettings(isSet: op == "set", pipeline: pipeline, keyspace: keyspace, value: value)
        var channels: [Channel] = []
        var done: [EventLoopFuture<Void>] = []
        for index in 0..<clients {
            let promise = group.next().makePromise(of: Void.self)
            let channel = try ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            LoadHandler(settings: settings, shared: shared, seed: UInt64(index) &+ 1, done: promise))
                    }
                }
                .connect(unixDomainSocketPath: socket).wait()
            channels.append(channel)
            done.append(promise.futureResult)
        }
        let start = DispatchTime.now().uptimeNanoseconds
        for channel in channels { channel.pipeline.fireUserInboundEventTriggered(StartEvent()) }
        let all = EventLoopFuture.andAllComplete(done, on: group.next())
        let stoppedAt = NIOLockedValueBox<UInt64?>(nil)
        let timer = group.next().scheduleTask(in: .milliseconds(Int64(timeout * 1000))) {
            stoppedAt.withLockedValue { $0 = DispatchTime.now().uptimeNanoseconds }
            for channel in channels { channel.close(promise: nil) }
        }
        try all.wait()
        timer.cancel()
        // A run cut short by the timeout counts the time until the cut, not the closing.
        let end = stoppedAt.withLockedValue { $0 } ?? DispatchTime.now().uptimeNanoseconds
        let seconds = Double(end - start) / 1e9
        for channel in channels { try? channel.close().wait() }
        let completed = shared.completed.withLockedValue { $0 }
        let errors = shared.errors.withLockedValue { $0 }
        let line = "{\"op\":\"\(op)\",\"clients\":\(clients),\"pipeline\":\(pipeline),\"requests\":\(completed),\"errors\":\(errors),\"partial\":\(completed < requests),"
            + "\"seconds\":\(String(format: "%.4f", seconds)),\"rps\":\(String(format: "%.0f", Double(completed) / seconds))}"
        print(line)
        if let message = shared.firstError.withLockedValue({ $0 }) {
            FileHandle.standardError.write(Data("first error: \(message)\n".utf8))
        }
        if completed < requests && !allowPartial { throw ExitCode(1) }
    }
}

import NIOConcurrencyHelpers

struct StartEvent {}

struct ClientSettings: Sendable {
    let isSet: Bool
    let pipeline: Int
    let keyspace: Int
    let value: [UInt8]
}

/// Requests left to hand out, and what came back, across every connection.
final class Shared: Sendable {
    let remaining: NIOLockedValueBox<Int>
    let completed = NIOLockedValueBox(0)
    let errors = NIOLockedValueBox(0)
    let firstError = NIOLockedValueBox<String?>(nil)

    init(total: Int) { remaining = NIOLockedValueBox(total) }

    /// Up to `count` requests to send (0 when the run is over).
    func take(_ count: Int) -> Int {
        remaining.withLockedValue { remaining in
            let granted = min(count, remaining)
            remaining -= granted
            return granted
        }
    }
}

/// One connection: batches of `pipeline` requests, the next batch when all replies are in.
final class LoadHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let settings: ClientSettings
    private let shared: Shared
    private let done: EventLoopPromise<Void>
    private var random: UInt64
    private var inbox = ByteBuffer()
    private var outstanding = 0
    private var completed = 0
    private var errors = 0

    init(settings: ClientSettings, shared: Shared, seed: UInt64, done: EventLoopPromise<Void>) {
        self.settings = settings
        self.shared = shared
        self.random = seed &* 0x9E37_79B9_7F4A_7C15
        self.done = done
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is StartEvent { sendBatch(context: context) }
    }

    private func nextKey(into buffer: inout ByteBuffer) {
        random ^= random << 13; random ^= random >> 7; random ^= random << 17
        let number = Int(random % UInt64(settings.keyspace))
        buffer.writeString("key:")
        var digits = [UInt8](repeating: UInt8(ascii: "0"), count: 12)
        var n = number, i = 11
        while n > 0 && i >= 0 { digits[i] = UInt8(ascii: "0") + UInt8(n % 10); n /= 10; i -= 1 }
        buffer.writeBytes(digits)
    }

    private func sendBatch(context: ChannelHandlerContext) {
        let count = shared.take(settings.pipeline)
        guard count > 0 else { return finish() }
        var buffer = context.channel.allocator.buffer(capacity: count * (30 + settings.value.count))
        for _ in 0..<count {
            if settings.isSet {
                buffer.writeInteger(RequestOpcode.put.rawValue)
                buffer.writeInteger(UInt32(4 + 16 + settings.value.count), endianness: .little)
                buffer.writeInteger(UInt32(16), endianness: .little)
                nextKey(into: &buffer)
                buffer.writeBytes(settings.value)
            } else {
                buffer.writeInteger(RequestOpcode.get.rawValue)
                buffer.writeInteger(UInt32(16), endianness: .little)
                nextKey(into: &buffer)
            }
        }
        outstanding = count
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        inbox.writeBuffer(&bytes)
        while case .frame(let frame) = Frame.parse(&inbox, maxPayload: 1 << 30) {
            outstanding -= 1
            completed += 1
            if frame.opcode == ReplyOpcode.error.rawValue {
                errors += 1
                let message = String(buffer: frame.payload)
                shared.firstError.withLockedValue { if $0 == nil { $0 = message } }
            }
        }
        inbox.discardReadBytes()
        if outstanding == 0 { sendBatch(context: context) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish()
    }

    private var finished = false
    private func finish() {
        guard !finished else { return }
        finished = true
        let (completed, errors) = (self.completed, self.errors)
        shared.completed.withLockedValue { $0 += completed }
        shared.errors.withLockedValue { $0 += errors }
        done.succeed()
    }
}

IPCBench.main()

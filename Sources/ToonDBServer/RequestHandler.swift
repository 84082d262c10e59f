import NIOCore
import NIOPosix
import ToonDBEngine
import ToonDBProtocol

/// Sent down every connection's pipeline when the server stops: answer what was received,
/// then close.
struct ServerShutdownEvent: Sendable {}

/// Serves one connection: requests in, replies out, strictly in order.
///
/// Requests run on the event loop, except those that wait on the disk (``Outcome/deferred``),
/// which run on the blocking pool while later requests queue. Replies produced during one read
/// burst go out in one write and one flush. The handler stops reading (holds `read()`) while
/// too many requests wait or while the socket will not take more output, so a client that
/// pipelines without reading its replies is slowed down instead of growing the server's memory.
final class RequestHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let executor: RequestExecutor
    private let session: ConnectionSession
    private let pool: NIOThreadPool
    private let stats: ServerStats
    private let maxPending: Int

    private var context: ChannelHandlerContext?
    private var frames: FrameSplitter
    private var pending = CircularBuffer<InboundFrame>()
    /// Scratch: the frames of one read, and the keys of a run of GETs among them.
    private var burst: [InboundFrame] = []
    private var getKeys = GetKeys()
    /// GETs answered by one engine call at most (see ``RequestExecutor/serveAutoCommitGets``).
    static let maxGetRun = 64
    /// Replies not yet handed to the channel.
    private var out = ByteBuffer()
    /// A deferred request or a stream is in progress: later requests wait.
    private var busy = false
    private var stream: ScanStream?
    /// A `read()` was held back.
    private var readHeld = false
    /// The server is stopping, or the client sent an unusable frame: answer, then close.
    private var closing = false
    /// Auto-commit writes received back to back, committed together when something else
    /// arrives or the read burst ends (see ``RequestExecutor/commitEach(_:into:)``).
    private var writeGroup: [(WriteBatch, RequestExecutor.WriteReply)] = []
    private var writeGroupBytes = 0
    /// Replies are handed to the channel once this many bytes wait, so the channel's
    /// writability (its high-water mark) can stop the answering of a client that does not read.
    static let flushThreshold = 64 << 10
    /// A group is committed once it holds this many writes or bytes.
    static let maxGroupWrites = 256
    static let maxGroupBytes = 4 << 20

    private let batcher: WriteBatcher

    init(executor: RequestExecutor, batcher: WriteBatcher, pool: NIOThreadPool, stats: ServerStats, maxPending: Int, maxTransactions: Int,
         maxFramePayload: Int) {
        self.frames = FrameSplitter(maxPayload: maxFramePayload)
        self.executor = executor
        self.batcher = batcher
        self.pool = pool
        self.stats = stats
        self.maxPending = maxPending
        self.session = ConnectionSession(limit: maxTransactions, stats: stats)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        out = context.channel.allocator.buffer(capacity: 512)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        session.abortAll()
        pending.removeAll()
        writeGroup.removeAll()  // never acknowledged: the client is gone
        stats.absorb(&session.tally)
        stream = nil
        context.fireChannelInactive()
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        session.tally.bytesReceived += bytes.readableBytes
        frames.receive(&bytes)
        var burst = self.burst
        self.burst = []
        while let frame = frames.next() { burst.append(frame) }
        var i = 0
        while i < burst.count {
            // Replies wait for a client that does not read them: with the socket's buffer full,
            // the request is queued (and reading stops, see `read`) instead of answered into memory.
            if busy || !pending.isEmpty || closing || !context.channel.isWritable {
                pending.append(burst[i])
                i += 1
                continue
            }
            let gets = autoCommitGetRun(in: burst[i...])
            if gets > 1 {
                executor.serveAutoCommitGets(burst[i..<(i + gets)], keys: &getKeys, tally: &session.tally, into: &out)
                i += gets
            } else {
                process(burst[i], context: context)
                i += 1
            }
            if out.readableBytes >= Self.flushThreshold { flushReplies(context: context) }
        }
        burst.removeAll(keepingCapacity: true)
        self.burst = burst
    }

    /// How many of `frames`, from the first, are auto-commit GETs that can be answered
    /// together now (at most ``maxGetRun``; none while writes wait, which must answer first).
    private func autoCommitGetRun(in frames: some Collection<InboundFrame>) -> Int {
        guard writeGroup.isEmpty else { return 0 }
        var gets = 0
        for case .frame(let frame) in frames.prefix(Self.maxGetRun) {
            guard RequestExecutor.autoCommitGet(frame) != nil else { break }
            gets += 1
        }
        return gets
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        commitWriteGroup(context: context)
        flushReplies(context: context)
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            pumpStream(context: context)
            drain(context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ServerShutdownEvent {
            closing = true
            drain(context: context)
        } else if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .all {
            // Idle means no traffic either way; a long request in progress is not idleness.
            if !busy && pending.isEmpty { context.close(promise: nil) }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A broken connection (reset, EPIPE): nothing to answer.
        context.close(promise: nil)
    }

    // MARK: Outbound

    func read(context: ChannelHandlerContext) {
        if canRead(context) {
            context.read()
        } else {
            readHeld = true
        }
    }

    private func canRead(_ context: ChannelHandlerContext) -> Bool {
        !closing && pending.count < maxPending && context.channel.isWritable
    }

    // MARK: Requests

    private func process(_ frame: InboundFrame, context: ChannelHandlerContext) {
        switch frame {
        case .oversized(let opcode, let length):
            let error = WireError(.frameTooLarge, "a frame (opcode 0x\(String(opcode, radix: 16))) declares a \(length)-byte payload, over the \(executor.maxReplyPayload)-byte limit; closing the connection")
            session.tally.total += 1
            executor.fail(error, tally: &session.tally, into: &out)
            closing = true
            pending.removeAll()
        case .frame(let frame):
            if writeGroup.isEmpty, executor.serveAutoCommitGet(frame, tally: &session.tally, into: &out) { return }
            if let write = RequestExecutor.autoCommitKeyWrite(frame) {
                join(write, context: context)
                return
            }
            let request: Request
            let write: Result<(WriteBatch, RequestExecutor.WriteReply), WireError>?
            do {
                request = try Request.decode(opcode: frame.opcode, payload: frame.payload)
                write = executor.autoCommitWrite(request)
            } catch {
                // The request's own reply, ERROR included, must follow the pending writes' replies.
                if requeueAfterWriteGroup(frame, context: context) { return }
                session.tally.total += 1
                executor.fail(error, tally: &session.tally, into: &out)
                return
            }
            if case .success(let write) = write {
                join(write, context: context)
                return
            }
            if requeueAfterWriteGroup(frame, context: context) { return }
            if case .failure(let error) = write {
                session.tally.total += 1
                executor.fail(error, tally: &session.tally, into: &out)
                return
            }
            switch executor.execute(request, session: session, into: &out) {
            case .done:
                break
            case .deferred(let work):
                runDeferred(work, context: context)
            case .stream(let stream):
                busy = true
                self.stream = stream
                pumpStream(context: context)
            }
        }
    }

    /// Adds an auto-commit write to the group; commits the group when it is full.
    private func join(_ write: (WriteBatch, RequestExecutor.WriteReply), context: ChannelHandlerContext) {
        writeGroup.append(write)
        writeGroupBytes += write.0.byteSize
        if writeGroup.count >= Self.maxGroupWrites || writeGroupBytes >= Self.maxGroupBytes {
            commitWriteGroup(context: context)
        }
    }

    /// When writes are waiting, commits them and puts `frame` back at the front of the queue:
    /// it runs once their replies are out. Returns whether it did.
    private func requeueAfterWriteGroup(_ frame: Frame, context: ChannelHandlerContext) -> Bool {
        guard !writeGroup.isEmpty else { return false }
        commitWriteGroup(context: context)
        pending.prepend(.frame(frame))
        return true
    }

    /// Hands the pending write group to the event loop's batcher, which commits it with the
    /// other connections' writes at the end of this loop iteration; later requests on this
    /// connection wait for its replies.
    private func commitWriteGroup(context: ChannelHandlerContext) {
        guard !writeGroup.isEmpty else { return }
        let writes = writeGroup
        writeGroup.removeAll(keepingCapacity: true)
        writeGroupBytes = 0
        busy = true
        batcher.submit(writes) { results in
            self.busy = false
            self.executor.reply(to: writes, results: results, tally: &self.session.tally, into: &self.out)
            guard let context = self.context else { return }
            self.drain(context: context)
        }
    }

    private func runDeferred(_ work: @escaping @Sendable (inout ByteBuffer) -> Void, context: ChannelHandlerContext) {
        busy = true
        flushReplies(context: context)  // what came before goes out first
        let allocator = context.channel.allocator
        pool.runIfActive(eventLoop: context.eventLoop) { () -> ByteBuffer in
            var reply = allocator.buffer(capacity: 32)
            work(&reply)
            return reply
        }.assumeIsolated().whenComplete { result in
            self.busy = false
            self.session.settle()
            switch result {
            case .success(var reply):
                self.out.writeBuffer(&reply)
            case .failure:
                self.executor.fail(WireError(.shuttingDown, "the server is stopping"), tally: &self.session.tally, into: &self.out)
            }
            guard let context = self.context else { return }
            self.drain(context: context)
        }
    }

    /// Sends ROW frames while the socket takes them; ends the stream with END_STREAM or ERROR.
    private func pumpStream(context: ChannelHandlerContext) {
        while let stream, context.channel.isWritable {
            do {
                try stream.writeNext(into: &out)
                if stream.finished {
                    session.tally.success += 1
                    endStream()
                }
            } catch {
                executor.fail(WireError(error), tally: &session.tally, into: &out)
                endStream()
            }
            flushReplies(context: context)
        }
    }

    private func endStream() {
        stream = nil
        busy = false
    }

    /// Runs queued requests until one has to wait, then flushes (closing when closing and
    /// nothing is left) and resumes reading if it was held.
    private func drain(context: ChannelHandlerContext) {
        while !busy, context.channel.isWritable, !pending.isEmpty {
            let gets = autoCommitGetRun(in: pending)
            if gets > 1 {
                executor.serveAutoCommitGets(pending.prefix(gets), keys: &getKeys, tally: &session.tally, into: &out)
                pending.removeFirst(gets)
            } else {
                // Off the queue first: `process` may put it back (behind a write group's commit).
                process(pending.removeFirst(), context: context)
            }
            if out.readableBytes >= Self.flushThreshold { flushReplies(context: context) }
        }
        if !busy { commitWriteGroup(context: context) }
        flushReplies(context: context)
        if readHeld && canRead(context) {
            readHeld = false
            context.read()
        }
    }

    /// Hands the replies to the channel; when closing and nothing is left, closes.
    private func flushReplies(context: ChannelHandlerContext) {
        if out.readableBytes > 0 {
            session.tally.bytesSent += out.readableBytes
            stats.absorb(&session.tally)
            let reply = out
            out = context.channel.allocator.buffer(capacity: 512)
            context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
        }
        if closing && !busy && pending.isEmpty { context.close(promise: nil) }
    }
}

/// Answers a connection over the client limit with `busy` and closes it.
final class RejectHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let maxClients: Int

    init(maxClients: Int) {
        self.maxClients = maxClients
    }

    func channelActive(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 64)
        buffer.writeErrorFrame(WireError(.busy, "the server already serves \(maxClients) clients (--max-clients); try again later"))
        context.writeAndFlush(NIOAny(buffer)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

import NIOCore
import ToonDBCollections
import ToonDBEngine
import ToonDBFormat
import ToonDBProtocol
import ToonDBQuery

/// How a request's reply gets written.
enum Outcome {
    /// The reply is already in the output buffer.
    case done
    /// The request waits on the disk: run `work` off the event loop; it writes the reply.
    case deferred(@Sendable (inout ByteBuffer) -> Void)
    /// A streamed scan: ROW frames follow as the connection takes them.
    case stream(ScanStream)
}

/// Runs requests against the database. Shared by every connection (it holds no per-connection
/// state: that is the ``ConnectionSession`` passed in).
struct RequestExecutor: Sendable {
    let database: Database
    /// The database's vector collections (COLLECTION_* requests).
    let collections: CollectionCatalog
    let stats: ServerStats
    let maxReplyPayload: Int
    /// Commits wait for an fsync (sync mode `full`): run them off the event loop.
    let commitsBlock: Bool

    init(database: Database, collections: CollectionCatalog, stats: ServerStats, maxReplyPayload: Int) {
        self.database = database
        self.collections = collections
        self.stats = stats
        self.maxReplyPayload = maxReplyPayload
        self.commitsBlock = database.options.syncMode == .full
    }

    /// Executes `request`, writing its reply (or the ERROR frame) to `out`, or says how the
    /// reply will come.
    func execute(_ request: Request, session: ConnectionSession, into out: inout ByteBuffer) -> Outcome {
        session.tally.total += 1
        do {
            let outcome = try run(request, session: session, into: &out)
            if case .done = outcome { session.tally.success += 1 }
            return outcome
        } catch {
            fail(error, tally: &session.tally, into: &out)
            return .done
        }
    }

    /// Writes an ERROR frame and counts it.
    func fail(_ error: WireError, tally: inout RequestTally, into out: inout ByteBuffer) {
        tally.error += 1
        out.writeErrorFrame(error)
    }

    /// Wraps work that writes one reply, counting its success or failure.
    func deferred(_ work: @escaping @Sendable (inout ByteBuffer) throws(WireError) -> Void) -> Outcome {
        let stats = self.stats
        return .deferred { out in
            do throws(WireError) {
                try work(&out)
                stats.add(\.requestsSuccess)
            } catch {
                stats.add(\.requestsError)
                out.writeErrorFrame(error)
            }
        }
    }

    private func run(_ request: Request, session: ConnectionSession, into out: inout ByteBuffer) throws(WireError) -> Outcome {
        let database = self.database
        switch request {
        case .put, .delete, .writeBatch:
            return try write(request, session: session, into: &out)

        case .get(let txn, let target, let form):
            let key = try Self.key(target)
            let transaction = txn == 0 ? nil : try session.transaction(txn)
            let value = try engine { () throws(StorageError) -> [UInt8]? in
                if let transaction { return try transaction.get(key) }
                return try database.get(key)
            }
            if let value {
                value.withUnsafeBytes { Self.writeValue($0, flagged: form == .flagged, into: &out) }
            } else {
                Self.writeValue(nil, flagged: form == .flagged, into: &out)
            }

        case .beginTransaction:
            let transaction = try session.begin(database)
            out.writeUInt64Frame(.transactionID, transaction.id)

        case .commit(let txn):
            let transaction = try session.takeForCommit(txn)
            let commit: @Sendable (inout ByteBuffer) throws(WireError) -> Void = { out throws(WireError) in
                let lsn = try engine { () throws(StorageError) in try transaction.commit() }
                out.writeUInt64Frame(.transactionID, lsn)
            }
            if commitsBlock { return deferred(commit) }
            try commit(&out)

        case .abort(let txn):
            let transaction = try session.takeForAbort(txn)
            try engine { () throws(StorageError) in try transaction.abort() }
            out.writeFrame(.ok)

        case .query(let query):
            let rowQuery = RowQuery(prefix: Array(query.path.utf8), limit: Int(query.limit), offset: Int(query.offset),
                                    columns: query.columns, byteBudget: maxReplyPayload)
            let result = try engine { () throws(StorageError) in try rowQuery.run(in: database) }
            let text = result.exceededBudget ? "" : result.toon
            guard !result.exceededBudget, text.utf8.count <= maxReplyPayload else {
                throw WireError(.resultTooLarge, "QUERY: the result is over the \(maxReplyPayload)-byte frame limit; page it with limit and offset")
            }
            out.writeFrame(.value) { $0.writeString(text) }

        case .createTable(let schema):
            return deferred { out throws(WireError) in
                try TableCatalog.create(schema, in: database)
                out.writeFrame(.ok)
            }

        case .describeTable(let name):
            let stored = try TableCatalog.describe(name, in: database)
            out.writeFrame(.value) { $0.writeBytes(stored) }

        case .scan(let prefix):
            try legacyScan(prefix, into: &out)

        case .scanStream(let txn, let range, let limit):
            let (start, end): ([UInt8], [UInt8]) = switch range {
            case .range(let start, let end): (start, end)
            case .prefix(let prefix): (prefix, prefixSuccessor(prefix) ?? [])
            }
            let transaction = txn == 0 ? nil : try session.transaction(txn)
            let source = try engine { () throws(StorageError) -> ScanStream.Source in
                if let transaction { return .pairs(try transaction.scan(from: start, to: end), next: 0) }
                return .iterator(try database.scan(from: start, to: end))
            }
            return .stream(ScanStream(source: source, limit: limit))

        case .checkpoint:
            return deferred { out throws(WireError) in
                let lsn = try engine { () throws(StorageError) in try database.checkpoint() }
                out.writeUInt64Frame(.ok, lsn)
            }

        case .stats:
            stats.absorb(&session.tally)  // up to date, this request counted in total only
            let json = stats.json(engine: database.stats())
            out.writeFrame(.stats) { $0.writeString(json) }

        case .ping:
            out.writeFrame(.pong)

        case .executeSQL:
            throw WireError(.notImplemented, "EXECUTE_SQL is not implemented: ToonDB has no SQL engine; use QUERY (0x07) or the key-value operations")

        case .collectionCreate, .collectionDrop, .collectionList, .collectionInfo, .collectionInsert,
             .collectionDelete, .collectionGet, .collectionSearch:
            // CPU work (HNSW inserts and searches, index builds): off the event loop.
            let catalog = collections, limit = maxReplyPayload
            return deferred { out throws(WireError) in
                try CollectionRequests.run(request, catalog: catalog, maxReplyPayload: limit, into: &out)
            }
        }
        return .done
    }

    /// Where an auto-commit GET's key starts in `frame`'s payload, and whether its reply takes
    /// the `found` flag: GET (0x02), and KV_GET (0x11) with transaction 0. Nil for other frames.
    /// Asked of every frame of a read (to find runs of GETs), so it reads the opcode and the
    /// transaction id only: the key is the rest of the payload (``KeyRequestFields``); going
    /// through `KeyRequestFields.locate` here cost GET 16x16 3-6% (4 pairs).
    static func autoCommitGet(_ frame: Frame) -> (keyOffset: Int, flagged: Bool)? {
        switch frame.opcode {
        case RequestOpcode.get.rawValue:
            return (0, false)
        case RequestOpcode.kvGet.rawValue:
            guard frame.payload.getInteger(at: frame.payload.readerIndex, endianness: .little, as: UInt64.self) == 0 else { return nil }
            return (8, true)
        default:
            return nil
        }
    }

    /// GET (0x02) and KV_GET (0x11) outside a transaction, served straight from the frame: the
    /// key is read in place and a value held in a memtable is copied once, into the reply (no
    /// request or value arrays). Returns false, doing nothing, for any other frame.
    func serveAutoCommitGet(_ frame: Frame, tally: inout RequestTally, into out: inout ByteBuffer) -> Bool {
        guard let (keyOffset, flagged) = Self.autoCommitGet(frame) else { return false }
        tally.total += 1
        let database = self.database
        do {
            try frame.payload.withUnsafeReadableBytes { raw in
                try database.withValue(of: UnsafeRawBufferPointer(rebasing: raw[keyOffset...])) { value in
                    Self.writeValue(value, flagged: flagged, into: &out)
                }
            }
            tally.success += 1
        } catch let error as StorageError {
            fail(WireError(error), tally: &tally, into: &out)
        } catch {
            fail(WireError(.storage, "\(error)"), tally: &tally, into: &out)
        }
        return true
    }

    /// A run of auto-commit GETs (frames ``autoCommitGet(_:)`` accepts), answered in order
    /// with one engine call, which overlaps their memtable probes (``Database/visitValues(of:_:)``).
    /// The keys are copied into `keys` (scratch) first: 16-byte keys cost less to copy than
    /// the frames' buffers to pin one by one. Should the batch fail (a bad key, a failed
    /// table read), the GETs from the one that failed on are answered one by one, each with
    /// its own reply or error.
    func serveAutoCommitGets(_ frames: some Collection<InboundFrame>, keys: inout GetKeys, tally: inout RequestTally, into out: inout ByteBuffer) {
        keys.reset()
        for case .frame(let frame) in frames {
            let keyOffset = Self.autoCommitGet(frame)!.keyOffset
            keys.append(frame.payload.readableBytesView.dropFirst(keyOffset), flagged: keyOffset != 0)
        }
        var served = 0
        let database = self.database
        do throws(StorageError) {
            try keys.withKeys { keys, flagged throws(StorageError) in
                try database.visitValues(of: keys) { i, value in
                    Self.writeValue(value, flagged: flagged[i], into: &out)
                    served += 1
                }
            }
            tally.total += served
            tally.success += served
        } catch {
            tally.total += served
            tally.success += served
            for case .frame(let frame) in frames.dropFirst(served) { _ = serveAutoCommitGet(frame, tally: &tally, into: &out) }
        }
    }

    /// The batch of PUT (0x01), DELETE (0x03), and KV_PUT (0x10) and KV_DELETE (0x12) outside a
    /// transaction, built straight from the frame: the key and value are copied once, into the
    /// batch (no request or key and value arrays). Nil, doing nothing, for any other frame and
    /// for a malformed one (``Request/decode(opcode:payload:)`` then reports it).
    static func autoCommitKeyWrite(_ frame: Frame) -> (WriteBatch, WriteReply)? {
        guard let opcode = RequestOpcode(rawValue: frame.opcode), opcode == .put || opcode == .delete || opcode == .kvPut || opcode == .kvDelete,
              let fields = frame.payload.withUnsafeReadableBytes({ raw in try? KeyRequestFields.locate(opcode: opcode, in: raw) }),
              fields.transaction == 0 else { return nil }
        return frame.payload.withUnsafeReadableBytes { raw in
            var batch = WriteBatch()
            let key = UnsafeRawBufferPointer(rebasing: raw[fields.key])
            if fields.operation == .put {
                batch.put(key, UnsafeRawBufferPointer(rebasing: raw[fields.value]))
            } else {
                batch.delete(key)
            }
            return (batch, .ok)
        }
    }

    /// A GET's VALUE frame: ToonDB's bare value (empty when missing), or with `flagged` the
    /// extension's `found u8` first.
    static func writeValue(_ value: UnsafeRawBufferPointer?, flagged: Bool, into out: inout ByteBuffer) {
        out.writeFrame(.value) { payload in
            if flagged { payload.writeInteger(UInt8(value == nil ? 0 : 1)) }
            if let value { payload.writeBytes(value) }
        }
    }

    // MARK: Grouped writes

    /// How a grouped write is acknowledged: PUT and DELETE with an empty OK, WRITE_BATCH with
    /// its operation count.
    enum WriteReply: Sendable {
        case ok
        case count(UInt32)
    }

    /// The batch of an auto-commit write (PUT, DELETE, their path and extension forms, and
    /// WRITE_BATCH without a transaction), which may join its neighbours' group commit; nil
    /// for any other request. A bad path is the failure.
    func autoCommitWrite(_ request: Request) -> Result<(WriteBatch, WriteReply), WireError>? {
        do throws(WireError) {
            guard let (txn, batch, reply) = try Self.writeBatch(of: request), txn == 0 else { return nil }
            return .success((batch, reply))
        } catch {
            return .failure(error)
        }
    }

    /// A write request as (transaction, batch, reply form); nil for other requests. A bad path
    /// is the error.
    static func writeBatch(of request: Request) throws(WireError) -> (UInt64, WriteBatch, WriteReply)? {
        var batch = WriteBatch()
        switch request {
        case .put(let txn, let target, let value):
            batch.put(try key(target), value)
            return (txn, batch, .ok)
        case .delete(let txn, let target):
            batch.delete(try key(target))
            return (txn, batch, .ok)
        case .writeBatch(let txn, let operations):
            for operation in operations {
                switch operation {
                case .put(let key, let value): batch.put(key, value)
                case .delete(let key): batch.delete(key)
                }
            }
            return (txn, batch, .count(UInt32(operations.count)))
        default:
            return nil
        }
    }

    /// A write inside its transaction, or one auto-commit write on its own (the handler batches
    /// auto-commit writes through ``WriteBatcher`` instead; this serves any other caller).
    private func write(_ request: Request, session: ConnectionSession, into out: inout ByteBuffer) throws(WireError) -> Outcome {
        guard let (txn, batch, reply) = try Self.writeBatch(of: request) else { preconditionFailure("not a write: \(request)") }
        if txn != 0 {
            let transaction = try session.transaction(txn)
            try engine { () throws(StorageError) in try transaction.write(batch) }
            Self.writeReply(reply, into: &out)
            return .done
        }
        let database = self.database
        let commit: @Sendable (inout ByteBuffer) throws(WireError) -> Void = { out throws(WireError) in
            try engine { () throws(StorageError) in _ = try database.write(batch) }
            Self.writeReply(reply, into: &out)
        }
        if commitsBlock { return deferred(commit) }
        try commit(&out)
        return .done
    }

    static func writeReply(_ reply: WriteReply, into out: inout ByteBuffer) {
        switch reply {
        case .ok: out.writeFrame(.ok)
        case .count(let count): out.writeFrame(.ok) { $0.writeInteger(count, endianness: .little) }
        }
    }

    /// Writes one reply per grouped write, in order (see ``WriteBatcher``).
    func reply(to writes: [(WriteBatch, WriteReply)], results: ArraySlice<Result<LSN, StorageError>>,
               tally: inout RequestTally, into out: inout ByteBuffer) {
        for (result, (_, reply)) in zip(results, writes) {
            tally.total += 1
            switch result {
            case .success:
                tally.success += 1
                Self.writeReply(reply, into: &out)
            case .failure(let error):
                fail(WireError(error), tally: &tally, into: &out)
            }
        }
    }

    /// ToonDB's SCAN: one VALUE frame, `count u32, {key_len u16, key, val_len u32, value}*`.
    private func legacyScan(_ prefix: [UInt8], into out: inout ByteBuffer) throws(WireError) {
        let iterator = try engine { () throws(StorageError) in try database.scan(prefix: prefix) }
        let frameStart = out.writerIndex
        var count: UInt32 = 0
        var problem: WireError?
        out.writeFrame(.value) { payload in
            payload.writeInteger(UInt32(0), endianness: .little)
            let start = payload.writerIndex
            do throws(StorageError) {
                try iterator.forEach { key, value in
                    guard key.count <= Int(UInt16.max) else {
                        problem = WireError(.resultTooLarge, "SCAN: a key of \(key.count) bytes does not fit its u16 length; use SCAN_STREAM (0x16)")
                        return false
                    }
                    payload.writeInteger(UInt16(key.count), endianness: .little)
                    payload.writeBytes(key)
                    payload.writeInteger(UInt32(value.count), endianness: .little)
                    payload.writeBytes(value)
                    count += 1
                    if payload.writerIndex - start + 4 > maxReplyPayload {
                        problem = WireError(.resultTooLarge, "SCAN: the result exceeds the \(maxReplyPayload)-byte frame limit; use SCAN_STREAM (0x16), which streams")
                        return false
                    }
                    return true
                }
            } catch {
                problem = WireError(error)
            }
        }
        if let problem {
            out.moveWriterIndex(to: frameStart)
            throw problem
        }
        out.setInteger(count, at: frameStart + Frame.headerSize, endianness: .little)
    }

    static func key(_ target: KeyTarget) throws(WireError) -> [UInt8] {
        switch target {
        case .key(let key):
            return key
        case .path(let segments):
            return try engine { () throws(StorageError) in try PathKeys.key(segments: segments) }
        }
    }
}

/// Runs engine work, turning its errors into wire errors (and passing wire errors through).
@inline(__always)
func engine<T>(_ body: () throws(StorageError) -> T) throws(WireError) -> T {
    do {
        return try body()
    } catch {
        throw WireError(error)
    }
}

/// The keys of a run of GETs, copied into one buffer (a connection's scratch, reused).
struct GetKeys {
    private var bytes: [UInt8] = []
    private var ends: [Int] = []
    private var flagged: [Bool] = []
    private var views: [UnsafeRawBufferPointer] = []

    mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        flagged.removeAll(keepingCapacity: true)
    }

    mutating func append(_ key: ByteBufferView.SubSequence, flagged isFlagged: Bool) {
        bytes.append(contentsOf: key)
        ends.append(bytes.count)
        flagged.append(isFlagged)
    }

    /// Calls `body` with a view of every key and whether its reply takes the `found` flag.
    mutating func withKeys(_ body: (UnsafeBufferPointer<UnsafeRawBufferPointer>, [Bool]) throws(StorageError) -> Void) throws(StorageError) {
        var views = self.views
        self.views = []
        defer {
            views.removeAll(keepingCapacity: true)
            self.views = views
        }
        var failure: StorageError?
        bytes.withUnsafeBytes { raw in
            var start = 0
            for end in ends {
                views.append(UnsafeRawBufferPointer(rebasing: raw[start..<end]))
                start = end
            }
            views.withUnsafeBufferPointer { keys in
                do throws(StorageError) { try body(keys, flagged) } catch { failure = error }
            }
        }
        if let failure { throw failure }
    }
}

import NIOCore
import ToonDBCollections
import ToonDBEngine
import ToonDBProtocol
import ToonDBVector

/// The vector-collection requests (COLLECTION_CREATE … COLLECTION_SEARCH, docs/ipc-protocol.md)
/// against the server's ``CollectionCatalog``.
///
/// Every one of them runs on the blocking pool, never on an event loop: an HNSW insert or
/// search is CPU work, and the first use of a collection builds its index from the stored
/// records. The connection's later requests wait for the reply (``Outcome/deferred``), so
/// replies stay in order.
enum CollectionRequests {
    /// The largest `k` and `ef_search` a search may ask for (the index reserves memory in
    /// proportion to them; `ef_search` shares the bound of ``CollectionSettings/validate()``).
    static let maxK: UInt32 = 100_000
    static let maxEfSearch: UInt32 = 100_000

    /// Runs one collection request, writing its reply to `out`.
    ///
    /// - Throws: the ``WireError`` for the ERROR reply.
    static func run(_ request: Request, catalog: CollectionCatalog, maxReplyPayload: Int,
                    into out: inout ByteBuffer) throws(WireError) {
        switch request {
        case .collectionCreate(let spec):
            let settings = CollectionSettings(dimension: Int(spec.dimension), metric: VectorMetric(spec.metric), m: Int(spec.m),
                                              efConstruction: Int(spec.efConstruction), efSearch: Int(spec.efSearch),
                                              encoding: VectorEncoding(spec.encoding))
            try collections { () throws(CollectionError) in _ = try catalog.create(spec.name, settings: settings) }
            out.writeFrame(.ok)

        case .collectionDrop(let name):
            try collections { () throws(CollectionError) in try catalog.drop(name) }
            out.writeFrame(.ok)

        case .collectionList:
            let all = try collections { () throws(CollectionError) in try catalog.list() }
            let json = "[" + all.map { JSON.object(CollectionSettings.jsonMembers(name: $0.name, $0.settings)) }.joined(separator: ", ") + "]"
            try writeValue(json.utf8, what: "COLLECTION_LIST", limit: maxReplyPayload, into: &out)

        case .collectionInfo(let name):
            let info = try collections { () throws(CollectionError) in try catalog.collection(name).info() }
            out.writeFrame(.value) { $0.writeString(info.json) }

        case .collectionInsert(let insert):
            let lsn = try collections { () throws(CollectionError) -> LSN in
                let collection = try catalog.collection(insert.name)
                guard Int(insert.dimension) == collection.settings.dimension else {
                    throw CollectionError(.wrongDimension, "vectors of dimension \(insert.dimension) for collection \"\(insert.name)\" of dimension \(collection.settings.dimension)")
                }
                return try insert.vectors.withUnsafeBufferPointer { (vectors) throws(CollectionError) -> LSN in
                    try collection.insert(ids: insert.ids, vectors: vectors, metadata: insert.metadata)
                }
            }
            out.writeUInt64Frame(.ok, lsn)

        case .collectionDelete(let name, let id):
            let existed = try collections { () throws(CollectionError) in try catalog.collection(name).delete(id: id) }
            out.writeFrame(.ok) { $0.writeInteger(UInt8(existed ? 1 : 0)) }

        case .collectionGet(let name, let id):
            let item = try collections { () throws(CollectionError) in try catalog.collection(name).item(id: id) }
            out.writeFrame(.value) { payload in
                payload.writeInteger(UInt8(item == nil ? 0 : 1))
                if let item { payload.writeBytes(item.record) }
            }

        case .collectionSearch(let search):
            guard search.k <= maxK else {
                throw WireError(.invalidArgument, "COLLECTION_SEARCH: k = \(search.k) is over the limit of \(maxK)")
            }
            guard search.efSearch <= maxEfSearch else {
                throw WireError(.invalidArgument, "COLLECTION_SEARCH: ef_search = \(search.efSearch) is over the limit of \(maxEfSearch)")
            }
            let hits = try collections { () throws(CollectionError) -> [CollectionHit] in
                let collection = try catalog.collection(search.name)
                guard search.query.count == collection.settings.dimension else {
                    throw CollectionError(.wrongDimension, "the query has \(search.query.count) components; collection \"\(search.name)\" has dimension \(collection.settings.dimension)")
                }
                let filter = search.filter.isEmpty ? nil : try MetadataFilter(json: search.filter)
                return try collection.search(search.query, k: Int(search.k),
                                             efSearch: search.efSearch == 0 ? nil : Int(search.efSearch), filter: filter)
            }
            switch search.format {
            case .hits:
                try writeValue(CollectionHit.encode(hits), what: "COLLECTION_SEARCH", limit: maxReplyPayload, into: &out)
            case .toon:
                try writeValue(CollectionHit.toon(hits).utf8, what: "COLLECTION_SEARCH", limit: maxReplyPayload, into: &out)
            }

        default:
            // The executor routes only collection requests here; never trap on a routing slip.
            throw WireError(.invalidArgument, "\(request.opcode.name) is not a collection request")
        }
    }

    /// A VALUE frame holding `bytes`, unless they exceed the frame limit.
    private static func writeValue<Bytes: Collection<UInt8>>(_ bytes: Bytes, what: String, limit: Int,
                                                             into out: inout ByteBuffer) throws(WireError) {
        guard bytes.count <= limit else {
            throw WireError(.resultTooLarge, "\(what): the reply of \(bytes.count) bytes is over the \(limit)-byte frame limit")
        }
        out.writeFrame(.value) { $0.writeBytes(bytes) }
    }
}

/// Runs collection work, turning its errors into wire errors.
@inline(__always)
func collections<T>(_ body: () throws(CollectionError) -> T) throws(WireError) -> T {
    do {
        return try body()
    } catch {
        throw WireError(error)
    }
}

extension VectorEncoding {
    /// The encoding COLLECTION_CREATE names.
    init(_ encoding: CollectionEncoding) {
        switch encoding {
        case .float32: self = .float32
        case .float16: self = .float16
        case .int8: self = .int8
        }
    }
}

extension VectorMetric {
    /// The metric COLLECTION_CREATE names.
    init(_ metric: CollectionMetric) {
        switch metric {
        case .cosine: self = .cosine
        case .innerProduct: self = .innerProduct
        case .l2: self = .l2
        }
    }
}

extension WireError {
    /// The wire form of a collection error: `invalid_argument` or one of the collection codes
    /// (`collection_not_found`, `collection_exists`, `wrong_dimension`, `invalid_vector`,
    /// `invalid_metadata`, `corrupt_record`); a storage failure maps as the engine's error does.
    init(_ error: CollectionError) {
        if let storage = error.storage {
            self.init(storage)
            return
        }
        switch error.code {
        case .invalidArgument: self.init(.invalidArgument, error.message)
        case .collectionNotFound: self.init(.collectionNotFound, error.message)
        case .collectionExists: self.init(.collectionExists, error.message)
        case .wrongDimension: self.init(.wrongDimension, error.message)
        case .invalidVector: self.init(.invalidVector, error.message)
        case .invalidMetadata: self.init(.invalidMetadata, error.message)
        case .corruptRecord: self.init(.corruptRecord, error.message)
        case .storage: self.init(.storage, error.message)
        }
    }
}

import Foundation
import NIOCore
import Testing
import ToonDBCollections
import ToonDBProtocol
import ToonDBTestSupport
@testable import ToonDBServer

/// A search hit as the binary hit list carries it.
private struct Hit: Equatable {
    var id: UInt64
    var distance: Float
    var metadata: String
}

/// Parses the binary hit list: `count u32, {id u64, distance f32, meta_len u32, meta}*`.
private func parseHits(_ payload: ByteBuffer) throws -> [Hit] {
    var payload = payload
    guard let count = payload.readInteger(endianness: .little, as: UInt32.self) else { throw ClientError(description: "no hit count") }
    var hits: [Hit] = []
    for _ in 0..<count {
        guard let id = payload.readInteger(endianness: .little, as: UInt64.self),
              let bits = payload.readInteger(endianness: .little, as: UInt32.self),
              let length = payload.readInteger(endianness: .little, as: UInt32.self),
              let metadata = payload.readString(length: Int(length))
        else { throw ClientError(description: "truncated hit list") }
        hits.append(Hit(id: id, distance: Float(bitPattern: bits), metadata: metadata))
    }
    guard payload.readableBytes == 0 else { throw ClientError(description: "trailing bytes after the hits") }
    return hits
}

/// The stored record layout: `u8 1, u8 0, u16 0, u32 dimension, f32 × dimension, metadata`.
private func record(_ vector: [Float], _ metadata: String) -> [UInt8] {
    [1, 0] + le16(0) + le32(UInt32(vector.count)) + vector.flatMap { le32($0.bitPattern) } + Array(metadata.utf8)
}

/// Deterministic pseudo-random floats in [-1, 1) (SplitMix64).
private struct Floats {
    var state: UInt64
    mutating func next() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 23) - 1
    }
}

extension SocketClient {
    fileprivate func search(_ name: String, _ query: [Float], k: UInt32, efSearch: UInt32 = 0, filter: String = "") throws -> [Hit] {
        let reply = try call(.collectionSearch(CollectionSearch(name: name, k: k, efSearch: efSearch, format: .hits,
                                                                filter: Array(filter.utf8), query: query)))
        guard case .value(let payload) = reply else { throw ClientError(description: "COLLECTION_SEARCH answered \(reply)") }
        return try parseHits(payload)
    }

    fileprivate func json(_ request: Request) throws -> Any {
        let reply = try call(request)
        guard case .value(let payload) = reply else { throw ClientError(description: "\(request.opcode.name) answered \(reply)") }
        return try JSONSerialization.jsonObject(with: Data(String(buffer: payload).utf8))
    }

    fileprivate func insert(_ name: String, dimension: UInt32, ids: [UInt64], vectors: [Float], metadata: [String] = []) throws -> Reply {
        try call(.collectionInsert(CollectionInsert(name: name, dimension: dimension, ids: ids, vectors: vectors,
                                                    metadata: metadata.map { Array($0.utf8) })))
    }
}

@Suite(.serialized) struct CollectionServerTests {
    @Test func createInsertSearchGetDeleteDrop() throws {
        let fixture = try ServerFixture()
        let client = try fixture.client()
        let spec = CollectionSpec(name: "docs", dimension: 3, metric: .l2, m: 8, efConstruction: 50, efSearch: 20)
        #expect(try client.call(.collectionCreate(spec)) == .ok(ByteBuffer()))
        #expect(errorCode(try client.call(.collectionCreate(spec))) == .collectionExists)

        let listed = try client.json(.collectionList) as? [[String: Any]]
        #expect(listed?.count == 1)
        #expect(listed?.first?["name"] as? String == "docs" && listed?.first?["metric"] as? String == "l2")
        #expect(listed?.first?["dimension"] as? Int == 3 && listed?.first?["m"] as? Int == 8)
        #expect(listed?.first?["ef_construction"] as? Int == 50 && listed?.first?["ef_search"] as? Int == 20)

        let inserted = try client.insert("docs", dimension: 3, ids: [1, 2, 3], vectors: [0, 0, 0, 1, 0, 0, 5, 5, 5],
                                         metadata: [#"{"title":"origin","lang":"en"}"#, "", #"{"title":"far","lang":"de"}"#])
        guard case .ok(var lsnPayload) = inserted, let lsn = lsnPayload.readInteger(endianness: .little, as: UInt64.self) else {
            Issue.record("COLLECTION_INSERT answered \(inserted)")
            return
        }
        #expect(lsn >= 1 && lsnPayload.readableBytes == 0)
        let info = try client.json(.collectionInfo(name: "docs")) as? [String: Any]
        #expect(info?["count"] as? Int == 3 && info?["tombstones"] as? Int == 0 && info?["name"] as? String == "docs")

        // GET: the stored record, byte for byte; missing is found = 0.
        #expect(try client.call(.collectionGet(name: "docs", id: 3)) == .value(ByteBuffer(bytes: [1] + record([5, 5, 5], #"{"title":"far","lang":"de"}"#))))
        #expect(try client.call(.collectionGet(name: "docs", id: 2)) == .value(ByteBuffer(bytes: [1] + record([1, 0, 0], ""))))
        #expect(try client.call(.collectionGet(name: "docs", id: 99)) == .value(ByteBuffer(bytes: [0])))

        // SEARCH: closest first, squared L2 distances, metadata as stored.
        let hits = try client.search("docs", [0.9, 0, 0], k: 2)
        #expect(hits.map(\.id) == [2, 1])
        #expect(abs(hits[0].distance - 0.01) < 1e-5 && abs(hits[1].distance - 0.81) < 1e-5)
        #expect(hits[1].metadata == #"{"title":"origin","lang":"en"}"# && hits[0].metadata.isEmpty)
        let filtered = try client.search("docs", [0.9, 0, 0], k: 3, filter: #"{"lang":{"$in":["en","de"]}}"#)
        #expect(filtered.map(\.id) == [1, 3])

        // The TOON form renders the same hits.
        let toon = try client.call(.collectionSearch(CollectionSearch(name: "docs", k: 3, format: .toon, query: [0.9, 0, 0])))
        let binary = try client.search("docs", [0.9, 0, 0], k: 3)
        let asHits = binary.map { CollectionHit(id: $0.id, distance: $0.distance, metadata: Array($0.metadata.utf8)) }
        #expect(toon == .value(ByteBuffer(string: CollectionHit.toon(asHits))))
        if case .value(let text) = toon { #expect(String(buffer: text).hasPrefix("result[3]")) }

        // DELETE: existed flag; the item leaves searches.
        #expect(try client.call(.collectionDelete(name: "docs", id: 2)) == .ok(ByteBuffer(bytes: [1])))
        #expect(try client.call(.collectionDelete(name: "docs", id: 2)) == .ok(ByteBuffer(bytes: [0])))
        #expect(try client.search("docs", [0.9, 0, 0], k: 3).map(\.id) == [1, 3])
        #expect(try client.call(.collectionGet(name: "docs", id: 2)) == .value(ByteBuffer(bytes: [0])))

        // DROP: gone for every operation, and the name is free again.
        #expect(try client.call(.collectionDrop(name: "docs")) == .ok(ByteBuffer()))
        #expect(errorCode(try client.call(.collectionInfo(name: "docs"))) == .collectionNotFound)
        #expect(errorCode(try client.call(.collectionDrop(name: "docs"))) == .collectionNotFound)
        #expect((try client.json(.collectionList) as? [Any])?.isEmpty == true)
        #expect(try fixture.database.scan(prefix: CollectionKeys.prefix).next(batch: 10).isEmpty)
        #expect(try client.call(.collectionCreate(CollectionSpec(name: "docs", dimension: 2))) == .ok(ByteBuffer()))
        #expect((try client.json(.collectionInfo(name: "docs")) as? [String: Any])?["count"] as? Int == 0)
    }

    @Test func searchWithFullBeamEqualsBruteForce() throws {
        let fixture = try ServerFixture()
        let client = try fixture.client()
        let dimension = 8, count = 200
        #expect(try client.call(.collectionCreate(CollectionSpec(name: "v", dimension: UInt32(dimension), metric: .l2))) == .ok(ByteBuffer()))
        var random = Floats(state: 42)
        let vectors = (0..<(count * dimension)).map { _ in random.next() }
        let ids = (0..<UInt64(count)).map { $0 * 3 + 1 }
        let metadata = ids.map { #"{"odd":\#($0 % 2 == 1)}"# }
        guard case .ok = try client.insert("v", dimension: UInt32(dimension), ids: ids, vectors: vectors, metadata: metadata) else {
            Issue.record("insert failed")
            return
        }
        func bruteForce(_ query: [Float], k: Int, where keep: (UInt64) -> Bool = { _ in true }) -> [UInt64] {
            let scored = (0..<count).filter { keep(ids[$0]) }.map { i -> (UInt64, Float) in
                (ids[i], (0..<dimension).reduce(Float(0)) { $0 + (vectors[i * dimension + $1] - query[$1]) * (vectors[i * dimension + $1] - query[$1]) })
            }
            return scored.sorted { $0.1 < $1.1 }.prefix(k).map(\.0)
        }
        for _ in 0..<10 {
            let query = (0..<dimension).map { _ in random.next() }
            #expect(try client.search("v", query, k: 10, efSearch: UInt32(count)).map(\.id) == bruteForce(query, k: 10))
            #expect(try client.search("v", query, k: 5, efSearch: UInt32(count), filter: #"{"odd":true}"#).map(\.id)
                    == bruteForce(query, k: 5) { $0 % 2 == 1 })
        }
        #expect(try client.search("v", Array(repeating: 0, count: dimension), k: 1000, efSearch: 1000).count == count)
    }

    @Test func writesOnOneConnectionAreSeenByAnother() throws {
        let fixture = try ServerFixture()
        let a = try fixture.client(), b = try fixture.client()
        #expect(try a.call(.collectionCreate(CollectionSpec(name: "shared", dimension: 2, metric: .cosine))) == .ok(ByteBuffer()))
        #expect(try b.search("shared", [1, 0], k: 5).isEmpty)  // b opened it, empty
        for id in UInt64(1)...20 {
            guard case .ok = try a.insert("shared", dimension: 2, ids: [id], vectors: [Float(id), 1]) else { Issue.record("insert \(id)"); return }
            // Acknowledged on a: b's next search sees it.
            #expect(try b.search("shared", [Float(id), 1], k: 1).first?.id == id)
        }
        #expect(try b.call(.collectionGet(name: "shared", id: 7)) == .value(ByteBuffer(bytes: [1] + record([7, 1], ""))))
        #expect(try b.call(.collectionDelete(name: "shared", id: 7)) == .ok(ByteBuffer(bytes: [1])))
        #expect(try a.search("shared", [7, 1], k: 1).first?.id != 7)
        // A collection created on b is listed on a.
        #expect(try b.call(.collectionCreate(CollectionSpec(name: "another", dimension: 4))) == .ok(ByteBuffer()))
        #expect((try a.json(.collectionList) as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["another", "shared"])
    }

    @Test func pipelinedCollectionRequestsAreAnsweredInOrder() throws {
        let fixture = try ServerFixture(syncMode: .full)
        let client = try fixture.client()
        var buffer = ByteBuffer()
        let requests: [Request] = [
            .collectionCreate(CollectionSpec(name: "p", dimension: 2, metric: .l2)),
            .put(transaction: 0, .key(bytes("kv")), value: bytes("1")),
            .collectionInsert(CollectionInsert(name: "p", dimension: 2, ids: [1, 2], vectors: [0, 0, 3, 3])),
            .get(transaction: 0, .key(bytes("kv")), .bare),
            .collectionGet(name: "p", id: 2),
            .collectionInfo(name: "nope"),
            .ping,
            .collectionDelete(name: "p", id: 1),
            .collectionSearch(CollectionSearch(name: "p", k: 5, query: [0, 0])),
            .put(transaction: 0, .key(bytes("kv")), value: bytes("2")),
            .get(transaction: 0, .key(bytes("kv")), .bare),
        ]
        for request in requests { request.encode().write(into: &buffer) }
        try client.send(buffer.readBytes(length: buffer.readableBytes)!)
        #expect(try client.readReply() == .ok(ByteBuffer()))
        #expect(try client.readReply() == .ok(ByteBuffer()))
        guard case .ok(let lsn) = try client.readReply() else { Issue.record("insert"); return }
        #expect(lsn.readableBytes == 8)
        #expect(try client.readReply() == .value(ByteBuffer(bytes: bytes("1"))))
        #expect(try client.readReply() == .value(ByteBuffer(bytes: [1] + record([3, 3], ""))))
        #expect(errorCode(try client.readReply()) == .collectionNotFound)
        #expect(try client.readReply() == .pong)
        #expect(try client.readReply() == .ok(ByteBuffer(bytes: [1])))
        guard case .value(let hits) = try client.readReply() else { Issue.record("search"); return }
        #expect(try parseHits(hits).map(\.id) == [2])
        #expect(try client.readReply() == .ok(ByteBuffer()))
        #expect(try client.readReply() == .value(ByteBuffer(bytes: bytes("2"))))
    }

    @Test func errorsNameTheProblemAndKeepTheConnection() throws {
        let fixture = try ServerFixture()
        let client = try fixture.client()
        #expect(try client.call(.collectionCreate(CollectionSpec(name: "c", dimension: 3))) == .ok(ByteBuffer()))
        // Unknown collection, for every operation that names one.
        for request: Request in [.collectionDrop(name: "x"), .collectionInfo(name: "x"), .collectionDelete(name: "x", id: 1),
                                 .collectionGet(name: "x", id: 1), .collectionSearch(CollectionSearch(name: "x", k: 1, query: [1, 0, 0])),
                                 .collectionInsert(CollectionInsert(name: "x", dimension: 3, ids: [1], vectors: [1, 0, 0]))] {
            #expect(errorCode(try client.call(request)) == .collectionNotFound, "\(request.opcode.name)")
        }
        // Bad names and settings.
        #expect(errorCode(try client.call(.collectionCreate(CollectionSpec(name: "a/b", dimension: 3)))) == .invalidArgument)
        #expect(errorCode(try client.call(.collectionCreate(CollectionSpec(name: "", dimension: 3)))) == .invalidArgument)
        #expect(errorCode(try client.call(.collectionCreate(CollectionSpec(name: "d", dimension: 0)))) == .invalidArgument)
        #expect(errorCode(try client.call(.collectionCreate(CollectionSpec(name: "d", dimension: 3, m: 1)))) == .invalidArgument)
        #expect(errorCode(try client.call(.collectionInfo(name: "a b"))) == .invalidArgument)
        // Dimensions.
        #expect(try client.insert("c", dimension: 2, ids: [1], vectors: [1, 0]) == .error(WireError(.wrongDimension, #"vectors of dimension 2 for collection "c" of dimension 3"#)))
        #expect(try client.call(.collectionSearch(CollectionSearch(name: "c", k: 1, query: [1, 0])))
                == .error(WireError(.wrongDimension, #"the query has 2 components; collection "c" has dimension 3"#)))
        // Vectors, metadata, filters.
        #expect(errorCode(try client.insert("c", dimension: 3, ids: [1], vectors: [0, 0, 0])) == .invalidVector)  // zero under cosine
        #expect(errorCode(try client.insert("c", dimension: 3, ids: [1], vectors: [.nan, 0, 1])) == .invalidVector)
        #expect(errorCode(try client.insert("c", dimension: 3, ids: [1], vectors: [1, 0, 0], metadata: ["[1,2]"])) == .invalidMetadata)
        #expect(errorCode(try client.insert("c", dimension: 3, ids: [1], vectors: [1, 0, 0], metadata: ["{oops"])) == .invalidMetadata)
        #expect(errorCode(try client.insert("c", dimension: 3, ids: [1, 2], vectors: [1, 0, 0, 0, 0, 0])) == .invalidVector)
        #expect(try client.call(.collectionGet(name: "c", id: 1)) == .value(ByteBuffer(bytes: [0])))  // all or none
        guard case .ok = try client.insert("c", dimension: 3, ids: [1], vectors: [1, 0, 0], metadata: [#"{"n":1}"#]) else {
            Issue.record("a valid insert failed")
            return
        }
        for filter in ["{not json", "[1]", #"{"n":{"$near":1}}"#, #"{"n":{"$in":3}}"#] {
            #expect(errorCode(try client.call(.collectionSearch(CollectionSearch(name: "c", k: 1, filter: Array(filter.utf8), query: [1, 0, 0])))) == .invalidMetadata, "\(filter)")
        }
        #expect(errorCode(try client.call(.collectionSearch(CollectionSearch(name: "c", k: 0, query: [1, 0, 0])))) == .invalidArgument)
        #expect(errorCode(try client.call(.collectionSearch(CollectionSearch(name: "c", k: UInt32.max, query: [1, 0, 0])))) == .invalidArgument)
        #expect(errorCode(try client.call(.collectionSearch(CollectionSearch(name: "c", k: 1, efSearch: UInt32.max, query: [1, 0, 0])))) == .invalidArgument)
        #expect(errorCode(try client.call(.collectionSearch(CollectionSearch(name: "c", k: 1, query: [.infinity, 0, 0])))) == .invalidVector)

        // Malformed frames: an ERROR each, and the connection goes on.
        let name = le16(1) + Array("c".utf8)
        func raw(_ opcode: UInt8, _ payload: [UInt8]) -> [UInt8] { [opcode] + le32(UInt32(payload.count)) + payload }
        try client.send(raw(0x1D, name + le32(4_000_000_000) + le32(3) + [0]))
        #expect(errorCode(try client.readReply()) == .malformed)
        try client.send(raw(0x20, name + [1, 0]))
        #expect(errorCode(try client.readReply()) == .malformed)
        try client.send(raw(0x19, name + le32(3) + [9] + le32(16) + le32(100) + le32(64)))
        #expect(errorCode(try client.readReply()) == .invalidArgument)
        try client.send(raw(0x1B, [0]))
        #expect(errorCode(try client.readReply()) == .malformed)
        try client.send(raw(0x1F, name + le64(1) + [0]))
        #expect(errorCode(try client.readReply()) == .malformed)
        #expect(try client.call(.ping) == .pong)
        #expect(try client.search("c", [1, 0, 0], k: 1).map(\.id) == [1])
        #expect(try fixture.client().call(.ping) == .pong)
    }

    @Test func searchRepliesOverTheFrameLimitAreRefused() throws {
        let fixture = try ServerFixture { $0.maxFramePayload = 4096 }
        let client = try fixture.client()
        #expect(try client.call(.collectionCreate(CollectionSpec(name: "big", dimension: 2, metric: .l2))) == .ok(ByteBuffer()))
        let padding = String(repeating: "x", count: 300)
        // Two inserts of about 3 KB each fit the 4 KiB request limit; 20 hits do not.
        for ids in [Array(UInt64(1)...10), Array(UInt64(11)...20)] {
            guard case .ok = try client.insert("big", dimension: 2, ids: ids, vectors: ids.flatMap { [Float($0), 0] },
                                               metadata: ids.map { _ in #"{"pad":"\#(padding)"}"# }) else {
                Issue.record("insert failed")
                return
            }
        }
        #expect(errorCode(try client.call(.collectionSearch(CollectionSearch(name: "big", k: 20, query: [0, 0])))) == .resultTooLarge)
        #expect(try client.search("big", [0, 0], k: 2).map(\.id) == [1, 2])
    }
}

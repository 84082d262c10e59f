import Foundation
import Testing
@testable import ToonDBVector

@Suite struct IndexFileTests {
    static let dimension = 20  // stride 32: rows carry zero padding

    /// A fresh directory under /tmp, removed by the caller's `defer`.
    func tempDirectory() -> String {
        let path = "/tmp/toondb-vector-index-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func makeIndex(_ metric: VectorMetric, count: Int, dataSeed: UInt64 = 1,
                   encoding: VectorEncoding = .float32) throws -> HNSWIndex {
        var rng = TestRandom(dataSeed)
        let index = try HNSWIndex(dimension: Self.dimension, metric: metric, m: 6, efConstruction: 40, seed: 7,
                                  encoding: encoding)
        try index.build(ids: (0..<count).map { UInt64($0) * 3 + 1 }, vectors: rng.flat(count: count, dimension: Self.dimension),
                        count: count, threads: 1)
        return index
    }

    func expectSameResults(_ a: HNSWIndex, _ b: HNSWIndex, queries: Int = 40, seed: UInt64 = 99) throws {
        var rng = TestRandom(seed)
        for _ in 0..<queries {
            let q = rng.vector(Self.dimension)
            let x = try a.search(q, k: 8, efSearch: 32)
            let y = try b.search(q, k: 8, efSearch: 32)
            #expect(x.map(\.id) == y.map(\.id))
            #expect(x.map(\.distance) == y.map(\.distance))
            #expect(try a.exactSearch(q, k: 5).map(\.id) == b.exactSearch(q, k: 5).map(\.id))
        }
    }

    func loadError(_ path: String) -> VectorIndexError? {
        do {
            _ = try HNSWIndex.load(path: path)
            return nil
        } catch {
            return error
        }
    }

    func bytes(_ path: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path)!) }
    func save(_ bytes: [UInt8], _ path: String) { try! Data(bytes).write(to: URL(fileURLWithPath: path)) }

    func u64(_ b: [UInt8], _ offset: Int) -> Int {
        (0..<8).reduce(0) { $0 | Int(b[offset + $1]) << (8 * $1) }
    }

    /// (offset, length) of section `i` (0 = ids ... 5 = upper-layer blocks) from the header.
    func section(_ b: [UInt8], _ i: Int) -> (offset: Int, length: Int) {
        (u64(b, 80 + 24 * i + 8), u64(b, 80 + 24 * i + 16))
    }

    func putU32(_ b: inout [UInt8], _ offset: Int, _ value: UInt32) {
        for i in 0..<4 { b[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }

    /// Recomputes section `i`'s CRC and the header CRC, so that only the semantic checks can
    /// catch an edit.
    func reseal(_ b: inout [UInt8], section i: Int) {
        let (offset, length) = section(b, i)
        let crc = b.withUnsafeBytes { IndexCRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + length)])) }
        putU32(&b, 80 + 24 * i + 4, IndexCRC32C.mask(crc))
        let header = b.withUnsafeBytes { IndexCRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<252])) }
        putU32(&b, 252, IndexCRC32C.mask(header))
    }

    /// Saves `whole` edited by `edit` (given section `i`'s offset), with section `i`'s and the
    /// header's checksums recomputed, and expects the load to report it corrupt with `message`.
    func expectRejectedAfterResealing(_ whole: [UInt8], at path: String, section i: Int, _ message: String,
                                      _ edit: (inout [UInt8], Int) -> Void) {
        var damaged = whole
        edit(&damaged, section(whole, i).offset)
        reseal(&damaged, section: i)
        save(damaged, path)
        let error = loadError(path)
        #expect(error?.code == .corruptFile)
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
    }

    @Test func crc32cMatchesTheCastagnoliCheckValue() {
        let check = Array("123456789".utf8).withUnsafeBytes { IndexCRC32C.checksum($0) }
        #expect(check == 0xE306_9283)
        // Extending equals checksumming the concatenation, at every split and alignment.
        let data = (0..<100).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let whole = data.withUnsafeBytes { IndexCRC32C.checksum($0) }
        for split in [0, 1, 3, 8, 13, 64, 99, 100] {
            let parts = data.withUnsafeBytes { raw in
                IndexCRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[split...]),
                                     extending: IndexCRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[..<split])))
            }
            #expect(parts == whole)
        }
    }

    @Test(arguments: VectorMetric.allCases)
    func roundTripKeepsParametersAndResults(metric: VectorMetric) throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let index = try makeIndex(metric, count: 300)
        for id in stride(from: UInt64(1), to: 300, by: 21) { index.remove(id: id) }
        let path = dir + "/index.hnsw"
        try index.write(to: path)
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))

        let loaded = try HNSWIndex.load(path: path)
        #expect(loaded.dimension == index.dimension)
        #expect(loaded.metric == metric)
        #expect(loaded.m == index.m)
        #expect(loaded.efConstruction == index.efConstruction)
        #expect(loaded.seed == index.seed)
        #expect(loaded.count == index.count)
        #expect(loaded.tombstoneCount == index.tombstoneCount)
        #expect(loaded.tombstoneCount == 15)
        #expect(!loaded.contains(id: 1) && loaded.contains(id: 4))
        #expect(loaded.vector(id: 4) == index.vector(id: 4))
        try expectSameResults(index, loaded)

        // Writing the loaded index gives the same bytes.
        try loaded.write(to: dir + "/again.hnsw")
        #expect(bytes(path) == bytes(dir + "/again.hnsw"))
    }

    /// f16 and int8 files are version 2 with the encoding (and the int8 scale) in the header;
    /// the codes are recomputed from the stored vectors on load, so the loaded index searches
    /// exactly like the one written. f32 files stay version 1.
    @Test(arguments: VectorEncoding.allCases)
    func encodingsRoundTrip(encoding: VectorEncoding) throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let index = try makeIndex(.cosine, count: 400, encoding: encoding)
        index.remove(id: 4)
        let path = dir + "/index.hnsw"
        try index.write(to: path)
        let b = bytes(path)
        #expect(b[8] == (encoding == .float32 ? 1 : 2))
        #expect(b[224] == [VectorEncoding.float32: 0, .float16: 1, .int8: 2][encoding])
        let loaded = try HNSWIndex.load(path: path)
        #expect(loaded.encoding == encoding)
        #expect(loaded.int8Scale == index.int8Scale)
        #expect(loaded.vector(id: 7) == index.vector(id: 7))
        try expectSameResults(index, loaded)
        // Inserting into the loaded index (which copies the mapped rows) keeps it searching
        // like the original after the same insert.
        var rng = TestRandom(5)
        let extra = rng.vector(Self.dimension)
        try index.add(id: 100_000, vector: extra)
        try loaded.add(id: 100_000, vector: extra)
        try expectSameResults(index, loaded, seed: 3)
        try loaded.write(to: dir + "/again.hnsw")
        try index.write(to: path)
        #expect(bytes(path) == bytes(dir + "/again.hnsw"))
    }

    @Test func encodingHeaderFieldsAreChecked() throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/index.hnsw"
        try makeIndex(.l2, count: 30, encoding: .int8).write(to: path)
        let whole = bytes(path)
        func expectRejected(_ message: String, _ edit: (inout [UInt8]) -> Void) {
            expectRejectedAfterResealing(whole, at: path, section: 0, message) { b, _ in edit(&b) }
        }
        expectRejected("unknown encoding code 9") { putU32(&$0, 224, 9) }
        expectRejected("int8 scale") { putU32(&$0, 228, Float.nan.bitPattern) }
        expectRejected("int8 scale") { putU32(&$0, 228, 0) }
        expectRejected("int8 scale at offset 228 is not zero") { putU32(&$0, 224, 1) }  // f16 with a scale
        expectRejected("reserved header byte at offset 232") { $0[232] = 1 }
        // A version-1 file must not use the version-2 fields.
        expectRejected("reserved header byte at offset 224") { putU32(&$0, 8, 1) }
    }

    @Test func loadedIndexContinuesLikeTheOriginal() throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let original = try makeIndex(.l2, count: 150)
        original.remove(id: 4)
        let path = dir + "/index.hnsw"
        try original.write(to: path)
        let loaded = try HNSWIndex.load(path: path)

        // The same single-threaded inserts give the same graph (levels continue from the seed).
        var rng = TestRandom(5)
        let more = rng.flat(count: 120, dimension: Self.dimension)
        let ids = (0..<120).map { UInt64(10_000 + $0) }
        for i in 0..<60 {
            let v = Array(more[(i * Self.dimension)..<((i + 1) * Self.dimension)])
            try original.add(id: ids[i], vector: v)
            try loaded.add(id: ids[i], vector: v)
        }
        try original.build(ids: Array(ids[60...]), vectors: Array(more[(60 * Self.dimension)...]), count: 60, threads: 1)
        try loaded.build(ids: Array(ids[60...]), vectors: Array(more[(60 * Self.dimension)...]), count: 60, threads: 1)
        #expect(loaded.count == 150 - 1 + 120)
        try expectSameResults(original, loaded)
        #expect(throws: VectorIndexError.self) { try loaded.add(id: 7, vector: [Float](repeating: 1, count: Self.dimension)) }

        // Removing and re-adding on the loaded index, and compacting it.
        #expect(loaded.remove(id: 10_000))
        #expect(loaded.remove(id: 7))
        try loaded.add(id: 7, vector: [Float](repeating: 0.5, count: Self.dimension))
        let hit = try loaded.search([Float](repeating: 0.5, count: Self.dimension), k: 1)
        #expect(hit.first?.id == 7)
        let compacted = loaded.compacted(threads: 1)
        #expect(compacted.count == loaded.count && compacted.tombstoneCount == 0)

        // A loaded index that has not grown (vectors still mapped) writes and reloads too.
        let fresh = try HNSWIndex.load(path: path)
        try fresh.write(to: dir + "/copy.hnsw")
        try expectSameResults(fresh, try HNSWIndex.load(path: dir + "/copy.hnsw"), queries: 10)
    }

    @Test func concurrentSearchesOnALoadedIndex() throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeIndex(.cosine, count: 200).write(to: dir + "/i.hnsw")
        let loaded = try HNSWIndex.load(path: dir + "/i.hnsw")
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            var rng = TestRandom(UInt64(worker))
            for j in 0..<30 {
                if worker == 0 && j % 3 == 0 {
                    try? loaded.add(id: UInt64(50_000 + j), vector: rng.vector(Self.dimension))
                } else {
                    _ = try? loaded.search(rng.vector(Self.dimension), k: 5)
                }
            }
        }
        #expect(loaded.count == 210)
    }

    @Test func emptyIndexRoundTrips() throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let empty = try HNSWIndex(dimension: 3, metric: .innerProduct, m: 4, efConstruction: 9, seed: 123)
        try empty.write(to: dir + "/empty.hnsw")
        #expect(bytes(dir + "/empty.hnsw").count == 256)
        let loaded = try HNSWIndex.load(path: dir + "/empty.hnsw")
        #expect(loaded.count == 0 && loaded.tombstoneCount == 0)
        #expect((loaded.dimension, loaded.m, loaded.efConstruction, loaded.seed) == (3, 4, 9, 123))
        #expect(loaded.metric == .innerProduct)
        #expect(try loaded.search([1, 0, 0], k: 3).isEmpty)
        try loaded.add(id: 1, vector: [1, 0, 0])
        #expect(try loaded.search([1, 0, 0], k: 3).map(\.id) == [1])
    }

    @Test func writeReplacesAnExistingFile() throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/index.hnsw"
        try makeIndex(.l2, count: 10).write(to: path)
        let first = try HNSWIndex.load(path: path)  // keeps the old file mapped
        try makeIndex(.l2, count: 30).write(to: path)
        #expect(try HNSWIndex.load(path: path).count == 30)
        #expect(first.count == 10)
        _ = try first.search([Float](repeating: 0.1, count: Self.dimension), k: 3)
        #expect(throws: VectorIndexError.self) { try first.write(to: dir + "/no/such/dir/x.hnsw") }
    }

    @Test func truncatedFilesAreRejected() throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/index.hnsw"
        try makeIndex(.cosine, count: 60).write(to: path)
        let whole = bytes(path)
        var cuts = [0, 1, 7, 8, 9, 100, 251, 252, 255, 256, 257, whole.count - 1]
        cuts += stride(from: 300, to: whole.count, by: max(1, whole.count / 40))
        for i in 0..<6 { cuts.append(section(whole, i).offset + section(whole, i).length / 2) }
        for cut in cuts {
            save(Array(whole[..<cut]), path)
            let error = loadError(path)
            #expect(error?.code == .corruptFile, "cut at \(cut): \(String(describing: error))")
            #expect(error?.message.contains(path) == true)
        }
        save(whole + [0], path)
        #expect(loadError(path)?.message.contains("trailing") == true)
    }

    @Test func aFlippedByteInAnySectionIsReported() throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/index.hnsw"
        try makeIndex(.l2, count: 80).write(to: path)
        let whole = bytes(path)
        let names = ["ids", "levels", "tombstones", "vectors", "layer-0 adjacency", "upper-layer blocks"]
        for i in 0..<6 {
            let (offset, length) = section(whole, i)
            #expect(length > 0 && offset % 64 == 0)
            for at in [offset, offset + length / 2, offset + length - 1] {
                var damaged = whole
                damaged[at] ^= 0x10
                save(damaged, path)
                let error = loadError(path)
                #expect(error?.code == .corruptFile)
                #expect(error?.message.contains("section '\(names[i])' at offset \(offset)") == true, "\(String(describing: error))")
                #expect(error?.message.contains("checksum") == true)
            }
        }
        // Header fields (after the version) and padding.
        for at in [12, 16, 24, 36, 44, 56, 72, 80, 100, 230, 252, section(whole, 2).offset - 1] {
            var damaged = whole
            damaged[at] ^= 0x01
            save(damaged, path)
            let error = loadError(path)
            #expect(error?.code == .corruptFile, "byte \(at): \(String(describing: error))")
        }
    }

    @Test func wrongMagicFutureVersionAndMissingFile() throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/index.hnsw"
        try makeIndex(.innerProduct, count: 20).write(to: path)
        let whole = bytes(path)

        var magic = whole
        magic[3] = UInt8(ascii: "X")
        save(magic, path)
        #expect(loadError(path)?.code == .corruptFile)
        #expect(loadError(path)?.message.contains("magic") == true)
        save(Array("not an index at all, just some text that is long enough".utf8), path)
        #expect(loadError(path)?.message.contains("magic") == true)

        var future = whole
        putU32(&future, 8, 3)
        save(future, path)
        #expect(loadError(path)?.code == .unsupportedVersion)
        #expect(loadError(path)?.message.contains("version 3") == true)

        #expect(loadError(dir + "/missing.hnsw")?.code == .io)
        #expect(loadError(dir + "/missing.hnsw")?.message.contains("missing.hnsw") == true)
        #expect(loadError(dir)?.code == .io)  // a directory
    }

    @Test func inconsistentContentsWithValidChecksumsAreRejected() throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/index.hnsw"
        let index = try makeIndex(.l2, count: 80)
        index.remove(id: 1)
        try index.write(to: path)
        let whole = bytes(path)
        #expect(loadError(path) == nil)

        func expectRejected(section i: Int, _ message: String, _ edit: (inout [UInt8], Int) -> Void) {
            expectRejectedAfterResealing(whole, at: path, section: i, message, edit)
        }
        // A layer-0 neighbour slot out of range; too many neighbours.
        expectRejected(section: 4, "is not a node slot") { b, at in putU32(&b, at + 4, 80) }
        expectRejected(section: 4, "neighbours on layer 0") { b, at in putU32(&b, at, 13) }
        // An upper-layer neighbour on a layer it does not have.
        let levels = Array(whole[section(whole, 1).offset..<(section(whole, 1).offset + 80)])
        let flat = UInt32(levels.firstIndex(of: 0)!)
        expectRejected(section: 5, "has level 0") { b, at in
            putU32(&b, at, 1)
            putU32(&b, at + 4, flat)
        }
        // A tombstone byte that is not 0/1, or a count that disagrees with the header.
        expectRejected(section: 2, "expected 0 or 1") { b, at in b[at + 5] = 2 }
        expectRejected(section: 2, "tombstones") { b, at in b[at + 5] = 1 }
        // Two live nodes with one id.
        expectRejected(section: 0, "live twice") { b, at in
            for k in 0..<8 { b[at + 8 * 3 + k] = b[at + 8 * 2 + k] }
        }
        // A non-finite component; non-zero padding.
        expectRejected(section: 3, "not finite") { b, at in putU32(&b, at + 4, 0x7FC0_0000) }
        expectRejected(section: 3, "padding component") { b, at in putU32(&b, at + 4 * 25, 0x3F80_0000) }
        // A level above the header's max level.
        expectRejected(section: 1, "above the max level") { b, at in b[at] = 31 }
    }
}

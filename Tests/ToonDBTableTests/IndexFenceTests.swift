import Testing
import ToonDBFormat
import ToonDBIO
import ToonDBTestSupport
@testable import ToonDBTable

/// Point lookups find their data block through ``IndexFences`` (integers) instead of searching
/// the index block: for every target, both must land on the same index entry.
@Suite("SSTable index fences")
struct IndexFenceTests {
    /// User-key sets that stress the fences: random bytes; zero-padded numbers (a long common
    /// prefix); keys equal for 16 bytes after the common prefix (every fence ties); and short
    /// keys over {0x00, 0x01, 0xFF} that are prefixes of one another (zero padding ties).
    static func userKeys(_ set: String) -> [[UInt8]] {
        switch set {
        case "random":
            return Model.random(count: 4000, seed: 9).userKeys
        case "numeric":
            return (0..<3000).map { Array("key:\(String(repeating: "0", count: 12 - String($0 * 7).count))\($0 * 7)".utf8) }
        case "ties":
            return (0..<2000).map { Array("tenant/0123456789abcdef/\($0 + 100_000)".utf8) }
        default:
            var keys: [[UInt8]] = [[]]
            for _ in 0..<4 { keys += keys.flatMap { key in [0x00, 0x01, 0xFF].map { key + [$0] } } }
            return Array(Set(keys.filter { !$0.isEmpty })).sorted { compareBytes($0, $1) < 0 }
        }
    }

    /// Entries for `userKeys` (sorted): one to three versions each, LSNs descending.
    static func model(_ userKeys: [[UInt8]]) -> Model {
        var model = Model()
        model.userKeys = userKeys
        for (i, userKey) in userKeys.enumerated() {
            let list = (0...(i % 3)).map { v in
                ModelEntry(userKey: userKey, lsn: LSN(1000 - 100 * v), kind: v == 1 ? .deletion : .value, value: [UInt8(i & 0xFF)])
            }
            model.versions[userKey] = list
            model.entries += list
        }
        model.keys = model.entries.map(\.internalKey)
        return model
    }

    @Test(arguments: ["random", "numeric", "ties", "short"])
    func fencesLandWhereTheIndexSeekLands(set: String) throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let model = Self.model(Self.userKeys(set))
        let path = dir.file("fences.sst")
        try buildTable(path, model.entries, backend: POSIXBackend(), options: TableOptions(blockSize: 128))
        let reader = try TableReader.open(path: path, fileNumber: 1, backend: POSIXBackend(), cache: BlockCache())
        let index = reader.index
        #expect(index.restartCount > 20, "many data blocks")
        let fences = try #require(reader.fences)

        // Targets: every key at snapshots around its versions, and keys just beside each.
        var targets: [[UInt8]] = [InternalKey.encode([], 0, .value)]
        for userKey in model.userKeys {
            for neighbour in [userKey, userKey + [0], userKey + [0xFF], Array(userKey.dropLast())] {
                for snapshot: LSN in [0, 899, 900, 1000, InternalKey.maxLSN] {
                    var target = neighbour
                    target.appendFixed64(TableReader.seekTrailer(snapshot))
                    targets.append(target)
                }
            }
        }
        targets.append(Array(repeating: 0xFF, count: 40))

        let restarts = (0..<index.restartCount).map { index.restart($0) }
        var cursor = BlockCursorCore(key: KeyBuffer(capacity: 64))
        var seeker = BlockCursorCore(key: KeyBuffer(capacity: 64))
        defer { cursor.key.release(); seeker.key.release() }
        var mismatches: [String] = []
        for target in targets {
            try target.withUnsafeBytes { target in
                cursor.attach(index)
                let viaFences = try fences.firstEntry(atLeast: target, in: index, cursor: &cursor)
                seeker.attach(index)
                try seeker.seek(target)
                let viaSeek = seeker.isValid ? restarts.firstIndex(of: seeker.current)! : index.restartCount
                if viaFences != viaSeek { mismatches.append("\(Array(target)): fences \(viaFences), seek \(viaSeek)") }
            }
        }
        #expect(mismatches.count == 0, "\(mismatches.prefix(3))")

        // And the lookups that go through them answer as the model does.
        var wrong = 0
        for userKey in model.userKeys {
            for snapshot: LSN in [850, 1000, InternalKey.maxLSN] where try reader.get(userKey, snapshot: snapshot) != model.expected(userKey, snapshot: snapshot) {
                wrong += 1
            }
        }
        #expect(wrong == 0)
    }
}

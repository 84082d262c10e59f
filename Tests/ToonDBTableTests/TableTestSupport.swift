import ToonDBTestSupport
#if canImport(Glibc)
import Glibc
#endif
import ToonDBFormat
import ToonDBIO
@testable import ToonDBTable

/// A fresh directory under /tmp, removed by `cleanup()`.
struct TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/toondb-table-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed: errno \(errno)")
        path = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
    }

    func file(_ name: String) -> String { path + "/" + name }

    func cleanup() { try? FileSystem.removeTree(path) }
}

/// The seeded generator of ToonDBTestSupport, so failures reproduce.
typealias SeededGenerator = SeededRandom

func randomBytes(_ count: Int, using rng: inout SeededGenerator) -> [UInt8] { rng.bytes(count) }

/// One entry of the in-memory model.
struct ModelEntry {
    var userKey: [UInt8]
    var lsn: LSN
    var kind: ValueKind
    var value: [UInt8]
    var internalKey: [UInt8] { InternalKey.encode(userKey, lsn, kind) }
}

/// Sorted entries with several versions per user key and tombstones, plus lookups on them.
struct Model {
    var entries: [ModelEntry] = []
    var keys: [[UInt8]] = []          // encoded internal keys, same order
    var userKeys: [[UInt8]] = []      // distinct, sorted
    var versions: [[UInt8]: [ModelEntry]] = [:]   // newest first

    /// About `count` entries over user keys of 1...24 random bytes.
    static func random(count: Int, seed: UInt64, maxValue: Int = 64) -> Model {
        var rng = SeededGenerator(seed: seed)
        var userKeySet = Set<[UInt8]>()
        while userKeySet.count < count / 2 {
            userKeySet.insert(randomBytes(Int.random(in: 1...24, using: &rng), using: &rng))
        }
        var model = Model()
        model.userKeys = userKeySet.sorted { compareBytes($0, $1) < 0 }
        for userKey in model.userKeys where model.entries.count < count {
            let versionCount = Int.random(in: 1...3, using: &rng)
            var lsns = Set<LSN>()
            while lsns.count < versionCount { lsns.insert(LSN.random(in: 1...10_000, using: &rng)) }
            var list: [ModelEntry] = []
            for lsn in lsns.sorted(by: >) {
                let deletion = Int.random(in: 0..<5, using: &rng) == 0
                let value = deletion ? [] : randomBytes(Int.random(in: 0...maxValue, using: &rng), using: &rng)
                list.append(ModelEntry(userKey: userKey, lsn: lsn, kind: deletion ? .deletion : .value, value: value))
            }
            model.versions[userKey] = list
            model.entries.append(contentsOf: list)
        }
        model.userKeys = model.userKeys.filter { model.versions[$0] != nil }
        model.keys = model.entries.map(\.internalKey)
        return model
    }

    /// What a table lookup of `userKey` at `snapshot` must return.
    func expected(_ userKey: [UInt8], snapshot: LSN) -> TableLookup {
        guard let list = versions[userKey], let entry = list.first(where: { $0.lsn <= snapshot }) else { return .notFound }
        return entry.kind == .value ? .value(entry.value, lsn: entry.lsn) : .deleted(lsn: entry.lsn)
    }

    /// Index of the first key >= target.
    func lowerBound(_ target: [UInt8]) -> Int {
        var low = 0, high = keys.count
        while low < high {
            let mid = (low + high) / 2
            let c = keys[mid].withUnsafeBytes { a in target.withUnsafeBytes { b in InternalKey.compare(a, b) } }
            if c < 0 { low = mid + 1 } else { high = mid }
        }
        return low
    }
}

@discardableResult
func buildTable(_ path: String, _ entries: [ModelEntry], backend: any IOBackend,
                options: TableOptions = TableOptions()) throws -> TableProperties {
    let builder = try TableBuilder(path: path, backend: backend, options: options)
    for entry in entries { try builder.add(entry.internalKey, entry.value) }
    return try builder.finish()
}

/// Every entry of the table, in iteration order.
func collect(_ iterator: TableIterator) throws(StorageError) -> [(key: [UInt8], value: [UInt8])] {
    var out: [(key: [UInt8], value: [UInt8])] = []
    try iterator.seekToFirst()
    while iterator.isValid {
        out.append(([UInt8](iterator.key), [UInt8](iterator.value)))
        try iterator.next()
    }
    return out
}

/// The backends to test with: POSIX always, io_uring where the kernel allows it.
enum BackendChoice: String, CaseIterable, CustomStringConvertible {
    case posix, ioUring
    var description: String { rawValue }
    /// The choices this kernel allows (io_uring is refused in many containers).
    static var available: [BackendChoice] { allCases.filter { $0.make() != nil } }
    func make() -> (any IOBackend)? {
        switch self {
        case .posix: return POSIXBackend()
        case .ioUring: return try? URingBackend()
        }
    }
}

import Synchronization
import ToonDBFormat

/// An immutable snapshot of which tables are live, by level.
///
/// Level 0 holds flushed memtables, which may overlap; they are kept newest first. Levels 1 and
/// up hold tables with disjoint key ranges sorted by key, and a user key's versions never span
/// two tables of one level (compaction cuts tables only between user keys). So for any key the
/// newest versions are found first by searching memtables, then level 0 newest first, then one
/// table per deeper level.
final class Version: Sendable {
    let levels: [[FileMetadata]]
    /// Unique in the process and increasing: what ``RowCache`` entries are valid for.
    let id: UInt64
    /// The largest LSN in any table (0 when there is none).
    let maxLSN: LSN

    private static let ids = Atomic<UInt64>(0)

    init(levels: [[FileMetadata]] = Array(repeating: [], count: VersionSet.levelCount)) {
        self.levels = levels
        id = Self.ids.add(1, ordering: .relaxed).newValue
        maxLSN = levels.joined().reduce(0) { Swift.max($0, $1.maxLSN) }
    }

    var tableCount: Int { levels.reduce(0) { $0 + $1.count } }
    func bytes(atLevel level: Int) -> Int64 { levels[level].reduce(0) { $0 + $1.size } }
    var allTables: [FileMetadata] { levels.flatMap { $0 } }

    /// A new version with `edit` applied; `make` builds metadata for added tables.
    func applying(_ edit: VersionEdit, make: (VersionEdit.NewTable) -> FileMetadata) -> Version {
        var levels = self.levels
        for (level, number) in edit.deleted {
            if let index = levels[level].firstIndex(where: { $0.number == number }) {
                levels[level].remove(at: index)
            }
        }
        for table in edit.added { levels[table.level].append(make(table)) }
        levels[0].sort { ($0.maxLSN, $0.number) > ($1.maxLSN, $1.number) }
        for level in 1..<levels.count {
            levels[level].sort { a, b in a.smallest.withUnsafeBytes { x in b.smallest.withUnsafeBytes { y in InternalKey.compare(x, y) < 0 } } }
        }
        return Version(levels: levels)
    }

    /// Tables that may hold `userKey`, in the order to search them.
    func tables(for userKey: [UInt8]) -> [FileMetadata] {
        var result: [FileMetadata] = []
        userKey.withUnsafeBytes { key in
            firstAnswer(for: key) { (table: FileMetadata) -> Bool? in
                result.append(table)
                return nil
            }
        }
        return result
    }

    /// Asks the tables that may hold `userKey`, in search order, until one answers (returns
    /// non-nil); that answer, or nil. What a point read does, without building a list.
    func firstAnswer<R, E: Error>(for userKey: UnsafeRawBufferPointer, _ ask: (FileMetadata) throws(E) -> R?) throws(E) -> R? {
        for table in levels[0] where table.covers(userKey) {
            if let answer = try ask(table) { return answer }
        }
        for level in 1..<levels.count {
            if let table = Self.find(levels[level], userKey), let answer = try ask(table) { return answer }
        }
        return nil
    }

    /// Binary search of a sorted, disjoint level for the table whose range holds `userKey`.
    static func find(_ tables: [FileMetadata], _ userKey: UnsafeRawBufferPointer) -> FileMetadata? {
        var low = 0, high = tables.count
        while low < high {
            let mid = (low + high) / 2
            let below = tables[mid].largest.withUnsafeBytes { compareBytes(InternalKey.userKey($0), userKey) < 0 }
            if below { low = mid + 1 } else { high = mid }
        }
        guard low < tables.count, tables[low].covers(userKey) else { return nil }
        return tables[low]
    }

    /// Tables of `level` whose user-key range intersects [smallest, largest] (user keys).
    func overlapping(level: Int, smallest: [UInt8], largest: [UInt8]) -> [FileMetadata] {
        levels[level].filter { table in
            table.smallest.withUnsafeBytes { s in
                table.largest.withUnsafeBytes { l in
                    smallest.withUnsafeBytes { lo in
                        largest.withUnsafeBytes { hi in
                            compareBytes(InternalKey.userKey(l), lo) >= 0 && compareBytes(InternalKey.userKey(s), hi) <= 0
                        }
                    }
                }
            }
        }
    }
}

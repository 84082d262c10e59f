import ToonDBFormat

/// One unit of compaction work: tables of `level` merged with the overlapping tables of
/// `level + 1`, written to `level + 1`.
struct Compaction {
    let level: Int
    let inputs: [FileMetadata]
    let overlaps: [FileMetadata]
    var outputLevel: Int { level + 1 }

    /// Inputs that can move down without rewriting: nothing below overlaps them and they do not
    /// overlap each other.
    var isTrivialMove: Bool {
        guard overlaps.isEmpty else { return false }
        if inputs.count == 1 { return true }
        let sorted = inputs.sorted { a, b in a.smallest.withUnsafeBytes { x in b.smallest.withUnsafeBytes { InternalKey.compare(x, $0) < 0 } } }
        for (a, b) in zip(sorted, sorted.dropFirst()) {
            let overlapping = a.largest.withUnsafeBytes { x in b.smallest.withUnsafeBytes { compareBytes(InternalKey.userKey(x), InternalKey.userKey($0)) >= 0 } }
            if overlapping { return false }
        }
        return true
    }

    var inputBytes: Int64 { (inputs + overlaps).reduce(0) { $0 + $1.size } }
}

/// Leveled compaction: which level most needs work, and which tables to merge.
struct CompactionPicker {
    let options: DatabaseOptions

    func maxBytes(level: Int) -> Int64 {
        var bytes = options.level1MaxBytes
        if level > 1 { for _ in 1..<level { bytes = bytes.multipliedReportingOverflow(by: options.levelSizeMultiplier).partialValue } }
        return bytes
    }

    /// Level 0 scores by table count, deeper levels by size against their limit; >= 1 means
    /// the level needs compaction. The last level is never compacted further.
    func scores(_ version: Version) -> [(level: Int, score: Double)] {
        var result: [(Int, Double)] = [(0, Double(version.levels[0].count) / Double(options.level0CompactionTrigger))]
        for level in 1..<(VersionSet.levelCount - 1) {
            result.append((level, Double(version.bytes(atLevel: level)) / Double(maxBytes(level: level))))
        }
        return result
    }

    /// Bytes that compaction still has to move to bring every level under its limit.
    func pendingBytes(_ version: Version) -> Int64 {
        var pending: Int64 = version.levels[0].count >= options.level0CompactionTrigger ? version.bytes(atLevel: 0) : 0
        for level in 1..<(VersionSet.levelCount - 1) { pending += max(0, version.bytes(atLevel: level) - maxBytes(level: level)) }
        return pending
    }

    func pick(_ version: Version, pointer: (Int) -> [UInt8]) -> Compaction? {
        guard let best = scores(version).max(by: { $0.score < $1.score }), best.score >= 1 else { return nil }
        return compaction(at: best.level, in: version, pointer: pointer(best.level))
    }

    /// A compaction of `level` (used by `compactAll` as well as scoring).
    func compaction(at level: Int, in version: Version, pointer: [UInt8]) -> Compaction? {
        let tables = version.levels[level]
        guard !tables.isEmpty, level < VersionSet.levelCount - 1 else { return nil }
        let inputs: [FileMetadata]
        if level == 0 {
            // All of level 0: its tables overlap, and taking them all keeps "newer levels hold
            // newer versions" true.
            inputs = tables
        } else {
            // Round robin: the first table after the last compacted key.
            let next = tables.first { t in
                pointer.isEmpty || t.largest.withUnsafeBytes { l in pointer.withUnsafeBytes { InternalKey.compare(l, $0) > 0 } }
            }
            inputs = [next ?? tables[0]]
        }
        let smallest = inputs.map(\.smallestUserKey).min { compareBytes($0, $1) < 0 }!
        let largest = inputs.map(\.largestUserKey).max { compareBytes($0, $1) < 0 }!
        return Compaction(level: level, inputs: inputs, overlaps: version.overlapping(level: level + 1, smallest: smallest, largest: largest))
    }
}

/// Filters a merged stream of versions, dropping what no reader can see:
/// - a version shadowed by a newer version of the same key that is itself at or below the
///   oldest snapshot (every reader sees the newer one);
/// - a tombstone at or below the oldest snapshot when no deeper level can hold the key
///   (`isBottom`), since there is nothing left for it to hide.
struct VersionFilter {
    let oldestSnapshot: LSN
    private var currentKey: [UInt8] = []
    private var hasKey = false
    private var newerLSN: LSN = .max

    init(oldestSnapshot: LSN) { self.oldestSnapshot = oldestSnapshot }

    mutating func keep(_ internalKey: UnsafeRawBufferPointer, isBottom: ([UInt8]) -> Bool) -> Bool {
        let user = InternalKey.userKey(internalKey)
        if !hasKey || currentKey.withUnsafeBytes({ compareBytes($0, user) != 0 }) {
            currentKey.removeAll(keepingCapacity: true)
            currentKey.append(contentsOf: user)
            hasKey = true
            newerLSN = .max
        }
        let trailer = InternalKey.trailer(of: internalKey)
        let lsn = trailer >> 8
        defer { newerLSN = lsn }
        if newerLSN != .max && newerLSN <= oldestSnapshot { return false }
        if UInt8(truncatingIfNeeded: trailer) == ValueKind.deletion.rawValue && lsn <= oldestSnapshot && isBottom(currentKey) {
            return false
        }
        return true
    }
}

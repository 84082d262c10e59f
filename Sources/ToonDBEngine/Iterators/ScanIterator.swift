import ToonDBFormat

/// Streams the live key-value pairs of a consistent snapshot in byte order, within
/// `[start, end)`: for each user key, the newest version with LSN <= the snapshot, skipping
/// tombstones. It holds the memtables and the table version it reads, so compaction never
/// deletes a file under it.
public final class ScanIterator: @unchecked Sendable {
    private let input: any InternalIterator
    private let snapshot: LSN
    private let end: [UInt8]?
    private let start: [UInt8]
    private var started = false
    private var finished = false
    /// Keeps the read view (memtables, version) alive for as long as the iterator is.
    private let pinned: AnyObject?

    init(input: any InternalIterator, snapshot: LSN, start: [UInt8], end: [UInt8]?, pinned: AnyObject?) {
        self.input = input
        self.snapshot = snapshot
        self.start = start
        self.end = end
        self.pinned = pinned
    }

    /// The next pair, or nil when the range is exhausted.
    public func next() throws(StorageError) -> (key: [UInt8], value: [UInt8])? {
        if finished { return nil }
        if !started {
            started = true
            try input.seek(InternalKey.encode(start, InternalKey.maxLSN, .value))
        }
        while input.isValid {
            let ikey = input.key
            let user = InternalKey.userKey(ikey)
            if let end, end.withUnsafeBytes({ compareBytes(user, $0) >= 0 }) { break }
            let trailer = InternalKey.trailer(of: ikey)
            if trailer >> 8 > snapshot {
                try input.next()  // too new for this snapshot
                continue
            }
            let key = [UInt8](user)
            let isValue = UInt8(truncatingIfNeeded: trailer) == ValueKind.value.rawValue
            let value = isValue ? [UInt8](input.value) : []
            try skipVersions(of: key)
            if isValue { return (key, value) }
        }
        finished = true
        return nil
    }

    /// Advances past the remaining (older) versions of `key`.
    private func skipVersions(of key: [UInt8]) throws(StorageError) {
        try input.next()
        while input.isValid, key.withUnsafeBytes({ compareBytes(InternalKey.userKey(input.key), $0) == 0 }) {
            try input.next()
        }
    }

    /// Up to `limit` pairs (fewer at the end of the range).
    public func next(batch limit: Int) throws(StorageError) -> [(key: [UInt8], value: [UInt8])] {
        var result: [(key: [UInt8], value: [UInt8])] = []
        while result.count < limit, let pair = try next() { result.append(pair) }
        return result
    }
}

/// The smallest key greater than every key starting with `prefix`, or nil when there is none
/// (the prefix is empty or all 0xFF).
func prefixSuccessor(_ prefix: [UInt8]) -> [UInt8]? {
    var bytes = prefix
    while let last = bytes.last {
        if last < 0xFF {
            bytes[bytes.count - 1] = last + 1
            return bytes
        }
        bytes.removeLast()
    }
    return nil
}

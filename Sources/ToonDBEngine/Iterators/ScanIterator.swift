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

    /// The user key of the pair `input` is positioned at (reused, so steady-state iteration
    /// allocates nothing).
    private var currentKey: [UInt8] = []
    /// Whether `input` sits on a pair already handed out (its older versions still to skip).
    private var positioned = false

    /// Moves `input` to the next visible pair: the newest version of the next user key with
    /// LSN <= the snapshot, when that version is a value. Returns false at the end.
    private func advance() throws(StorageError) -> Bool {
        if finished { return false }
        if !started {
            started = true
            try input.seek(InternalKey.encode(start, InternalKey.maxLSN, .value))
        } else if positioned {
            positioned = false
            try skipVersions()
        }
        // Locals, not property reads, in the loop: each read of a class property costs a
        // retain/release pair, which dominated a profile of long scans.
        let input = self.input
        let snapshot = self.snapshot
        let end = self.end
        while input.isValid {
            let ikey = input.key
            let user = InternalKey.userKey(ikey)
            if let end, end.withUnsafeBytes({ compareBytes(user, $0) >= 0 }) { break }
            let trailer = InternalKey.trailer(of: ikey)
            if trailer >> 8 > snapshot {
                try input.next()  // too new for this snapshot
                continue
            }
            currentKey.removeAll(keepingCapacity: true)
            currentKey.append(contentsOf: user)
            if UInt8(truncatingIfNeeded: trailer) == ValueKind.value.rawValue {
                positioned = true
                return true
            }
            try skipVersions()  // a tombstone hides the key
        }
        finished = true
        return false
    }

    /// Advances past the current entry and the remaining (older) versions of `currentKey`.
    private func skipVersions() throws(StorageError) {
        let input = self.input
        try input.next()
        try currentKey.withBytes { (key) throws(StorageError) in
            while input.isValid, compareBytes(InternalKey.userKey(input.key), key) == 0 {
                try input.next()
            }
        }
    }

    /// The next pair, or nil when the range is exhausted.
    public func next() throws(StorageError) -> (key: [UInt8], value: [UInt8])? {
        guard try advance() else { return nil }
        return (currentKey, [UInt8](input.value))
    }

    /// Calls `body` with each remaining pair, without copying: the buffers are valid only during
    /// the call. `body` returns false to stop early.
    public func forEach(_ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(StorageError) -> Bool) throws(StorageError) {
        while try advance() {
            let keepGoing = try currentKey.withBytes { (key) throws(StorageError) -> Bool in try body(key, input.value) }
            if !keepGoing { return }
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
public func prefixSuccessor(_ prefix: [UInt8]) -> [UInt8]? {
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

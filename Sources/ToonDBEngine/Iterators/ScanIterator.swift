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

    /// The user key of the pair `input` is positioned at, in memory the iterator owns and
    /// reuses (a raw buffer rather than an array property: reading an array property of a
    /// class retains its storage, once per pair here).
    private var keyBytes = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 8)
    private var keyCapacity = 64
    private var keyCount = 0
    /// Whether `input` sits on a pair already handed out (its older versions still to skip).
    private var positioned = false

    deinit { keyBytes.deallocate() }

    private var currentKey: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: keyBytes, count: keyCount) }

    private func setCurrentKey(_ key: UnsafeRawBufferPointer) {
        if key.count > keyCapacity {
            keyBytes.deallocate()
            keyCapacity = max(key.count, 2 * keyCapacity)
            keyBytes = .allocate(byteCount: keyCapacity, alignment: 8)
        }
        if let source = key.baseAddress { keyBytes.copyMemory(from: source, byteCount: key.count) }
        keyCount = key.count
    }

    /// Moves `input` to the next visible pair: the newest version of the next user key with
    /// LSN <= the snapshot, when that version is a value. Returns false at the end.
    ///
    /// `input`, `snapshot` and `end` are this iterator's own, passed in by a caller that read
    /// them once: every read of a class property holding a reference costs a retain/release
    /// pair, which dominated a profile of long scans.
    ///
    /// Generic so that the walk over a ``MergingIterator`` (the usual input) is specialized:
    /// direct calls instead of protocol dispatch for every step (see ``forEach(_:)``).
    private func advance<Input: InternalIterator>(_ input: Input, _ snapshot: LSN, _ end: [UInt8]?) throws(StorageError) -> Bool {
        if finished { return false }
        if !started {
            started = true
            try input.seek(InternalKey.encode(start, InternalKey.maxLSN, .value))
        } else if positioned {
            positioned = false
            try skipVersions(input)
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
            setCurrentKey(user)
            if UInt8(truncatingIfNeeded: trailer) == ValueKind.value.rawValue {
                positioned = true
                return true
            }
            try skipVersions(input)  // a tombstone hides the key
        }
        finished = true
        return false
    }

    /// Advances past the current entry and the remaining (older) versions of the current key.
    private func skipVersions<Input: InternalIterator>(_ input: Input) throws(StorageError) {
        try input.next()
        let key = currentKey
        while input.isValid, compareBytes(InternalKey.userKey(input.key), key) == 0 {
            try input.next()
        }
    }

    /// The next pair, or nil when the range is exhausted.
    public func next() throws(StorageError) -> (key: [UInt8], value: [UInt8])? {
        let input = self.input
        guard try advance(input, snapshot, end) else { return nil }
        return ([UInt8](currentKey), [UInt8](input.value))
    }

    /// Calls `body` with each remaining pair, without copying: the buffers are valid only during
    /// the call. `body` returns false to stop early.
    public func forEach(_ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(StorageError) -> Bool) throws(StorageError) {
        if let merging = input as? MergingIterator {
            try walk(merging, body)
        } else {
            try walk(input, body)
        }
    }

    private func walk<Input: InternalIterator>(_ input: Input, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws(StorageError) -> Bool) throws(StorageError) {
        let snapshot = self.snapshot, end = self.end
        while try advance(input, snapshot, end) {
            if try !body(currentKey, input.value) { return }
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

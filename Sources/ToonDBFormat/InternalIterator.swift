/// A cursor over internal-key/value entries in internal-key order (see ``InternalKey``).
///
/// Implemented by the memtable, SSTables, level concatenation and the merging iterator.
/// `key` and `value` stay valid until the iterator next moves; copy them to keep them.
/// Moves throw ``StorageError`` (a bad block checksum, an I/O failure) instead of trapping.
public protocol InternalIterator: AnyObject {
    /// True when positioned at an entry.
    var isValid: Bool { get }
    /// Positions at the first entry.
    func seekToFirst() throws(StorageError)
    /// Positions at the first entry whose internal key is >= `target` (an encoded internal key).
    func seek(_ target: [UInt8]) throws(StorageError)
    /// Moves to the next entry (requires `isValid`).
    func next() throws(StorageError)
    /// The current internal key (user key + 8-byte trailer).
    var key: UnsafeRawBufferPointer { get }
    /// The current value (empty for tombstones).
    var value: UnsafeRawBufferPointer { get }
    /// The iterator doing the work, for a wrapper that only forwards to it once positioned
    /// (a lazily opened table): callers on a hot path may talk to it directly, while keeping
    /// the wrapper alive. Itself for every other iterator.
    var unwrapped: any InternalIterator { get }
}

extension InternalIterator {
    public var unwrapped: any InternalIterator { self }
}

import ToonDBFormat
import ToonDBIO

/// A two-level iterator over one table: a cursor over the index block picks data blocks, a
/// cursor over the current data block walks its entries.
///
/// `key` and `value` point into the iterator's key buffer and the current block; they stay
/// valid until the iterator next moves. Moving allocates nothing per entry. Not thread-safe:
/// each thread makes its own iterator.
public final class TableIterator: InternalIterator {
    /// The table this iterator reads (kept alive by the iterator).
    public let reader: TableReader
    private let fillCache: Bool
    /// Both cursors live in one allocation reached through an unsafe pointer, so moving them
    /// costs no exclusivity checks.
    private let cursors: UnsafeMutablePointer<BlockCursorCore>
    private var dataBlock: Block?
    /// Offset of `dataBlock` in the file; `UInt64.max` when none is loaded.
    private var dataOffset: UInt64 = .max
    /// Read-ahead: blocks read together with the last one that missed, in file order, and
    /// the next one expected. Where the last block loaded ends, and how many misses in a row
    /// were each the block right after the previous one (the read-ahead grows with it).
    private var ahead: [Block] = []
    private var aheadNext = 0
    private var previousEnd: UInt64 = .max
    private var streak = 0
    /// A run read ahead stops at this many bytes (RocksDB's automatic read-ahead limit): what
    /// each open iterator may hold; 2 MiB scanned no faster.
    static let maxReadAhead = 256 << 10

    @inline(__always) private var indexCursor: UnsafeMutablePointer<BlockCursorCore> { cursors }
    @inline(__always) private var dataCursor: UnsafeMutablePointer<BlockCursorCore> { cursors + 1 }

    init(reader: TableReader, fillCache: Bool) {
        self.reader = reader
        self.fillCache = fillCache
        cursors = .allocate(capacity: 2)
        cursors.initialize(to: BlockCursorCore(key: KeyBuffer(capacity: 64)))
        (cursors + 1).initialize(to: BlockCursorCore(key: KeyBuffer(capacity: 64)))
        cursors.pointee.attach(reader.index)
    }

    deinit {
        cursors.pointee.key.release()
        cursors[1].key.release()
        cursors.deinitialize(count: 2)
        cursors.deallocate()
    }

    /// True when positioned at an entry.
    public var isValid: Bool { dataCursor.pointee.isValid }

    /// The current internal key (empty when not valid); valid until the next move.
    public var key: UnsafeRawBufferPointer {
        dataCursor.pointee.isValid ? dataCursor.pointee.keyBytes : UnsafeRawBufferPointer(start: nil, count: 0)
    }

    /// The current value (empty for tombstones and when not valid); valid until the next move.
    public var value: UnsafeRawBufferPointer {
        dataCursor.pointee.isValid ? dataCursor.pointee.valueBytes : UnsafeRawBufferPointer(start: nil, count: 0)
    }

    /// Positions at the table's first entry (not valid when the table is empty).
    public func seekToFirst() throws(StorageError) {
        do { try indexCursor.pointee.seekToFirst() } catch { throw reader.corruption(error, in: reader.index, what: "index") }
        try loadDataBlock()
        guard let block = dataBlock else { return }
        do { try dataCursor.pointee.seekToFirst() } catch { throw reader.corruption(error, in: block, what: "data") }
        try skipExhaustedBlocks()
    }

    /// Positions at the first entry whose internal key is >= `target` (an encoded internal key).
    public func seek(_ target: [UInt8]) throws(StorageError) {
        try target.withBytes { (raw) throws(StorageError) in try seek(raw) }
    }

    /// Positions at the first entry whose internal key is >= `target`.
    public func seek(_ target: UnsafeRawBufferPointer) throws(StorageError) {
        guard target.count >= 8 else {
            throw .invalidArgument("seek target of \(target.count) bytes is not an internal key")
        }
        do { try indexCursor.pointee.seek(target) } catch { throw reader.corruption(error, in: reader.index, what: "index") }
        try loadDataBlock()
        guard let block = dataBlock else { return }
        do { try dataCursor.pointee.seek(target) } catch { throw reader.corruption(error, in: block, what: "data") }
        try skipExhaustedBlocks()
    }

    /// Moves to the next entry, crossing into the next data block when needed.
    public func next() throws(StorageError) {
        guard dataCursor.pointee.isValid else { return }
        do {
            try dataCursor.pointee.next()
        } catch {
            dataCursor.pointee.invalidate()
            guard let block = dataBlock else { throw StorageError(.internal, "table iterator moved without a data block") }
            throw reader.corruption(error, in: block, what: "data")
        }
        if !dataCursor.pointee.isValid { try skipExhaustedBlocks() }
    }

    /// Loads the block the index cursor points at (or clears the data cursor when the index
    /// is exhausted).
    private func loadDataBlock() throws(StorageError) {
        guard indexCursor.pointee.isValid else {
            dataCursor.pointee.invalidate()
            dataBlock = nil
            dataOffset = .max
            return
        }
        let handle = try reader.decodeHandle(indexCursor.pointee.valueBytes)
        if handle.offset == dataOffset, let block = dataBlock {
            dataCursor.pointee.attach(block)
            return
        }
        dataCursor.pointee.invalidate()
        dataBlock = nil
        dataOffset = .max
        let block = try fetch(handle)
        previousEnd = handle.offset + handle.size + UInt64(TableFormat.blockTrailerSize)
        dataBlock = block
        dataOffset = handle.offset
        dataCursor.pointee.attach(block)
    }

    /// The block at `handle`: read ahead already, cached, or read now. A miss right after the
    /// previous block reads the blocks that follow it too, in one read: 8 KiB, doubling with
    /// each such miss up to ``maxReadAhead``, stopping at a block the cache holds.
    private func fetch(_ handle: BlockHandle) throws(StorageError) -> Block {
        if aheadNext < ahead.count, ahead[aheadNext].fileOffset == Int64(handle.offset) {
            aheadNext += 1
            return ahead[aheadNext - 1]
        }
        ahead.removeAll(keepingCapacity: true)
        aheadNext = 0
        if let cache = reader.cache, let block = cache.lookup(fileNumber: reader.fileNumber, offset: handle.offset, forScan: true) { return block }
        streak = handle.offset == previousEnd ? streak + 1 : 0
        guard streak > 0 else { return try reader.readDataBlock(handle, fillCache: fillCache) }
        let handles = try reader.dataHandles()
        guard let first = Self.position(of: handle.offset, in: handles) else {
            throw .corruption("data block at offset \(handle.offset) is not in the index", path: reader.path, offset: Int64(handle.offset))
        }
        let budget = UInt64(min(4096 << min(streak, 16), Self.maxReadAhead))
        var end = first + 1
        var bytes = handles[first].size
        while end < handles.count, bytes + handles[end].size <= budget, !reader.isCached(handles[end].offset) {
            bytes += handles[end].size
            end += 1
        }
        ahead = try reader.readRun(handles[first..<end], fillCache: fillCache)
        aheadNext = 1
        return ahead[0]
    }

    /// The index of the handle at `offset` in `handles` (sorted by offset).
    private static func position(of offset: UInt64, in handles: [BlockHandle]) -> Int? {
        var low = 0, high = handles.count
        while low < high {
            let mid = (low + high) / 2
            if handles[mid].offset < offset { low = mid + 1 } else { high = mid }
        }
        return low < handles.count && handles[low].offset == offset ? low : nil
    }

    /// While the data cursor is at the end of its block, moves to the next block's first entry.
    private func skipExhaustedBlocks() throws(StorageError) {
        while !dataCursor.pointee.isValid {
            guard indexCursor.pointee.isValid else { return }
            do { try indexCursor.pointee.next() } catch { throw reader.corruption(error, in: reader.index, what: "index") }
            try loadDataBlock()
            guard let block = dataBlock, indexCursor.pointee.isValid else { return }
            do { try dataCursor.pointee.seekToFirst() } catch { throw reader.corruption(error, in: block, what: "data") }
        }
    }
}

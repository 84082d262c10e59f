import Synchronization
import ToonDBFormat
import ToonDBIO

/// The result of looking a user key up in one table.
public enum TableLookup: Sendable, Equatable {
    /// The table has no version of the key visible at the snapshot.
    case notFound
    /// The newest visible version is a value written at `lsn`.
    case value([UInt8], lsn: LSN)
    /// The newest visible version is a tombstone written at `lsn`.
    case deleted(lsn: LSN)

    /// A borrowed lookup, its value copied.
    public init(_ found: BorrowedLookup) {
        switch found {
        case .notFound: self = .notFound
        case .value(let value, let lsn): self = .value([UInt8](value), lsn: lsn)
        case .deleted(let lsn): self = .deleted(lsn: lsn)
        }
    }
}

/// What ``TableReader/withLookup(_:snapshot:_:)`` passes on: a ``TableLookup`` whose value is
/// borrowed from the block it lives in.
public enum BorrowedLookup {
    case notFound
    case value(UnsafeRawBufferPointer, lsn: LSN)
    case deleted(lsn: LSN)
}

/// An open SSTable: immutable once opened and safe to use from many threads at once.
///
/// Opening reads the footer, the index, the filter and the properties into memory; data
/// blocks are read on demand, each checked against its CRC: point lookups in place from a
/// mapping of the file (``MappedBlocks``, when ``TableOptions/mapReads``), everything else
/// through the ``BlockCache`` when there is one. Anything malformed read from the file is a ``StorageError`` with code
/// `.corruption` naming the file and the offset, never a crash.
public final class TableReader: Sendable {
    /// The file's path and the number the engine gave it (the block cache key).
    public let path: String
    public let fileNumber: UInt64
    /// What the table holds, from its properties block.
    public let properties: TableProperties
    /// The size of the file in bytes.
    public let fileSize: Int64

    let file: TableFile
    let backend: any IOBackend
    let cache: BlockCache?
    let options: TableOptions
    let index: Block
    let filter: BloomFilter?
    /// The data blocks in place in a mapping of the file, for point lookups (nil when
    /// ``TableOptions/mapReads`` is off or the mapping was refused).
    let mapped: MappedBlocks?
    /// Data blocks (and their trailers) lie before this offset.
    let dataLimit: UInt64
    /// Every data block's handle in file order, decoded from the index the first time a scan
    /// reads ahead (16 bytes per block; point reads never need it).
    private let handleList = Mutex<[BlockHandle]?>(nil)

    private init(path: String, fileNumber: UInt64, properties: TableProperties, fileSize: Int64, file: TableFile,
                 backend: any IOBackend, cache: BlockCache?, options: TableOptions, index: Block, filter: BloomFilter?,
                 mapped: MappedBlocks?) {
        self.mapped = mapped
        self.path = path
        self.fileNumber = fileNumber
        self.properties = properties
        self.fileSize = fileSize
        self.file = file
        self.backend = backend
        self.cache = cache
        self.options = options
        self.index = index
        self.filter = filter
        self.dataLimit = UInt64(fileSize) - UInt64(TableFormat.footerSize)
    }

    /// Opens the table at `path`. `fileNumber` identifies the file in `cache`.
    public static func open(path: String, fileNumber: UInt64, backend: any IOBackend, cache: BlockCache?,
                            options: TableOptions = TableOptions()) throws(StorageError) -> TableReader {
        let file: TableFile
        let size: Int64
        do {
            file = TableFile(try File.open(path, .readOnly))
            size = try file.file.size()
        } catch {
            throw StorageError(error, context: "opening table \(path)")
        }
        guard size >= Int64(TableFormat.footerSize) else {
            throw .corruption("table file of \(size) bytes is too short for its \(TableFormat.footerSize)-byte footer", path: path, offset: 0)
        }
        let footerOffset = size - Int64(TableFormat.footerSize)
        var footerBytes = [UInt8](repeating: 0, count: TableFormat.footerSize)
        let count: Int
        do {
            count = try footerBytes.withMutableBytes { (buffer) throws(IOError) in try backend.read(file.file, into: buffer, at: footerOffset) }
        } catch {
            throw StorageError(error, context: "reading the footer of table \(path)")
        }
        guard count == TableFormat.footerSize else {
            throw .corruption("table footer truncated (read \(count) bytes)", path: path, offset: footerOffset)
        }
        let footer = try footerBytes.withBytes { (raw) throws(StorageError) in try TableFooter.decode(raw, path: path, fileSize: size) }

        let metaLimit = UInt64(footerOffset)
        func check(_ handle: BlockHandle, _ what: String) throws(StorageError) {
            let trailer = UInt64(TableFormat.blockTrailerSize)
            guard handle.size <= metaLimit, metaLimit - handle.size >= trailer,
                  handle.offset <= metaLimit - handle.size - trailer else {
                throw .corruption("\(what) block handle (offset \(handle.offset), size \(handle.size)) lies outside the file of \(size) bytes",
                                  path: path, offset: footerOffset)
            }
        }
        try check(footer.index, "index")
        try check(footer.properties, "properties")
        if !footer.filter.isAbsent { try check(footer.filter, "filter") }

        let index = try readBlock(file: file, backend: backend, handle: footer.index, what: "index")
        let propertiesBlock = try readRaw(file: file, backend: backend, handle: footer.properties, what: "properties")
        defer { propertiesBlock.deallocate() }
        let properties = try TableProperties.decode(UnsafeRawBufferPointer(start: propertiesBlock, count: Int(footer.properties.size)),
                                                    fileSize: size, path: path, offset: Int64(footer.properties.offset))
        guard properties.formatVersion == TableFormat.version else {
            throw .corruption("table properties name format version \(properties.formatVersion)", path: path, offset: Int64(footer.properties.offset))
        }
        var filter: BloomFilter?
        if !footer.filter.isAbsent {
            let raw = try readRaw(file: file, backend: backend, handle: footer.filter, what: "filter")
            filter = BloomFilter(UnsafeRawBufferPointer(start: raw, count: Int(footer.filter.size)))
            raw.deallocate()
        }
        // The index has one entry, and one restart point, per data block.
        let mapped = options.mapReads ? MappedBlocks(file.file, length: size, blockCount: index.bytes.restartCount) : nil
        return TableReader(path: path, fileNumber: fileNumber, properties: properties, fileSize: size, file: file,
                           backend: backend, cache: cache, options: options, index: index, filter: filter, mapped: mapped)
    }

    // MARK: Reading blocks

    /// Reads a block and its trailer into a new allocation (the caller deallocates it) and
    /// checks the trailer. The handle has been validated against the file size.
    private static func readRaw(file: TableFile, backend: any IOBackend, handle: BlockHandle, what: String) throws(StorageError) -> UnsafeMutableRawPointer {
        let size = Int(handle.size)
        let total = size + TableFormat.blockTrailerSize
        let offset = Int64(handle.offset)
        let allocation = UnsafeMutableRawPointer.allocate(byteCount: total, alignment: 16)
        let count: Int
        do {
            count = try backend.read(file.file, into: UnsafeMutableRawBufferPointer(start: allocation, count: total), at: offset)
        } catch {
            allocation.deallocate()
            throw StorageError(error, context: "reading \(what) block of table \(file.path) at offset \(offset)")
        }
        guard count == total else {
            allocation.deallocate()
            throw .corruption("\(what) block truncated (read \(count) of \(total) bytes)", path: file.path, offset: offset)
        }
        do {
            try verifyBlockTrailer(allocation, size: size, path: file.path, offset: offset, what: what)
        } catch {
            allocation.deallocate()
            throw error
        }
        return allocation
    }

    private static func readBlock(file: TableFile, backend: any IOBackend, handle: BlockHandle, what: String) throws(StorageError) -> Block {
        let allocation = try readRaw(file: file, backend: backend, handle: handle, what: what)
        return try Block.make(taking: allocation, size: Int(handle.size), fileOffset: Int64(handle.offset), path: file.path, what: what)
    }

    /// Checks that a data block handle read from the index lies in the data area.
    @inline(__always)
    func checkDataHandle(_ handle: BlockHandle) throws(StorageError) {
        let trailer = UInt64(TableFormat.blockTrailerSize)
        guard handle.size >= 4, handle.size <= dataLimit, dataLimit - handle.size >= trailer,
              handle.offset <= dataLimit - handle.size - trailer else {
            throw .corruption("index names a data block (offset \(handle.offset), size \(handle.size)) outside the file of \(fileSize) bytes",
                              path: path, offset: index.fileOffset)
        }
    }

    /// The data block at `handle`, from the cache or the file (then cached when `fillCache`).
    func dataBlock(_ handle: BlockHandle, fillCache: Bool = true) throws(StorageError) -> Block {
        if let cache, let block = cache.lookup(fileNumber: fileNumber, offset: handle.offset) { return block }
        return try readDataBlock(handle, fillCache: fillCache)
    }

    /// The data block at `handle` read from the file (the caller looked in the cache), then
    /// cached when `fillCache`.
    func readDataBlock(_ handle: BlockHandle, fillCache: Bool) throws(StorageError) -> Block {
        try checkDataHandle(handle)
        let block = try Self.readBlock(file: file, backend: backend, handle: handle, what: "data")
        if fillCache, let cache { cache.insert(fileNumber: fileNumber, offset: handle.offset, block: block) }
        return block
    }

    /// Every data block's handle, in file (and key) order.
    func dataHandles() throws(StorageError) -> [BlockHandle] {
        if let list = handleList.withLock({ $0 }) { return list }
        var list: [BlockHandle] = []
        var cursor = BlockCursorCore(key: KeyBuffer(capacity: 64))
        defer { cursor.key.release() }
        cursor.attach(index)
        do { try cursor.seekToFirst() } catch { throw corruption(error, in: index, what: "index") }
        while cursor.isValid {
            list.append(try decodeHandle(cursor.valueBytes))
            do { try cursor.next() } catch { throw corruption(error, in: index, what: "index") }
        }
        handleList.withLock { $0 = list }
        return list
    }

    /// Reads the data blocks `handles` (consecutive in the file, none cached) with one read
    /// into one ``BlockRun``, checks each block's trailer and restart array, and caches them
    /// when `fillCache`. A run whose handles are not back to back is read block by block.
    func readRun(_ handles: ArraySlice<BlockHandle>, fillCache: Bool) throws(StorageError) -> [Block] {
        guard let first = handles.first else { return [] }
        let trailer = UInt64(TableFormat.blockTrailerSize)
        var end = first.offset
        for handle in handles {
            try checkDataHandle(handle)
            guard handle.offset == end else {
                return try handles.map { (handle) throws(StorageError) in try readDataBlock(handle, fillCache: fillCache) }
            }
            end = handle.offset + handle.size + trailer
        }
        let total = Int(end - first.offset)
        let run = BlockRun(count: total)
        let count: Int
        do {
            count = try backend.read(file.file, into: UnsafeMutableRawBufferPointer(start: run.bytes, count: total), at: Int64(first.offset))
        } catch {
            throw StorageError(error, context: "reading \(handles.count) data blocks of table \(path) at offset \(first.offset)")
        }
        guard count == total else {
            throw .corruption("data blocks truncated (read \(count) of \(total) bytes)", path: path, offset: Int64(first.offset))
        }
        var blocks: [Block] = []
        blocks.reserveCapacity(handles.count)
        for handle in handles {
            let start = Int(handle.offset - first.offset)
            let size = Int(handle.size)
            try verifyBlockTrailer(run.bytes + start, size: size, path: path, offset: Int64(handle.offset), what: "data")
            let block = try Block.make(in: run, at: start, size: size, fileOffset: Int64(handle.offset), path: path, what: "data")
            if fillCache, let cache { cache.insert(fileNumber: fileNumber, offset: handle.offset, block: block) }
            blocks.append(block)
        }
        return blocks
    }

    /// Whether the block cache holds the data block at `offset` (not counted as a lookup).
    func isCached(_ offset: UInt64) -> Bool {
        cache?.contains(fileNumber: fileNumber, offset: offset) ?? false
    }

    /// Turns a decoding failure inside `block` into a corruption error naming the file.
    func corruption(_ error: BlockDecodeError, in block: Block, what: String) -> StorageError {
        corruption(error, in: block.bytes, what: what)
    }

    /// Turns a decoding failure inside `block` into a corruption error naming the file.
    func corruption(_ error: BlockDecodeError, in block: BlockBytes, what: String) -> StorageError {
        .corruption("\(what) block: \(error.reason) (byte \(error.position) of \(block.size))", path: path, offset: block.fileOffset)
    }

    /// Decodes an index entry's value: offset varint, size varint.
    @inline(__always)
    func decodeHandle(_ value: UnsafeRawBufferPointer) throws(StorageError) -> BlockHandle {
        var p = 0
        func varint() -> UInt64? {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while p < value.count && shift <= 63 {
                let byte = value[p]
                p += 1
                result |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return result }
                shift += 7
            }
            return nil
        }
        guard let offset = varint(), let size = varint(), p == value.count else {
            throw .corruption("index entry has a malformed block handle", path: path, offset: index.fileOffset)
        }
        return BlockHandle(offset: offset, size: size)
    }

    // MARK: Point lookups

    /// True unless the bloom filter rules `userKey` out.
    public func mayContain(_ userKey: [UInt8]) -> Bool {
        guard let filter else { return true }
        return userKey.withUnsafeBytes { filter.mayContain($0) }
    }

    /// True unless the bloom filter rules `userKey` out.
    public func mayContain(_ userKey: UnsafeRawBufferPointer) -> Bool {
        filter?.mayContain(userKey) ?? true
    }

    /// The trailer of lookup targets: every version with LSN <= snapshot sorts at or after it.
    @inline(__always)
    static func seekTrailer(_ snapshot: LSN) -> UInt64 { Swift.min(snapshot, InternalKey.maxLSN) << 8 | 0xFF }

    /// Runs `body` with the lookup target for `userKey` at `snapshot` and two key buffers for
    /// prefix decompression, all in stack memory for keys up to a few hundred bytes.
    @inline(__always)
    private func withLookupScratch<R>(_ userKey: UnsafeRawBufferPointer, _ snapshot: LSN,
                                      _ body: (UnsafeRawBufferPointer, inout KeyBuffer, inout KeyBuffer) throws(StorageError) -> R) throws(StorageError) -> R {
        let targetCount = userKey.count + 8
        let scratch = 512
        return try withUnsafeTemporaryAllocation(byteCount: targetCount + 2 * scratch, alignment: 8) { (memory) throws(StorageError) -> R in
            let base = memory.baseAddress!
            if let source = userKey.baseAddress, userKey.count > 0 { base.copyMemory(from: source, byteCount: userKey.count) }
            base.storeBytes(of: Self.seekTrailer(snapshot).littleEndian, toByteOffset: userKey.count, as: UInt64.self)
            let target = UnsafeRawBufferPointer(start: base, count: targetCount)
            var indexKey = KeyBuffer(borrowing: UnsafeMutableRawBufferPointer(start: base + targetCount, count: scratch))
            var dataKey = KeyBuffer(borrowing: UnsafeMutableRawBufferPointer(start: base + targetCount + scratch, count: scratch))
            defer { indexKey.release(); dataKey.release() }
            return try body(target, &indexKey, &dataKey)
        }
    }

    /// The handle of the only data block that can hold the first entry >= `target`, and its
    /// position in the index, or nil when every key in the table is smaller.
    @inline(__always)
    func findDataBlock(_ target: UnsafeRawBufferPointer, keyBuffer: inout KeyBuffer) throws(StorageError) -> (handle: BlockHandle, ordinal: Int)? {
        var cursor = BlockCursorCore(key: keyBuffer)
        defer { keyBuffer = cursor.key }
        cursor.attach(index)
        let ordinal: Int
        do { ordinal = try cursor.seek(target) } catch { throw corruption(error, in: index, what: "index") }
        guard cursor.isValid else { return nil }
        return (try decodeHandle(cursor.valueBytes), ordinal)
    }

    /// Finds the newest version of `userKey` in `block` visible at the target's snapshot and
    /// passes it to `body`, a value in place in the block (which the caller holds).
    @inline(__always)
    func lookup<R>(in block: BlockBytes, target: UnsafeRawBufferPointer, userKey: UnsafeRawBufferPointer,
                   keyBuffer: inout KeyBuffer, _ body: (BorrowedLookup) -> R) throws(StorageError) -> R {
        var cursor = BlockCursorCore(key: keyBuffer)
        defer { keyBuffer = cursor.key }
        cursor.attach(block)
        do { try cursor.seek(target) } catch { throw corruption(error, in: block, what: "data") }
        guard cursor.isValid else { return body(.notFound) }
        let key = cursor.keyBytes
        guard compareBytes(InternalKey.userKey(key), userKey) == 0 else { return body(.notFound) }
        let trailer = InternalKey.trailer(of: key)
        switch UInt8(truncatingIfNeeded: trailer) {
        case ValueKind.value.rawValue: return body(.value(cursor.valueBytes, lsn: trailer >> 8))
        case ValueKind.deletion.rawValue: return body(.deleted(lsn: trailer >> 8))
        case let kind:
            throw .corruption("data block entry has unknown value kind \(kind) (byte \(cursor.current))", path: path, offset: block.fileOffset)
        }
    }

    /// The newest version of `userKey` with LSN <= `snapshot`.
    public func get(_ userKey: [UInt8], snapshot: LSN) throws(StorageError) -> TableLookup {
        try userKey.withBytes { (raw) throws(StorageError) in try get(raw, snapshot: snapshot) }
    }

    /// The newest version of `userKey` with LSN <= `snapshot`.
    public func get(_ userKey: UnsafeRawBufferPointer, snapshot: LSN) throws(StorageError) -> TableLookup {
        var result = TableLookup.notFound
        try withLookup(userKey, snapshot: snapshot) { result = TableLookup($0) }
        return result
    }

    /// Calls `body` with the newest version of `userKey` with LSN <= `snapshot`. A value is
    /// passed in place, valid only during the call: a reader that copies it once (into a
    /// reply, a caller's buffer) saves the array ``get(_:snapshot:)`` allocates. Not generic:
    /// called from another module, a generic would run unspecialized.
    public func withLookup(_ userKey: UnsafeRawBufferPointer, snapshot: LSN, _ body: (BorrowedLookup) -> Void) throws(StorageError) {
        if let filter, !filter.mayContain(userKey) { return body(.notFound) }
        return try withLookupScratch(userKey, snapshot) { (target, indexKey, dataKey) throws(StorageError) in
            guard let (handle, ordinal) = try findDataBlock(target, keyBuffer: &indexKey) else { return body(.notFound) }
            if let mapped, mapped.isIntact {
                try checkDataHandle(handle)
                return try mapped.read(handle, ordinal: ordinal) { (bytes, deliver) throws(StorageError) in
                    try lookup(in: bytes, target: target, userKey: userKey, keyBuffer: &dataKey) { found in
                        if deliver(found) { body(found) }
                    }
                }
            }
            let block = try dataBlock(handle)
            return try withExtendedLifetime(block) { () throws(StorageError) in
                try lookup(in: block.bytes, target: target, userKey: userKey, keyBuffer: &dataKey, body)
            }
        }
    }

    /// Looks up several user keys at one snapshot: the bloom filter and the index pick the
    /// data blocks, the ones not cached are fetched with a single ``IOBackend/readBatch(_:)``
    /// (all in flight at once on io_uring), then each key is looked up. Results are in the
    /// order of `userKeys` and equal what ``get(_:snapshot:)`` returns for each.
    public func multiGet(_ userKeys: [[UInt8]], snapshot: LSN) throws(StorageError) -> [TableLookup] {
        var results = [TableLookup](repeating: .notFound, count: userKeys.count)
        // Keys that may be here, with their block: cached already, or slot `pending` of `toRead`.
        var wanted: [(key: Int, block: Block?, pending: Int)] = []
        var toRead: [BlockHandle] = []
        var slots: [UInt64: Int] = [:]
        wanted.reserveCapacity(userKeys.count)
        for (i, userKey) in userKeys.enumerated() {
            if !mayContain(userKey) { continue }
            let found = try userKey.withBytes { (raw) throws(StorageError) in
                try withLookupScratch(raw, snapshot) { (target, indexKey, _) throws(StorageError) in
                    try findDataBlock(target, keyBuffer: &indexKey)
                }
            }
            guard let handle = found?.handle else { continue }
            if let slot = slots[handle.offset] {
                wanted.append((i, nil, slot))
            } else if let cache, let block = cache.lookup(fileNumber: fileNumber, offset: handle.offset) {
                wanted.append((i, block, -1))
            } else {
                try checkDataHandle(handle)
                slots[handle.offset] = toRead.count
                wanted.append((i, nil, toRead.count))
                toRead.append(handle)
            }
        }
        if wanted.isEmpty { return results }

        var loaded: [Block] = []
        if !toRead.isEmpty {
            loaded = try readBlocks(toRead)
            if let cache {
                for block in loaded { cache.insert(fileNumber: fileNumber, offset: UInt64(block.fileOffset), block: block) }
            }
        }
        for (i, cached, slot) in wanted {
            guard let block = cached ?? (slot >= 0 && slot < loaded.count ? loaded[slot] : nil) else {
                throw StorageError(.internal, "multiGet on \(path): a block was not loaded")
            }
            results[i] = try userKeys[i].withBytes { (raw) throws(StorageError) in
                try withLookupScratch(raw, snapshot) { (target, _, dataKey) throws(StorageError) in
                    try withExtendedLifetime(block) { () throws(StorageError) in
                        try lookup(in: block.bytes, target: target, userKey: raw, keyBuffer: &dataKey, TableLookup.init)
                    }
                }
            }
        }
        return results
    }

    /// Reads data blocks (validated handles) with one batched read and checks each.
    func readBlocks(_ handles: [BlockHandle]) throws(StorageError) -> [Block] {
        var allocations: [UnsafeMutableRawPointer] = []
        var requests: [ReadRequest] = []
        allocations.reserveCapacity(handles.count)
        requests.reserveCapacity(handles.count)
        for handle in handles {
            let total = Int(handle.size) + TableFormat.blockTrailerSize
            let allocation = UnsafeMutableRawPointer.allocate(byteCount: total, alignment: 16)
            allocations.append(allocation)
            requests.append(ReadRequest(descriptor: file.descriptor, buffer: UnsafeMutableRawBufferPointer(start: allocation, count: total),
                                        offset: Int64(handle.offset)))
        }
        var taken = 0   // allocations[..<taken] now belong to blocks
        defer { for allocation in allocations[taken...] { allocation.deallocate() } }
        let counts: [Int]
        do {
            counts = try withExtendedLifetime(file) { () throws(IOError) in try backend.readBatch(requests) }
        } catch {
            throw StorageError(error, context: "reading \(handles.count) data blocks of table \(path)")
        }
        guard counts.count == handles.count else {
            throw StorageError(.internal, "readBatch returned \(counts.count) results for \(handles.count) reads")
        }
        var blocks: [Block] = []
        blocks.reserveCapacity(handles.count)
        for (j, handle) in handles.enumerated() {
            let size = Int(handle.size)
            let offset = Int64(handle.offset)
            guard counts[j] == size + TableFormat.blockTrailerSize else {
                throw .corruption("data block truncated (read \(counts[j]) of \(size + TableFormat.blockTrailerSize) bytes)", path: path, offset: offset)
            }
            try verifyBlockTrailer(allocations[j], size: size, path: path, offset: offset, what: "data")
            taken = j + 1
            blocks.append(try Block.make(taking: allocations[j], size: size, fileOffset: offset, path: path, what: "data"))
        }
        return blocks
    }

    // MARK: Iteration

    /// A new iterator over every entry, in internal-key order. With `fillCache` false, blocks
    /// it reads are not added to the block cache (scans and compactions).
    public func makeIterator(fillCache: Bool = true) -> TableIterator {
        TableIterator(reader: self, fillCache: fillCache)
    }
}

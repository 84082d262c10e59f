import ToonDBFormat
import ToonDBIO

/// Writes one SSTable front to back.
///
/// Entries must be added in strictly increasing internal-key order. Output is buffered in
/// chunks of ``TableOptions/writeChunkSize`` and handed to the backend's stream writer, which
/// keeps ``TableOptions/writeDepth`` writes in flight. Call ``finish(sync:)`` to complete the
/// table or ``abandon()`` to delete it. Not thread-safe: one builder is driven by one thread.
/// Syncing the directory that holds the new file is the caller's business.
public final class TableBuilder {
    /// The file being written.
    public let path: String
    private let options: TableOptions
    private let backend: any IOBackend
    private var file: TableFile?
    private var writer: (any StreamWriter)?

    /// The output not yet handed to the writer; the current data block is being built at its end.
    private var pending: [UInt8] = []
    /// Bytes handed to the writer so far.
    private var flushed: Int64 = 0

    // The current data block.
    private var blockStart = 0
    private var blockEntries = 0
    private var restarts: [UInt32] = []
    private var counter = 0

    /// The index block under construction (restart interval 1: every entry is a full key).
    private var index: [UInt8] = []
    private var indexRestarts: [UInt32] = []
    /// A finished data block whose index entry waits for the next key (to pick a short separator).
    private var pendingHandle: BlockHandle?
    private var separator: [UInt8] = []

    /// The last key added, and the hashes of the distinct user keys for the filter.
    private var lastKey: [UInt8] = []
    private var hashes: [UInt64] = []

    private var properties = TableProperties()
    private var failure: StorageError?
    private var closed = false

    /// Creates the file at `path` (failing if it exists).
    public init(path: String, backend: any IOBackend, options: TableOptions = TableOptions()) throws(StorageError) {
        guard options.blockSize >= 64, options.restartInterval >= 1, options.bloomBitsPerKey >= 0,
              options.writeDepth >= 1, options.writeChunkSize >= 4096 else {
            throw .invalidArgument("bad table options \(options)")
        }
        self.path = path
        self.backend = backend
        self.options = options
        do {
            let file = TableFile(try File.open(path, .createNew))
            self.file = file
            writer = try backend.makeStreamWriter(for: file.file, startingAt: 0, depth: options.writeDepth)
        } catch {
            closed = true   // deinit must not delete a file this builder did not create
            if file != nil { try? FileSystem.remove(path) }
            file = nil
            throw StorageError(error, context: "creating table \(path)")
        }
        pending.reserveCapacity(options.writeChunkSize + 2 * options.blockSize)
        restarts.reserveCapacity(options.blockSize / 32 + 1)
        lastKey.reserveCapacity(64)
        properties.minLSN = .max
    }

    deinit {
        if !closed { abandon() }
    }

    /// Bytes the file would have if finished now (data written and buffered, plus the index
    /// and filter built so far).
    public var estimatedFileSize: Int64 {
        flushed + Int64(pending.count) + Int64(index.count + 4 * indexRestarts.count)
            + Int64(hashes.count * options.bloomBitsPerKey / 8) + Int64(TableFormat.footerSize)
    }

    /// Entries added so far.
    public var entryCount: UInt64 { properties.entryCount }

    /// Adds an entry; `internalKey` is an encoded internal key greater than the previous one.
    public func add(_ internalKey: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(StorageError) {
        if let failure { throw failure }
        guard !closed else { throw StorageError(.internal, "table builder for \(path) is already finished") }
        let keyCount = internalKey.count
        guard keyCount >= 8 else { throw .invalidArgument("internal key of \(keyCount) bytes is shorter than its trailer") }
        let trailer = InternalKey.trailer(of: internalKey)
        let kind = UInt8(truncatingIfNeeded: trailer)
        guard kind <= ValueKind.value.rawValue else {
            throw .invalidArgument("internal key has unknown value kind \(kind)")
        }
        let userKey = InternalKey.userKey(internalKey)

        var newUserKey = true
        if properties.entryCount > 0 {
            let order = lastKey.withUnsafeBytes { last -> Int in
                let c = compareBytes(userKey, InternalKey.userKey(last))
                if c != 0 { return c }
                newUserKey = false
                let lastTrailer = InternalKey.trailer(of: last)
                return trailer < lastTrailer ? 1 : (trailer == lastTrailer ? 0 : -1)
            }
            guard order > 0 else {
                throw StorageError(.internal, "table \(path): key added out of order (entry \(properties.entryCount))")
            }
            if let handle = pendingHandle {
                addIndexEntry(handle, nextKey: internalKey)
                pendingHandle = nil
            }
        } else {
            properties.smallestKey = [UInt8](internalKey)
        }
        if newUserKey && options.bloomBitsPerKey > 0 { hashes.append(tableHash64(userKey)) }

        // Entry: shared | unshared | value length | key delta | value.
        var shared = 0
        if counter < options.restartInterval && blockEntries > 0 {
            shared = lastKey.withUnsafeBytes { commonPrefix($0, internalKey) }
        } else {
            restarts.append(UInt32(pending.count - blockStart))
            counter = 0
        }
        let unshared = keyCount - shared
        let valueCount = value.count
        if shared < 0x80 && unshared < 0x80 && valueCount < 0x80 {
            pending.append(UInt8(shared))
            pending.append(UInt8(unshared))
            pending.append(UInt8(valueCount))
        } else {
            pending.appendVarint(UInt64(shared))
            pending.appendVarint(UInt64(unshared))
            pending.appendVarint(UInt64(valueCount))
        }
        pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: internalKey[shared...]))
        pending.append(contentsOf: value)
        counter += 1
        blockEntries += 1

        if lastKey.count > shared { lastKey.removeLast(lastKey.count - shared) }
        lastKey.append(contentsOf: UnsafeRawBufferPointer(rebasing: internalKey[shared...]))

        let lsn = trailer >> 8
        properties.entryCount += 1
        if kind == ValueKind.deletion.rawValue { properties.deletionCount += 1 }
        if lsn < properties.minLSN { properties.minLSN = lsn }
        if lsn > properties.maxLSN { properties.maxLSN = lsn }
        properties.rawKeySize += UInt64(keyCount)
        properties.rawValueSize += UInt64(valueCount)

        if pending.count - blockStart + 4 * restarts.count + 4 >= options.blockSize {
            try finishDataBlock()
        }
    }

    /// Adds an entry from arrays (see ``add(_:_:)-(UnsafeRawBufferPointer,UnsafeRawBufferPointer)``).
    public func add(_ internalKey: [UInt8], _ value: [UInt8]) throws(StorageError) {
        try internalKey.withBytes { (key) throws(StorageError) in
            try value.withBytes { (value) throws(StorageError) in try add(key, value) }
        }
    }

    /// Closes the current data block: restarts, trailer, and (later) its index entry.
    private func finishDataBlock() throws(StorageError) {
        guard blockEntries > 0 else { return }
        for r in restarts { pending.appendFixed32(r) }
        pending.appendFixed32(UInt32(restarts.count))
        let size = pending.count - blockStart
        appendBlockTrailer(&pending, contentsFrom: blockStart)
        pendingHandle = BlockHandle(offset: UInt64(flushed) + UInt64(blockStart), size: UInt64(size))
        properties.dataBlockCount += 1
        restarts.removeAll(keepingCapacity: true)
        blockEntries = 0
        counter = 0
        if pending.count >= options.writeChunkSize { try flush() }
        blockStart = pending.count
    }

    private func flush() throws(StorageError) {
        guard !pending.isEmpty, let writer else { return }
        let chunk = pending
        pending = []
        pending.reserveCapacity(options.writeChunkSize + 2 * options.blockSize)
        do {
            try writer.append(chunk)
        } catch {
            let failure = StorageError(error, context: "writing table \(path)")
            self.failure = failure
            throw failure
        }
        flushed += Int64(chunk.count)
    }

    /// Adds the index entry of `handle`: a key >= the block's last key (`lastKey`) and < `nextKey`.
    private func addIndexEntry(_ handle: BlockHandle, nextKey: UnsafeRawBufferPointer?) {
        separator.removeAll(keepingCapacity: true)
        lastKey.withUnsafeBytes { last in
            if let nextKey { shortSeparator(last, nextKey, into: &separator) } else { separator.append(contentsOf: last) }
        }
        indexRestarts.append(UInt32(index.count))
        var value: [UInt8] = []
        handle.appendVarints(to: &value)
        index.appendVarint(0)
        index.appendVarint(UInt64(separator.count))
        index.appendVarint(UInt64(value.count))
        index.append(contentsOf: separator)
        index.append(contentsOf: value)
    }

    /// Completes the table: last data block, filter, properties, index and footer; waits for
    /// every write and fsyncs the file when `sync` is true. Returns the table's properties.
    @discardableResult
    public func finish(sync: Bool = true) throws(StorageError) -> TableProperties {
        if let failure { throw failure }
        guard !closed else { throw StorageError(.internal, "table builder for \(path) is already finished") }
        try finishDataBlock()
        if let handle = pendingHandle {
            addIndexEntry(handle, nextKey: nil)
            pendingHandle = nil
        }
        properties.dataSize = UInt64(flushed) + UInt64(pending.count)
        if properties.entryCount == 0 { properties.minLSN = 0 }
        properties.largestKey = properties.entryCount > 0 ? lastKey : []

        var footer = TableFooter(filter: BlockHandle(offset: 0, size: 0), properties: BlockHandle(offset: 0, size: 0),
                                 index: BlockHandle(offset: 0, size: 0), version: TableFormat.version)
        if options.bloomBitsPerKey > 0 && !hashes.isEmpty {
            let filter = BloomFilter.build(hashes: hashes, bitsPerKey: options.bloomBitsPerKey)
            hashes = []
            footer.filter = appendMetaBlock(filter)
            properties.filterSize = footer.filter.size
        }
        for r in indexRestarts { index.appendFixed32(r) }
        index.appendFixed32(UInt32(indexRestarts.count))
        properties.indexSize = UInt64(index.count)
        footer.properties = appendMetaBlock(properties.encode())
        footer.index = appendMetaBlock(index)
        footer.encode(into: &pending)
        properties.fileSize = flushed + Int64(pending.count)
        try flush()
        do {
            try writer?.finish(sync: sync)
        } catch {
            let failure = StorageError(error, context: "finishing table \(path)")
            self.failure = failure
            throw failure
        }
        writer = nil
        file = nil
        closed = true
        index = []
        return properties
    }

    private func appendMetaBlock(_ contents: [UInt8]) -> BlockHandle {
        let start = pending.count
        pending.append(contentsOf: contents)
        appendBlockTrailer(&pending, contentsFrom: start)
        return BlockHandle(offset: UInt64(flushed) + UInt64(start), size: UInt64(contents.count))
    }

    /// Stops building: waits for writes in flight, closes the file and deletes it.
    public func abandon() {
        guard !closed else { return }
        closed = true
        try? writer?.finish(sync: false)
        writer = nil
        file = nil
        try? FileSystem.remove(path)
        pending = []
        index = []
        hashes = []
    }
}

/// The length of the common prefix of `a` and `b`.
@inline(__always)
func commonPrefix(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let n = Swift.min(a.count, b.count)
    guard n > 0, let pa = a.baseAddress, let pb = b.baseAddress else { return 0 }
    var i = 0
    while i &+ 8 <= n {
        let x = pa.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ pb.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        if x != 0 { return i &+ (UInt64(littleEndian: x).trailingZeroBitCount >> 3) }
        i &+= 8
    }
    while i < n && pa.load(fromByteOffset: i, as: UInt8.self) == pb.load(fromByteOffset: i, as: UInt8.self) { i &+= 1 }
    return i
}

/// A short internal key `s` with `last <= s < next` (both internal keys, `last < next`).
/// When the user keys differ at a byte that can be incremented and stay below `next`'s,
/// `s` is that prefix, the incremented byte, and the largest trailer (the smallest internal
/// key of that user key); otherwise `s` is `last`.
func shortSeparator(_ last: UnsafeRawBufferPointer, _ next: UnsafeRawBufferPointer, into out: inout [UInt8]) {
    let lastUser = InternalKey.userKey(last)
    let nextUser = InternalKey.userKey(next)
    let shared = commonPrefix(lastUser, nextUser)
    if shared < Swift.min(lastUser.count, nextUser.count) && shared + 1 < lastUser.count {
        let byte = lastUser[shared]
        if byte < 0xFF && byte + 1 < nextUser[shared] {
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: lastUser[0..<shared]))
            out.append(byte + 1)
            out.appendFixed64(TableFormat.separatorTrailer)
            return
        }
    }
    out.append(contentsOf: last)
}

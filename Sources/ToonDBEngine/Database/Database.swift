import Atomics
import Logging
import ToonDBFormat
import ToonDBIO
import ToonDBTable
import ToonDBWAL

/// An embedded, log-structured key-value database with MVCC snapshot-isolation transactions.
///
/// ```swift
/// let db = try Database.open(path: "./data")
/// try db.put(Array("users/alice".utf8), Array("Alice".utf8))
/// let value = try db.get(Array("users/alice".utf8))
/// let lsn = try db.checkpoint()
/// try db.close()
/// ```
///
/// Concurrency: every method may be called from any thread. Writes are serialised through the
/// group-commit queue (one leader writes a whole group to the WAL with one sync); reads take a
/// snapshot (the last visible LSN) and never block writers.
///
/// Layout of a data directory: `LOCK`, `CURRENT`, `MANIFEST-n`, `wal/<first LSN>.wal`,
/// `tables/<n>.sst` (formats in docs/storage-format.md).
public final class Database: @unchecked Sendable {
    public let path: String
    public let options: DatabaseOptions
    let backend: any IOBackend
    let lock: DirectoryLock
    let versions: VersionSet
    let wal: WALWriter
    let tableCache: TableCache
    let rowCache: RowCache
    let snapshots = SnapshotRegistry()
    let commitQueue = CommitQueue()
    let picker: CompactionPicker
    let tableOptions: TableOptions
    var logger: Logger { options.logger }

    /// The last LSN whose writes are in the memtable and visible to new snapshots.
    let visibleLSN: ManagedAtomic<UInt64>
    let closed = ManagedAtomic<Bool>(false)
    let transactionIDs = ManagedAtomic<UInt64>(0)
    let commitCount = ManagedAtomic<Int>(0)
    let commitGroupCount = ManagedAtomic<Int>(0)

    /// Guards the fields below and is the condition writers, the background thread and
    /// checkpoints wait on.
    let stateLock = ConditionLock()
    var memtable: Memtable
    var immutables: [Memtable] = []
    /// The last read view, and a count of memtable changes (both under the state lock).
    var cachedReadView: ReadView?
    var readViewGeneration = 0
    var backgroundError: StorageError?
    var shuttingDown = false
    var compactionRunning = false
    /// `compactAll` is running: the background thread only flushes meanwhile.
    var manualCompaction = false
    var flushesCompleted = 0
    var compactionsCompleted = 0
    var lastCheckpointLSN: LSN = 0
    var nextMemtableID: UInt64 = 1
    /// WAL segments holding LSNs >= this are kept (for followers); nil keeps nothing extra.
    var walRetentionFloor: LSN?
    var background: BackgroundThread?
    var syncer: BackgroundThread?

    // Used only by the group-commit leader.
    var lastAssignedLSN: LSN
    var conflicts = ConflictTracker()
    /// The WAL records of the commit being made, kept between commits to reuse its memory.
    var walRecords: [UInt8] = []
    /// Changed only inside a commit barrier, read only by the leader.
    var commitObservers: [ObserverRegistration] = []

    /// Opens (creating if allowed) the database in `path`.
    public static func open(path: String, options: DatabaseOptions = DatabaseOptions()) throws(StorageError) -> Database {
        guard !path.isEmpty else { throw .invalidArgument("database path is empty") }
        if !FileSystem.isDirectory(path) {
            guard options.createIfMissing else { throw StorageError(.invalidArgument, "no database at \(path)") }
            do { try FileSystem.createDirectory(path) } catch { throw StorageError(error, context: "creating the database directory") }
        }
        let backend: any IOBackend
        do { backend = try IOBackendSelector.make(options.ioBackend, logger: options.logger) } catch {
            throw StorageError(error, context: "starting the \(options.ioBackend.rawValue) I/O backend")
        }
        return try Database(path: path, options: options, backend: backend)
    }

    /// Opens with an explicit backend (fault-injection tests).
    public static func open(path: String, options: DatabaseOptions, backend: any IOBackend) throws(StorageError) -> Database {
        if !FileSystem.isDirectory(path) {
            guard options.createIfMissing else { throw StorageError(.invalidArgument, "no database at \(path)") }
            do { try FileSystem.createDirectory(path) } catch { throw StorageError(error, context: "creating the database directory") }
        }
        return try Database(path: path, options: options, backend: backend)
    }

    private init(path: String, options: DatabaseOptions, backend: any IOBackend) throws(StorageError) {
        try options.validate()
        self.path = path
        self.options = options
        self.backend = backend
        self.picker = CompactionPicker(options: options)
        var tableOptions = TableOptions()
        tableOptions.blockSize = options.blockSize
        tableOptions.bloomBitsPerKey = options.bloomBitsPerKey
        tableOptions.mapReads = options.tableMappedReads
        self.tableOptions = tableOptions
        lock = try DirectoryLock.acquire(directory: path)
        do throws(StorageError) {
            let blockCache = BlockCache(capacity: options.blockCacheSize)
            tableCache = TableCache(backend: backend, blockCache: blockCache, options: tableOptions, capacity: options.maxOpenTables)
            rowCache = RowCache(capacity: options.rowCacheSize)
            let isNew = !FileSystem.exists(path + "/CURRENT")
            versions = try VersionSet.open(directory: path, backend: backend, sink: TableDeleter(tableCache: tableCache), create: options.createIfMissing)
            if isNew { options.logger.info("created database", metadata: ["path": "\(path)"]) }

            // Replay the WAL above the flushed LSN into memtables.
            var memtable = Memtable(id: 0)
            var recoveredTables: [VersionEdit.NewTable] = []
            let flushed = versions.flushedLSN
            let tableDir = path
            let recoveryOptions = tableOptions
            let versionSet = versions
            // Records go into the memtable in groups, as commit groups do (their new keys'
            // searches interleaved), and are linked before the memtable is written out or used.
            var replayed: [(batch: WriteBatch, lsn: LSN)] = []
            func insertReplayed() {
                memtable.insert(replayed)
                memtable.linkPending()
                replayed.removeAll(keepingCapacity: true)
            }
            let outcome = try WALRecovery.replay(directory: path + "/wal", backend: backend, after: flushed) { (record) throws(StorageError) in
                replayed.append((try WriteBatch.decode(record.payload), record.lsn))
                guard replayed.count >= 256 else { return }
                insertReplayed()
                if memtable.memoryUsage >= options.memtableSize {
                    recoveredTables += try Self.writeLevel0(memtable, directory: tableDir, backend: backend, options: recoveryOptions,
                                                            newFileNumber: versionSet.newFileNumber)
                    memtable = Memtable(id: 0)
                }
            }
            insertReplayed()
            if outcome.truncatedBytes > 0 {
                options.logger.warning("truncated a torn WAL tail", metadata: ["bytes": "\(outcome.truncatedBytes)", "lastLSN": "\(outcome.lastLSN)"])
            }
            if !recoveredTables.isEmpty {
                var edit = VersionEdit()
                edit.added = recoveredTables
                edit.flushedLSN = recoveredTables.map(\.maxLSN).max()
                try versions.logAndApply(edit)
            }
            let lastLSN = max(outcome.lastLSN, versions.recoveredLastLSN, flushed)
            self.memtable = memtable
            self.lastAssignedLSN = lastLSN
            self.visibleLSN = ManagedAtomic(lastLSN)
            self.lastCheckpointLSN = versions.flushedLSN
            // Appending to the old tail is only right when its records end exactly at lastLSN.
            // They can end earlier: a power loss can take WAL records (never synced in sync
            // mode off) that were already flushed to tables. Then a new segment starts at
            // lastLSN + 1, and the old one is skipped by later recoveries as wholly flushed.
            let tail = outcome.nextLSNAfterTail == lastLSN + 1 ? outcome.tail : nil
            wal = try WALWriter(directory: path + "/wal", backend: backend, lastLSN: lastLSN, tail: tail,
                                options: WALWriter.Options(segmentSize: options.walSegmentSize, mappedAppends: options.walMappedAppends))
            do throws(StorageError) {
                try removeOrphanFiles()
            } catch {
                try? wal.close()  // before the lock goes: nothing may touch the files after it
                throw error
            }
            options.logger.info("opened database", metadata: [
                "path": "\(path)", "lastLSN": "\(lastLSN)", "replayed": "\(outcome.replayedRecords)", "io": "\(backend.kind.rawValue)",
            ])
        } catch {
            // Every stored property may be set by now, and then deinit runs even though init
            // throws: marked closed, it does not run close() on a database that never opened.
            closed.store(true, ordering: .releasing)
            lock.release()
            throw error
        }
        startBackgroundThreads()
    }

    /// Writes a memtable as level-0 tables (flush and recovery).
    static func writeLevel0(_ memtable: Memtable, directory: String, backend: any IOBackend, options: TableOptions,
                            newFileNumber: @escaping () -> UInt64, oldestSnapshot: LSN = 0) throws(StorageError) -> [VersionEdit.NewTable] {
        var writer = TableWriter(directory: directory, backend: backend, options: options, targetSize: .max, newFileNumber: newFileNumber)
        var filter = VersionFilter(oldestSnapshot: oldestSnapshot)
        let iterator = memtable.makeIterator()
        iterator.seekToFirst()
        do throws(StorageError) {
            while iterator.isValid {
                if filter.keep(iterator.key, isBottom: { _ in false }) {
                    try writer.add(iterator.key, iterator.value, level: 0)
                }
                iterator.next()
            }
            try writer.finishCurrent(level: 0)
        } catch {
            writer.abandon()
            throw error
        }
        return writer.outputs
    }

    /// Table files no version mentions (a crash between writing a table and logging it), and
    /// manifests other than the live one.
    private func removeOrphanFiles() throws(StorageError) {
        let live = Set(versions.current.allTables.map(\.number))
        let names: [String]
        do { names = try FileSystem.listDirectory(path + "/tables") } catch { throw StorageError(error, context: "listing tables") }
        for name in names where name.hasSuffix(".sst") {
            if let number = UInt64(name.dropLast(4)), !live.contains(number) {
                try? FileSystem.remove(path + "/tables/" + name)
            }
        }
        for name in try versions.staleManifests() { try? FileSystem.remove(path + "/" + name) }
    }

    // MARK: - Lifecycle

    /// Throws ``StorageError/Code/databaseClosed`` once ``close()`` has begun (for layers above
    /// the engine that hold work of their own, such as the C ABI's scans and index policies).
    public func checkOpen() throws(StorageError) {
        if closed.load(ordering: .acquiring) { throw StorageError(.databaseClosed, "the database at \(path) is closed") }
    }

    public var isClosed: Bool { closed.load(ordering: .acquiring) }

    /// Finishes in-flight commits, stops background work, syncs the WAL and releases the
    /// directory. Later calls on this handle fail with ``StorageError/Code/databaseClosed``.
    /// Calling it again does nothing.
    public func close() throws(StorageError) {
        guard closed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        // Everything queued before this barrier commits; anything after sees `closed`.
        _ = try? commitQueue.submit(CommitRequest(barrier: { () throws(StorageError) in }, bypassClosed: true), leader: self)
        var failure: StorageError?
        if !options.walEnabled {
            // The memtable is the only copy of recent commits: write it to a table first.
            do { _ = try makeCheckpoint(closing: true) } catch { failure = error }
        }
        stateLock.withLock {
            shuttingDown = true
            stateLock.broadcast()
        }
        background?.join()
        syncer?.join()
        do { try wal.close() } catch { failure = failure ?? error }
        lock.release()
        options.logger.info("closed database", metadata: ["path": "\(path)"])
        if let failure { throw failure }
    }

    deinit {
        if !closed.load(ordering: .acquiring) { try? close() }
    }

    // MARK: - Reads

    /// The memtables and tables a read consults, pinned for the read's duration. Memtables are
    /// captured before the version: a flush installs its table before dropping the memtable,
    /// so this order never misses data (at worst it sees both).
    final class ReadView: @unchecked Sendable {
        let memtables: [Memtable]  // newest first
        let version: Version
        init(memtables: [Memtable], version: Version) {
            self.memtables = memtables
            self.version = version
        }
    }

    /// The memtables (read under the state lock) and then the current version: in that order,
    /// so a flush that installs a table and then drops its memtable is never seen half done.
    /// The last view is reused while neither changes, so a point read allocates none.
    func readView() -> ReadView {
        let (cached, memtables, generation) = stateLock.withLock { () -> (ReadView?, [Memtable]?, Int) in
            if let view = cachedReadView { return (view, nil, readViewGeneration) }
            return (nil, [memtable] + immutables.reversed(), readViewGeneration)
        }
        let version = versions.current
        if let cached, cached.version === version { return cached }
        let view = ReadView(memtables: memtables ?? cached!.memtables, version: version)
        stateLock.withLock { if readViewGeneration == generation { cachedReadView = view } }
        return view
    }

    /// Has the writer link the active memtable's waiting nodes (``Memtable/insert(_:)``), so
    /// a walk of the list finds every version committed before this call: at once when no
    /// commit is under way, else as a barrier behind the queued commits. Checkpoints and
    /// memtable switches link them too, so only the active memtable can have any.
    func linkPendingWrites() {
        guard stateLock.withLock({ memtable.hasUnlinked }) else { return }
        let link = { [unowned self] in self.stateLock.withLock { self.memtable }.linkPending() }
        if commitQueue.commitAlone(link) != nil { return }
        _ = try? commitQueue.submit(CommitRequest(barrier: { () throws(StorageError) in link() }, bypassClosed: true), leader: self)
    }

    /// Forgets the cached read view after the memtables or the version changed (state lock held).
    func dropCachedReadView() {
        cachedReadView = nil
        readViewGeneration &+= 1
    }

    /// Makes `edit` durable and current, and lets go of the cached read view, which would
    /// otherwise keep the replaced tables (and their files) until the next read.
    func install(_ edit: VersionEdit) throws(StorageError) {
        try versions.logAndApply(edit)
        stateLock.withLock { dropCachedReadView() }
    }

    /// The snapshot new reads use: everything committed and acknowledged so far.
    public var currentSnapshot: LSN { visibleLSN.load(ordering: .acquiring) }

    static func validateKey(_ key: [UInt8]) throws(StorageError) { try validateKeySize(key.count) }

    static func validateKeySize(_ count: Int) throws(StorageError) {
        if count == 0 { throw .invalidArgument("key must not be empty") }
        if count > DatabaseOptions.maxKeySize {
            throw StorageError(.keyTooLarge, "key of \(count) bytes exceeds the \(DatabaseOptions.maxKeySize)-byte limit")
        }
    }

    func validateValue(_ value: [UInt8]) throws(StorageError) { try validateValueSize(value.count) }

    func validateValueSize(_ count: Int) throws(StorageError) {
        if count > options.maxValueSize {
            throw StorageError(.valueTooLarge, "value of \(count) bytes exceeds the \(options.maxValueSize)-byte limit")
        }
    }

    /// The value of `key`, or nil when it is missing or deleted.
    public func get(_ key: [UInt8]) throws(StorageError) -> [UInt8]? {
        try checkOpen()
        try Self.validateKey(key)
        return try lookup(key, snapshot: currentSnapshot)
    }

    /// Calls `body` with the current value of `key` (nil when missing or deleted), in place,
    /// without a copy: the buffer is valid only during the call. For servers and the C ABI,
    /// which copy the value straight into a reply or a caller's buffer.
    ///
    /// Inlinable, so callers in other modules get it specialized; the lookup itself is the
    /// non-generic ``visitValue(of:_:)`` (a generic there ran unspecialized across the module
    /// boundary, 10–15% slower per get).
    @inlinable
    public func withValue<R>(of key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) -> R) throws(StorageError) -> R {
        var result: R?
        try visitValue(of: key) { result = body($0) }
        return result!
    }

    /// Calls `body` exactly once with the current value of `key` (nil when missing or
    /// deleted), in place in a memtable node or a table block: valid only during the call.
    public func visitValue(of key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) -> Void) throws(StorageError) {
        try checkOpen()
        try Self.validateKeySize(key.count)
        let snapshot = currentSnapshot
        let view = readView()
        try withExtendedLifetime(view) { () throws(StorageError) in try visit(key, snapshot: snapshot, view: view, body) }
    }

    /// Calls `body` once with the value of `key` at `snapshot` in `view`, read in place, or nil.
    @inline(__always)
    private func visit(_ key: UnsafeRawBufferPointer, snapshot: LSN, view: ReadView,
                       _ body: (UnsafeRawBufferPointer?) -> Void) throws(StorageError) {
        for memtable in view.memtables {
            switch memtable.find(key, snapshot: snapshot) {
            case .notFound: continue
            case .deleted: return body(nil)
            case .value(let node, _): return body(Memtable.value(node))
            }
        }
        // The row cache answers for the version's tables as a whole, so only for a snapshot
        // that sees all of their entries.
        let version = view.version
        var miss: RowCache.Lookup?
        if snapshot >= version.maxLSN && rowCache.isEnabled {
            let lookup = rowCache.lookup(key, version: version.id, body)
            if lookup.hit { return }
            if lookup.admit { miss = lookup }
        }
        // The tables' answer, kept by the row cache first when it admitted the miss.
        func answer(_ value: UnsafeRawBufferPointer?) {
            if let miss { rowCache.insert(key, miss, value: value) }
            body(value)
        }
        var answered = false
        _ = try version.firstAnswer(for: key) { (table) throws(StorageError) -> Void? in
            try tableCache.reader(for: table).withLookup(key, snapshot: snapshot) { found in
                switch found {
                case .notFound: return
                case .value(let value, _): answer(value)
                case .deleted: answer(nil)
                }
                answered = true
            }
            return answered ? () : nil
        }
        if !answered { answer(nil) }
    }

    /// ``visitValue(of:_:)`` for several keys at one snapshot: `body(i, value)` for each key
    /// `i` in order, or `body(i, nil)` when it is missing or deleted. The memtable probes of
    /// the keys a few places ahead are prefetched, so their cache misses overlap (what a
    /// server does with a client's pipelined GETs).
    ///
    /// - Throws: ``StorageError`` when a key is empty or over the size limit (before any
    ///   `body` call), or when a table read fails (after the calls for the keys before it).
    public func visitValues(of keys: UnsafeBufferPointer<UnsafeRawBufferPointer>,
                            _ body: (Int, UnsafeRawBufferPointer?) -> Void) throws(StorageError) {
        try checkOpen()
        for key in keys { try Self.validateKeySize(key.count) }
        let snapshot = currentSnapshot
        let view = readView()
        try withExtendedLifetime(view) { () throws(StorageError) in
            for i in keys.indices {
                Self.prefetchMemtables(view, ahead: i, count: keys.count) { j, use in use(keys[j]) }
                try visit(keys[i], snapshot: snapshot, view: view) { body(i, $0) }
            }
        }
    }

    /// Before the memtable probe of key `i` of `count`: prefetches the index slots of key
    /// `i + 6` and the likely nodes of key `i + 3` (whose slots are in cache by now).
    /// `withKey(j, use)` calls `use` with key `j`.
    @inline(__always)
    private static func prefetchMemtables(_ view: ReadView, ahead i: Int, count: Int,
                                          _ withKey: (Int, (UnsafeRawBufferPointer) -> Void) -> Void) {
        for memtable in view.memtables {
            if i + 6 < count { withKey(i + 6) { memtable.prefetchFind($0, step: 0) } }
            if i + 3 < count { withKey(i + 3) { memtable.prefetchFind($0, step: 1) } }
        }
    }

    /// The value of `key` at `snapshot` (copied), or nil: ``visit(_:snapshot:view:_:)``, so
    /// point reads of transactions use the row cache too where their snapshot allows.
    func lookup(_ key: [UInt8], snapshot: LSN) throws(StorageError) -> [UInt8]? {
        let view = readView()
        var result: [UInt8]?
        try key.withBytes { (raw) throws(StorageError) in
            try withExtendedLifetime(view) { () throws(StorageError) in
                try visit(raw, snapshot: snapshot, view: view) { result = $0.map { [UInt8]($0) } }
            }
        }
        return result
    }

    /// The newest version of `key` with LSN <= `snapshot`.
    func newestVersion(_ key: [UInt8], snapshot: LSN, view: ReadView) throws(StorageError) -> VersionLookup {
        let found = memtableVersion(key, snapshot: snapshot, view: view)
        if case .notFound = found {} else { return found }
        return try tableVersion(key, snapshot: snapshot, view: view)
    }

    /// The newest version of `key` with LSN <= `snapshot` in the view's tables, in search order.
    func tableVersion(_ key: [UInt8], snapshot: LSN, view: ReadView) throws(StorageError) -> VersionLookup {
        try key.withBytes { (raw) throws(StorageError) in try tableVersion(raw, snapshot: snapshot, view: view) }
    }

    func tableVersion(_ key: UnsafeRawBufferPointer, snapshot: LSN, view: ReadView) throws(StorageError) -> VersionLookup {
        let found = try view.version.firstAnswer(for: key) { (table) throws(StorageError) -> VersionLookup? in
            switch try tableCache.reader(for: table).get(key, snapshot: snapshot) {
            case .notFound: return nil
            case .value(let value, let lsn): return .value(value, lsn: lsn)
            case .deleted(let lsn): return .deleted(lsn: lsn)
            }
        }
        return found ?? .notFound
    }

    /// The newest version of `key` with LSN <= `snapshot` in the view's memtables, newest first.
    func memtableVersion(_ key: [UInt8], snapshot: LSN, view: ReadView) -> VersionLookup {
        for memtable in view.memtables {
            let found = memtable.get(key, snapshot: snapshot)
            if case .notFound = found { continue }
            return found
        }
        return .notFound
    }

    /// Values for several keys from one snapshot (nil for missing ones).
    ///
    /// Keys the memtables do not settle are looked up table by table in search order, each
    /// table answering all of its keys with one `multiGet`, which fetches the uncached blocks
    /// in one batch (several reads in flight on io_uring).
    public func getMany(_ keys: [[UInt8]]) throws(StorageError) -> [[UInt8]?] {
        try checkOpen()
        for key in keys { try Self.validateKey(key) }
        let snapshot = currentSnapshot
        let view = readView()
        var result = [[UInt8]?](repeating: nil, count: keys.count)
        // For each unsettled key, the tables still to search, in order.
        var pending: [(index: Int, tables: ArraySlice<FileMetadata>)] = []
        for (index, key) in keys.enumerated() {
            Self.prefetchMemtables(view, ahead: index, count: keys.count) { j, use in keys[j].withUnsafeBytes(use) }
            switch memtableVersion(key, snapshot: snapshot, view: view) {
            case .value(let value, _): result[index] = value
            case .deleted: break
            case .notFound:
                let tables = view.version.tables(for: key)
                if !tables.isEmpty { pending.append((index, tables[...])) }
            }
        }
        while !pending.isEmpty {
            // One round: every pending key asks its next table; each table answers in one batch.
            var byTable: [UInt64: (table: FileMetadata, entries: [Int])] = [:]
            for (slot, entry) in pending.enumerated() {
                let table = entry.tables.first!
                byTable[table.number, default: (table, [])].entries.append(slot)
            }
            var settled = [Bool](repeating: false, count: pending.count)
            for (_, group) in byTable {
                let answers = try tableCache.reader(for: group.table).multiGet(group.entries.map { keys[pending[$0].index] }, snapshot: snapshot)
                for (slot, answer) in zip(group.entries, answers) {
                    switch answer {
                    case .notFound: continue
                    case .value(let value, _): result[pending[slot].index] = value; settled[slot] = true
                    case .deleted: settled[slot] = true
                    }
                }
            }
            pending = pending.enumerated().compactMap { slot, entry in
                settled[slot] || entry.tables.count == 1 ? nil : (entry.index, entry.tables.dropFirst())
            }
        }
        return result
    }

    /// Streams pairs with `start <= key < end` (an empty `end` means no upper bound) in byte
    /// order, from one consistent snapshot.
    public func scan(from start: [UInt8] = [], to end: [UInt8] = []) throws(StorageError) -> ScanIterator {
        try checkOpen()
        return makeScan(start: start, end: end.isEmpty ? nil : end, snapshot: currentSnapshot)
    }

    /// Streams pairs whose key starts with `prefix`.
    public func scan(prefix: [UInt8]) throws(StorageError) -> ScanIterator {
        try checkOpen()
        return makeScan(start: prefix, end: prefixSuccessor(prefix), snapshot: currentSnapshot)
    }

    /// `snapshot` must have been loaded before the call (see ``linkPendingWrites()``).
    func makeScan(start: [UInt8], end: [UInt8]?, snapshot: LSN) -> ScanIterator {
        linkPendingWrites()
        let view = readView()
        var children: [any InternalIterator] = view.memtables.map { $0.makeIterator() }
        let cache = tableCache
        for table in view.version.levels[0] {
            children.append(LazyTableIterator(table: table, cache: cache))
        }
        for level in 1..<view.version.levels.count where !view.version.levels[level].isEmpty {
            children.append(LevelIterator(tables: view.version.levels[level]) { (table) throws(StorageError) in
                try cache.reader(for: table).makeIterator()
            })
        }
        return ScanIterator(input: MergingIterator(children), snapshot: snapshot, start: start, end: end, pinned: view)
    }
}

/// Opens a table's iterator on first use, so building a scan does no I/O.
final class LazyTableIterator: InternalIterator {
    private let table: FileMetadata
    private let cache: TableCache
    private var iterator: (any InternalIterator)?

    init(table: FileMetadata, cache: TableCache) {
        self.table = table
        self.cache = cache
    }

    private func opened() throws(StorageError) -> any InternalIterator {
        if let iterator { return iterator }
        let made = try cache.reader(for: table).makeIterator()
        iterator = made
        return made
    }

    var isValid: Bool { iterator?.isValid ?? false }
    func seekToFirst() throws(StorageError) { try opened().seekToFirst() }
    func seek(_ target: [UInt8]) throws(StorageError) { try opened().seek(target) }
    func next() throws(StorageError) { try opened().next() }
    var key: UnsafeRawBufferPointer { iterator!.key }
    var value: UnsafeRawBufferPointer { iterator!.value }
    var unwrapped: any InternalIterator { iterator ?? self }
}

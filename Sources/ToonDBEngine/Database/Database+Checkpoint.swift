import ToonDBFormat
import ToonDBIO

extension Database {
    /// Flushes the memtable to tables, makes the manifest durable and returns the LSN up to
    /// which everything lives in tables. WAL segments wholly at or below it are deleted unless
    /// the retention floor (``retainWAL(from:)``) still needs them.
    @discardableResult
    public func checkpoint() throws(StorageError) -> LSN {
        try checkOpen()
        return try makeCheckpoint(closing: false)
    }

    /// The body of ``checkpoint()``; `closing` lets ``close()`` run it after the handle is
    /// marked closed (to flush a database whose WAL is disabled).
    func makeCheckpoint(closing: Bool) throws(StorageError) -> LSN {
        var switchedAt: LSN = 0
        _ = try commitQueue.submit(CommitRequest(barrier: { [unowned self] () throws(StorageError) in
            switchedAt = self.lastAssignedLSN
            self.stateLock.withLock { self.switchMemtable() }
            // Close the WAL segment here so the trim below can remove everything up to the LSN.
            try self.wal.rotateIfNotEmpty()
        }, bypassClosed: closing), leader: self)
        try waitForFlushes()
        if versions.flushedLSN < switchedAt {
            // Nothing was left in memory, but no flush recorded that yet.
            var edit = VersionEdit()
            edit.flushedLSN = switchedAt
            edit.lastLSN = switchedAt
            try install(edit)
        }
        try trimWAL()
        let lsn = max(switchedAt, versions.flushedLSN)
        stateLock.withLock { lastCheckpointLSN = max(lastCheckpointLSN, lsn) }
        return lsn
    }

    /// Writes a consistent copy of the database to `directory` (which must not exist or be
    /// empty) and returns the LSN it holds: tables are hard-linked (copied across file systems),
    /// a fresh manifest describes them, and there is no WAL. Opening the copy gives the
    /// database as of that LSN; a follower can be seeded from it and catch up from the LSN.
    @discardableResult
    public func checkpoint(to directory: String) throws(StorageError) -> LSN {
        _ = try checkpoint()
        if FileSystem.exists(directory) {
            let entries: [String]
            do { entries = try FileSystem.listDirectory(directory) } catch { throw StorageError(error, context: "checking the checkpoint directory") }
            guard entries.isEmpty else { throw .invalidArgument("checkpoint directory \(directory) is not empty") }
        }
        // The version and its flushed LSN are read together, so the copy is exactly that LSN.
        let (version, flushed, epoch) = versions.snapshotForCopy()
        do {
            try FileSystem.createDirectory(directory + "/tables")
            for table in version.allTables {
                let target = VersionSet.tablePath(directory, table.number)
                do { try FileSystem.hardLink(table.path, at: target) } catch {
                    try copyFile(table.path, to: target)
                }
            }
        } catch { throw StorageError(error, context: "writing checkpoint \(directory)") }
        try VersionSet.writeCopy(of: version, flushedLSN: flushed, epoch: epoch, to: directory, backend: backend)
        return flushed
    }

    private func copyFile(_ source: String, to target: String) throws(IOError) {
        let bytes = try FileSystem.readAll(source, backend: backend)
        let file = try File.open(target, .createNew)
        try bytes.withBytes { (raw) throws(IOError) in try backend.write(file, raw, at: 0) }
        try backend.sync(file, dataOnly: false)
    }

    /// Keeps WAL segments holding LSNs >= `lsn` (for followers catching up); nil releases it.
    public func retainWAL(from lsn: LSN?) {
        stateLock.withLock { walRetentionFloor = lsn }
    }

    /// The oldest LSN still in the WAL (a follower asking for older records needs a checkpoint).
    public var oldestWALLSN: LSN { wal.oldestLSN }

    // MARK: - Stats

    public func stats() -> DatabaseStats {
        let version = versions.current
        let (memBytes, immutableCount, immutableBytes, flushes, compactions, checkpointLSN, error) = stateLock.withLock {
            (memtable.memoryUsage, immutables.count, immutables.reduce(0) { $0 + $1.memoryUsage }, flushesCompleted,
             compactionsCompleted, lastCheckpointLSN, backgroundError ?? wal.poisonedError)
        }
        let cache = tableCache.blockCache
        let rows = rowCache.statistics
        return DatabaseStats(
            memtableBytes: memBytes + immutableBytes,
            immutableMemtables: immutableCount,
            walBytes: wal.totalBytes,
            walSegments: wal.segmentCount,
            levels: version.levels.enumerated().map { DatabaseStats.Level(level: $0.offset, tables: $0.element.count, bytes: version.bytes(atLevel: $0.offset)) },
            pendingCompactionBytes: picker.pendingBytes(version),
            compactionsCompleted: compactions,
            flushesCompleted: flushes,
            commits: commitCount.load(ordering: .relaxed),
            commitGroups: commitGroupCount.load(ordering: .relaxed),
            blockCacheHits: cache.hits,
            blockCacheMisses: cache.misses,
            blockCacheBytes: cache.usage,
            rowCacheHits: rows.hits,
            rowCacheMisses: rows.misses,
            rowCacheBytes: rows.bytes,
            lastLSN: currentSnapshot,
            lastCheckpointLSN: checkpointLSN,
            flushedLSN: versions.flushedLSN,
            activeTransactions: snapshots.activeCount,
            oldestActiveSnapshot: snapshots.oldestActive,
            ioBackend: backend.kind.rawValue,
            syncMode: options.syncMode.rawValue,
            writeError: error?.message)
    }
}

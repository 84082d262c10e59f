import ToonDBFormat
import ToonDBIO

extension Database {
    func startBackgroundThreads() {
        if options.backgroundWork {
            background = BackgroundThread(name: "toondb-bg") { [unowned self] in self.backgroundLoop() }
        }
        if options.syncMode == .normal {
            syncer = BackgroundThread(name: "toondb-sync") { [unowned self] in self.syncLoop() }
        }
    }

    /// Sync mode `normal`: fsync the WAL every `syncInterval` while open.
    private func syncLoop() {
        stateLock.lock()
        while !shuttingDown {
            stateLock.wait(seconds: options.syncInterval)
            if shuttingDown { break }
            stateLock.unlock()
            do { try wal.syncIfNeeded() } catch { logger.error("WAL sync failed", metadata: ["error": "\(error)"]) }
            stateLock.lock()
        }
        stateLock.unlock()
    }

    /// Flushes memtables first (writers may be waiting on them), then compacts while any level
    /// needs it. A failure is recorded (writers then fail fast instead of waiting) and retried
    /// after a pause; success clears it.
    private func backgroundLoop() {
        stateLock.lock()
        while !shuttingDown {
            let hasFlush = !immutables.isEmpty
            let compaction = hasFlush || manualCompaction ? nil : picker.pick(versions.current, pointer: versions.compactionPointer)
            if !hasFlush && compaction == nil {
                stateLock.wait()
                continue
            }
            compactionRunning = compaction != nil
            stateLock.unlock()
            var failure: StorageError?
            do {
                if hasFlush { try flushOldestImmutable() } else if let compaction { try runCompaction(compaction) }
            } catch {
                failure = error
            }
            stateLock.lock()
            compactionRunning = false
            if let failure, failure.code == .databaseClosed && shuttingDown {
                // A compaction cut short by close: nothing failed (it reruns after reopen).
                logger.debug("background compaction stopped by close")
                stateLock.broadcast()
            } else if let failure {
                logger.error("background \(hasFlush ? "flush" : "compaction") failed", metadata: ["error": "\(failure)"])
                if hasFlush { backgroundError = failure }
                stateLock.broadcast()
                if !shuttingDown { stateLock.wait(seconds: 1) }
            } else {
                if hasFlush { backgroundError = nil }
                stateLock.broadcast()
            }
        }
        stateLock.unlock()
    }

    /// Writes the oldest immutable memtable to a level-0 table and drops it.
    func flushOldestImmutable() throws(StorageError) {
        guard let memtable = stateLock.withLock({ immutables.first }) else { return }
        let oldest = snapshots.oldest { self.visibleLSN.load(ordering: .acquiring) }
        let outputs = try Self.writeLevel0(memtable, directory: path, backend: backend, options: tableOptions,
                                          newFileNumber: versions.newFileNumber, oldestSnapshot: oldest)
        var edit = VersionEdit()
        edit.added = outputs
        edit.flushedLSN = memtable.maxLSN
        edit.lastLSN = memtable.maxLSN
        do {
            try install(edit)
        } catch {
            // The tables were never made live: remove them rather than leak disk on every retry.
            for table in outputs { try? FileSystem.remove(VersionSet.tablePath(path, table.number)) }
            throw error
        }
        stateLock.withLock {
            immutables.removeFirst()
            dropCachedReadView()
            flushesCompleted += 1
            stateLock.broadcast()
        }
        try trimWAL()
    }

    /// Deletes WAL segments whose records are all in tables, keeping what retention asks for.
    func trimWAL() throws(StorageError) {
        var through = versions.flushedLSN
        if let floor = stateLock.withLock({ walRetentionFloor }) { through = min(through, floor &- 1) }
        if through > 0 { try wal.removeSegments(throughLSN: through) }
    }

    /// Merges a compaction's inputs into new tables one level down.
    func runCompaction(_ compaction: Compaction) throws(StorageError) {
        var edit = VersionEdit()
        for table in compaction.inputs { edit.deleted.append((compaction.level, table.number)) }
        if let last = compaction.inputs.map(\.largest).max(by: { a, b in a.withUnsafeBytes { x in b.withUnsafeBytes { InternalKey.compare(x, $0) < 0 } } }) {
            edit.compactionPointers.append((compaction.level, last))
        }
        if compaction.isTrivialMove {
            for t in compaction.inputs {
                edit.added.append(t.manifestEntry(level: compaction.outputLevel))
            }
            try install(edit)
            stateLock.withLock { compactionsCompleted += 1 }
            return
        }
        for table in compaction.overlaps { edit.deleted.append((compaction.outputLevel, table.number)) }

        let version = versions.current
        let cache = tableCache
        let open = { (table: FileMetadata) throws(StorageError) -> any InternalIterator in try cache.reader(for: table).makeIterator() }
        var children: [any InternalIterator] = []
        if compaction.level == 0 {
            for table in compaction.inputs { children.append(try open(table)) }
        } else {
            children.append(LevelIterator(tables: compaction.inputs, open: open))
        }
        children.append(LevelIterator(tables: compaction.overlaps, open: open))
        let merged = MergingIterator(children)
        var filter = VersionFilter(oldestSnapshot: snapshots.oldest { self.visibleLSN.load(ordering: .acquiring) })
        var writer = TableWriter(directory: path, backend: backend, options: tableOptions, targetSize: options.targetTableSize,
                                 newFileNumber: versions.newFileNumber)
        let outputLevel = compaction.outputLevel
        let isBottom = { (userKey: [UInt8]) -> Bool in
            userKey.withUnsafeBytes { key in
                for level in (outputLevel + 1)..<VersionSet.levelCount where version.levels[level].contains(where: { $0.covers(key) }) {
                    return false
                }
                return true
            }
        }
        do throws(StorageError) {
            try merged.seekToFirst()
            while merged.isValid {
                if shuttingDownNow { throw StorageError(.databaseClosed, "compaction interrupted by close") }
                if filter.keep(merged.key, isBottom: isBottom) {
                    try writer.add(merged.key, merged.value, level: outputLevel)
                }
                try merged.next()
            }
            try writer.finishCurrent(level: outputLevel)
            edit.added = writer.outputs
            try install(edit)
        } catch {
            writer.abandon()
            throw error
        }
        stateLock.withLock { compactionsCompleted += 1 }
    }

    private var shuttingDownNow: Bool { stateLock.withLock { shuttingDown } }

    // MARK: - Manual control (tools and tests)

    /// Switches the memtable and waits until every memtable is in a table.
    public func flush() throws(StorageError) {
        try checkOpen()
        _ = try commitQueue.submit(CommitRequest(barrier: { [unowned self] () throws(StorageError) in
            self.stateLock.withLock { self.switchMemtable() }
        }), leader: self)
        try waitForFlushes()
    }

    func waitForFlushes() throws(StorageError) {
        if !options.backgroundWork {
            while stateLock.withLock({ !immutables.isEmpty }) { try flushOldestImmutable() }
            return
        }
        stateLock.lock()
        defer { stateLock.unlock() }
        while !immutables.isEmpty {
            if let error = backgroundError { throw StorageError(.writesStopped, "flush failed: \(error.message)") }
            if shuttingDown { throw StorageError(.databaseClosed, "the database at \(path) is closed") }
            stateLock.wait(seconds: 1)
        }
    }

    /// Flushes, then compacts every level into the next until each non-empty level has been
    /// merged down once (used by tests and the `compact` command).
    public func compactAll() throws(StorageError) {
        try flush()
        // Keep the background thread out of compaction meanwhile, and wait for its current one.
        try stateLock.withLock { () throws(StorageError) in
            while manualCompaction || compactionRunning {
                if shuttingDown { throw StorageError(.databaseClosed, "the database at \(path) is closed") }
                stateLock.wait(seconds: 0.1)
            }
            manualCompaction = true
        }
        defer { stateLock.withLock { manualCompaction = false; stateLock.broadcast() } }
        for level in 0..<(VersionSet.levelCount - 1) {
            try checkOpen()
            let version = versions.current
            guard !version.levels[level].isEmpty else { continue }
            // The whole level, with everything it overlaps below.
            let inputs = version.levels[level]
            let overlaps: [FileMetadata]
            if level == 0 {
                overlaps = picker.compaction(at: 0, in: version, pointer: [])?.overlaps ?? []
            } else {
                overlaps = version.levels[level + 1]
            }
            try runCompaction(Compaction(level: level, inputs: inputs, overlaps: overlaps))
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
import ToonDBEngine
import ToonDBIO
import ToonDBTestSupport

/// Disk-full and I/O errors injected under a live database: what fails, with which error,
/// and that nothing acknowledged is ever lost (and nothing failed ever appears) after reopen.
@Suite("Fault injection", .serialized)
struct FaultInjectionTests {
    /// What the test expects the database to hold: acknowledged writes, and keys whose
    /// writes failed (which must read as absent).
    struct Ledger {
        var acked: [[UInt8]: [UInt8]] = [:]
        var failed: Set<[UInt8]> = []
        var lastLSN: LSN = 0

        var expected: [[UInt8]: [UInt8]?] {
            var result: [[UInt8]: [UInt8]?] = [:]
            for key in failed { result[key] = .some(nil) }
            for (key, value) in acked { result[key] = value }
            return result
        }

        /// Puts `key`; returns the error when the put failed.
        mutating func put(_ db: Database, _ key: [UInt8], _ value: [UInt8]) -> StorageError? {
            do {
                lastLSN = try db.put(key, value)
                acked[key] = value
                failed.remove(key)
                return nil
            } catch {
                if acked[key] == nil { failed.insert(key) }
                return error
            }
        }
    }

    static func faultyOpen(_ path: String, _ options: DatabaseOptions) throws -> (Database, FaultInjectingBackend) {
        let faults = FaultInjectingBackend(wrapping: POSIXBackend())
        return (try Database.open(path: path, options: options, backend: faults), faults)
    }

    static func key(_ label: String, _ i: Int) -> [UInt8] { Array("\(label)-\(i)".utf8) }

    /// A database in `dir` behind a fault injector, holding 20 acknowledged puts "ok-0"...
    static func openWithTwentyWrites(_ dir: TemporaryDirectory, mode: SyncMode, mappedAppends: Bool) throws
        -> (DatabaseOptions, Database, FaultInjectingBackend, Ledger) {
        var options = testOptions(memtable: 8 << 20)
        options.syncMode = mode
        options.walMappedAppends = mappedAppends
        let (db, faults) = try faultyOpen(dir.path, options)
        var ledger = Ledger()
        for i in 0..<20 { let error = ledger.put(db, key("ok", i), DataDirectory.value(i)); #expect(error == nil) }
        return (options, db, faults, ledger)
    }

    @Test("ENOSPC on mapped WAL appends: commits fill the reserved space, then fail with .diskFull; nothing acknowledged is lost",
          arguments: [SyncMode.off, .full])
    func walDiskFullMapped(mode: SyncMode) throws {
        let dir = TemporaryDirectory("toondb-faults")
        let (options, db, faults, ledger0) = try Self.openWithTwentyWrites(dir, mode: mode, mappedAppends: true)
        var ledger = ledger0

        faults.inject(.init(writeErrno: ENOSPC, pathFilter: "/wal/"))
        // The open segment's reservation still takes commits; the next reservation (or the
        // next segment) meets the full disk. Bounded: a 64 KiB segment holds far fewer.
        var failure: StorageError?
        var accepted = 0
        for i in 0..<10_000 {
            failure = ledger.put(db, Self.key("full", i), DataDirectory.value(i))
            if failure != nil { break }
            accepted += 1
        }
        #expect(failure?.code == .diskFull)
        #expect(failure?.message.contains("No space left on device") == true, "\(failure?.message ?? "")")
        #expect(accepted > 0, "the reserved space took commits")
        #expect(try DataDirectory.mismatches(db, ledger.expected).isEmpty)
        #expect(db.stats().writeError == nil, "nothing was written, nothing is stopped")

        faults.heal()
        for i in 20..<30 { let error = ledger.put(db, Self.key("ok", i), DataDirectory.value(i)); #expect(error == nil) }
        try db.close()
        let reopened = try Database.open(path: dir.path, options: options)
        #expect(try DataDirectory.mismatches(reopened, ledger.expected).isEmpty)
        #expect(reopened.stats().lastLSN == ledger.lastLSN)
        try reopened.close()
    }

    @Test("ENOSPC on written WAL appends: the commit fails with .diskFull, nothing is poisoned, and commits resume after heal",
          arguments: [SyncMode.off, .full])
    func walDiskFull(mode: SyncMode) throws {
        let dir = TemporaryDirectory("toondb-faults")
        let (options, db, faults, ledger0) = try Self.openWithTwentyWrites(dir, mode: mode, mappedAppends: false)
        var ledger = ledger0
        #expect(ledger.lastLSN == 20)

        faults.inject(.init(writeErrno: ENOSPC, pathFilter: "/wal/"))
        let putError = ledger.put(db, Self.key("full", 0), DataDirectory.value(0))
        #expect(putError?.code == .diskFull)
        #expect(putError?.message.contains("No space left on device") == true, "\(putError?.message ?? "")")
        #expect(putError?.message.contains("WAL") == true)

        var batch = WriteBatch()
        batch.put(Self.key("full", 1), [1])
        batch.delete(Self.key("ok", 0))
        var batchError: StorageError?
        do { try db.write(batch) } catch { batchError = error }
        #expect(batchError?.code == .diskFull)
        ledger.failed.insert(Self.key("full", 1))

        let txn = try db.beginTransaction()
        try txn.put(Self.key("full", 2), [2])
        var commitError: StorageError?
        do { try txn.commit() } catch { commitError = error }
        #expect(commitError?.code == .diskFull)
        #expect(txn.status == .aborted)
        ledger.failed.insert(Self.key("full", 2))

        #expect(try DataDirectory.mismatches(db, ledger.expected).isEmpty, "reads during the fault see acknowledged data only")
        #expect(db.stats().writeError == nil, "a cut-back write failure does not stop the database")
        #expect(db.stats().lastLSN == 20)

        faults.heal()
        for i in 20..<30 { let error = ledger.put(db, Self.key("ok", i), DataDirectory.value(i)); #expect(error == nil) }
        #expect(ledger.lastLSN == 30, "failed commits consumed no LSNs")
        let rewrite = ledger.put(db, Self.key("full", 0), DataDirectory.value(0, round: 2))
        #expect(rewrite == nil, "the failed key can be written now")
        try db.close()

        let reopened = try Database.open(path: dir.path, options: options)
        #expect(try DataDirectory.mismatches(reopened, ledger.expected).isEmpty)
        #expect(try reopened.get(Self.key("ok", 0)) == DataDirectory.value(0), "the failed batch's delete was not applied")
        #expect(reopened.stats().lastLSN == 31)
        try reopened.close()
    }

    @Test("EIO on the WAL sync (syncMode .full): the commit fails, later commits fail with .writesStopped until reopen")
    func walSyncFailure() throws {
        let dir = TemporaryDirectory("toondb-faults")
        var options = testOptions(memtable: 8 << 20)
        options.syncMode = .full
        let (db, faults) = try Self.faultyOpen(dir.path, options)
        var ledger = Ledger()
        for i in 0..<20 { let error = ledger.put(db, Self.key("ok", i), DataDirectory.value(i)); #expect(error == nil) }

        faults.inject(.init(syncErrno: EIO, pathFilter: "/wal/"))
        let syncError = ledger.put(db, Self.key("bad", 0), [0])
        #expect(syncError?.code == .io)
        #expect(syncError?.message.contains("Input/output error") == true, "\(syncError?.message ?? "")")

        faults.heal()
        let stopped = ledger.put(db, Self.key("bad", 1), [1])
        #expect(stopped?.code == .writesStopped)
        #expect(stopped?.message.contains("reopen") == true)
        var batch = WriteBatch()
        batch.put(Self.key("bad", 2), [2])
        var batchError: StorageError?
        do { try db.write(batch) } catch { batchError = error }
        #expect(batchError?.code == .writesStopped)
        ledger.failed.insert(Self.key("bad", 2))
        let txn = try db.beginTransaction()
        try txn.put(Self.key("bad", 3), [3])
        var commitError: StorageError?
        do { try txn.commit() } catch { commitError = error }
        #expect(commitError?.code == .writesStopped)
        ledger.failed.insert(Self.key("bad", 3))

        #expect(db.stats().writeError != nil, "stats report why writes stopped")
        #expect(try DataDirectory.mismatches(db, ledger.expected).isEmpty, "reads still work")
        var closeError: StorageError?
        do { try db.close() } catch { closeError = error }
        #expect(db.isClosed)
        _ = closeError  // close may report the failed sync again; either way the handle is closed

        let reopened = try Database.open(path: dir.path, options: options)
        #expect(try DataDirectory.mismatches(reopened, ledger.expected).isEmpty)
        #expect(reopened.stats().lastLSN == 20)
        #expect(reopened.stats().writeError == nil)
        #expect(try reopened.put(Self.key("after", 0), [9]) == 21, "writes resume after reopen")
        try reopened.close()
    }

    @Test("an fsync that fails after the bytes reached the file: the failed commit must not reappear after reopen")
    func walSyncFailureAfterWrite() throws {
        let dir = TemporaryDirectory("toondb-faults")
        var options = testOptions(memtable: 8 << 20)
        options.syncMode = .full
        let backend = ScriptedFaultBackend(filter: "/wal/", mode: .syncFailsAfterWrite)
        let db = try Database.open(path: dir.path, options: options, backend: backend)
        var ledger = Ledger()
        for i in 0..<10 { let error = ledger.put(db, Self.key("ok", i), DataDirectory.value(i)); #expect(error == nil) }

        backend.arm()
        let error = ledger.put(db, Self.key("unsynced", 0), [0])
        #expect(error?.code == .io)
        #expect(!backend.isArmed, "the injected fsync failure happened")
        #expect(try db.get(Self.key("unsynced", 0)) == nil, "not visible in this handle")
        _ = try? db.close()

        let reopened = try Database.open(path: dir.path, options: options)
        #expect(try DataDirectory.mismatches(reopened, ledger.expected).isEmpty,
                "a commit reported as failed (.io) is present after reopen")
        #expect(reopened.stats().lastLSN == 10)
        try reopened.close()
    }

    /// A fault that makes a flush fail.
    enum FlushFault: String, CaseIterable, Sendable {
        case tableWriteENOSPC, manifestWriteENOSPC, tableSyncEIO

        var faults: FaultInjectingBackend.Faults {
            switch self {
            case .tableWriteENOSPC: return .init(writeErrno: ENOSPC, pathFilter: "/tables/")
            case .manifestWriteENOSPC: return .init(writeErrno: ENOSPC, pathFilter: "MANIFEST")
            case .tableSyncEIO: return .init(syncErrno: EIO, pathFilter: "/tables/")
            }
        }
        var filter: String { self == .manifestWriteENOSPC ? "MANIFEST" : "/tables/" }
        var reason: String { self == .tableSyncEIO ? "Input/output error" : "No space left on device" }
    }

    @Test("a table or manifest write failing under a flush: flush fails, writes stop with an error, and after heal nothing acknowledged is lost",
          arguments: FlushFault.allCases)
    func flushDiskFull(fault: FlushFault) throws {
        let filter = fault.filter
        let dir = TemporaryDirectory("toondb-faults")
        let options = testOptions()   // 64 KiB memtables
        let (db, faults) = try Self.faultyOpen(dir.path, options)
        var ledger = Ledger()
        for i in 0..<200 { let error = ledger.put(db, Self.key("ok", i), DataDirectory.value(i, size: 100)); #expect(error == nil) }
        try db.flush()
        let tablesBefore = db.stats().tableCount
        #expect(tablesBefore >= 1)
        for i in 200..<300 { let error = ledger.put(db, Self.key("ok", i), DataDirectory.value(i, size: 100)); #expect(error == nil) }

        faults.inject(fault.faults)
        var flushError: StorageError?
        do { try db.flush() } catch { flushError = error }
        #expect(flushError != nil)
        #expect(flushError?.code == .writesStopped || flushError?.code == .diskFull || flushError?.code == .io)
        #expect(flushError?.message.contains(fault.reason) == true, "\(flushError?.message ?? "")")

        // Writers fail fast (they do not wait forever) while the flush cannot proceed.
        let stalled = ledger.put(db, Self.key("stalled", 0), [1])
        #expect(stalled?.code == .writesStopped)
        #expect(db.stats().writeError != nil)
        #expect(try DataDirectory.mismatches(db, ledger.expected).isEmpty, "reads still see every acknowledged write")
        if filter == "/tables/" {
            let onDisk = try DataDirectory.tables(dir.path).count
            #expect(onDisk == db.stats().tableCount, "no partial table file is left behind")
        }

        faults.heal()
        var recovered = false
        for _ in 0..<100 where !recovered {
            // The background thread retries the flush about once a second.
            do {
                try db.flush()
                recovered = true
            } catch {
                usleep(100_000)
            }
        }
        #expect(recovered, "the flush succeeds once the disk has room")
        #expect(db.stats().writeError == nil)
        let after = ledger.put(db, Self.key("after", 0), [2])
        #expect(after == nil)
        try db.close()

        let reopened = try Database.open(path: dir.path, options: options)
        #expect(try DataDirectory.mismatches(reopened, ledger.expected).isEmpty)
        #expect(reopened.stats().lastLSN == ledger.lastLSN)
        let tableFiles = try DataDirectory.tables(dir.path).count
        #expect(tableFiles == reopened.stats().tableCount, "orphaned table files are gone after reopen")
        try reopened.close()
    }

    @Test("ENOSPC while a compaction writes its output: compactAll fails, leaves no partial table, and works after heal")
    func compactionDiskFull() throws {
        let dir = TemporaryDirectory("toondb-faults")
        let options = testOptions(memtable: 8 << 20)
        let (db, faults) = try Self.faultyOpen(dir.path, options)
        var ledger = Ledger()
        for round in 0..<3 {
            for i in 0..<100 {
                let error = ledger.put(db, Self.key("k", i), DataDirectory.value(i, size: 200, round: round))
                #expect(error == nil)
            }
            try db.flush()
        }
        #expect(db.stats().levels[0].tables == 3)
        let tablesBefore = try DataDirectory.tables(dir.path).sorted()

        faults.inject(.init(writeErrno: ENOSPC, pathFilter: "/tables/"))
        var compactError: StorageError?
        do { try db.compactAll() } catch { compactError = error }
        #expect(compactError?.code == .diskFull)
        #expect(try DataDirectory.tables(dir.path).sorted() == tablesBefore, "the failed output was removed, the inputs kept")
        #expect(db.stats().levels[0].tables == 3)
        #expect(try DataDirectory.mismatches(db, ledger.expected).isEmpty)

        faults.heal()
        try db.compactAll()
        #expect(db.stats().levels[0].tables == 0)
        #expect(try DataDirectory.mismatches(db, ledger.expected).isEmpty)
        try db.close()
        let reopened = try Database.open(path: dir.path, options: options)
        #expect(try DataDirectory.mismatches(reopened, ledger.expected).isEmpty)
        try reopened.close()
    }

    @Test("EIO reading a table: get and scan fail with .io (not corruption, no trap) and work again after heal")
    func tableReadError() throws {
        let dir = TemporaryDirectory("toondb-faults")
        let options = testOptions(memtable: 8 << 20)
        do {
            let db = try Database.open(path: dir.path, options: options)
            for i in 0..<100 { try db.put(DataDirectory.key(i), DataDirectory.value(i)) }
            try db.flush()
            try db.close()
        }
        let (db, faults) = try Self.faultyOpen(dir.path, options)   // a cold block cache
        faults.inject(.init(readErrno: EIO, pathFilter: "/tables/"))
        var getError: StorageError?
        do { _ = try db.get(DataDirectory.key(7)) } catch { getError = error }
        #expect(getError?.code == .io)
        #expect(getError?.message.contains("Input/output error") == true, "\(getError?.message ?? "")")
        let scan = DataDirectory.scanAll(db)
        var scanError: StorageError?
        if case .failure(let error) = scan { scanError = error }
        #expect(scanError?.code == .io)

        faults.heal()
        #expect(try db.get(DataDirectory.key(7)) == DataDirectory.value(7))
        let keys = try DataDirectory.scanAll(db).get()
        #expect(keys.count == 100)
        try db.close()
    }

    @Test("sync mode normal: a failing background WAL sync stops later commits with .writesStopped; acknowledged data survives")
    func backgroundSyncFailure() throws {
        let dir = TemporaryDirectory("toondb-faults")
        var options = testOptions(memtable: 8 << 20)
        options.syncMode = .normal
        options.syncInterval = 0.01
        let (db, faults) = try Self.faultyOpen(dir.path, options)
        var ledger = Ledger()
        for i in 0..<10 { let error = ledger.put(db, Self.key("ok", i), [UInt8(i)]); #expect(error == nil) }

        faults.inject(.init(syncErrno: EIO, pathFilter: "/wal/"))
        // Commits do not sync in this mode; keep committing until the syncer has failed.
        var stopped: StorageError?
        for i in 0..<2000 where stopped == nil {
            if let error = ledger.put(db, Self.key("late", i), [1]) { stopped = error } else { usleep(2000) }
        }
        #expect(stopped?.code == .writesStopped)
        #expect(db.stats().writeError != nil)
        faults.heal()
        _ = try? db.close()

        let reopened = try Database.open(path: dir.path, options: options)
        // Writes acknowledged before the failure were written (not synced): a process that
        // did not crash still has them.
        #expect(try DataDirectory.mismatches(reopened, ledger.expected).isEmpty)
        try reopened.close()
    }

    @Test("a flush whose manifest edit fails removes the table it wrote: retries do not pile up table files")
    func failedFlushLeavesNoTable() throws {
        let dir = TemporaryDirectory("toondb-faults")
        var options = testOptions()
        options.backgroundWork = false   // each flush() attempt runs inline
        let (db, faults) = try Self.faultyOpen(dir.path, options)
        var ledger = Ledger()
        for i in 0..<100 { let error = ledger.put(db, Self.key("ok", i), DataDirectory.value(i, size: 100)); #expect(error == nil) }

        faults.inject(.init(writeErrno: ENOSPC, pathFilter: "MANIFEST"))
        var failures = 0
        for _ in 0..<3 {
            do { try db.flush() } catch { failures += 1 }
        }
        #expect(failures == 3)
        let onDisk = try DataDirectory.tables(dir.path).count
        #expect(onDisk == db.stats().tableCount, "table files written by failed flushes are left behind")

        faults.heal()
        try db.flush()
        #expect(db.stats().tableCount == 1)
        #expect(try DataDirectory.mismatches(db, ledger.expected).isEmpty)
        try db.close()
    }

    @Test("a short write (ENOSPC) to the manifest is recoverable: after heal, later edits and a reopen work")
    func tornManifestAppend() throws {
        let dir = TemporaryDirectory("toondb-faults")
        var options = testOptions()
        options.backgroundWork = false   // flushes and compactions run inline, in this order
        let backend = ScriptedFaultBackend(filter: "MANIFEST", mode: .tornWrite)
        let db = try Database.open(path: dir.path, options: options, backend: backend)
        // Two tables with long (binary) keys make the next compaction edit large.
        let long1 = [UInt8](repeating: 0, count: 2000)
        let long2 = [UInt8](repeating: 0, count: 1999) + [1]
        try db.put(long1, [1])
        try db.flush()
        try db.put(long2, [2])
        try db.flush()

        backend.arm()
        var compactError: StorageError?
        do { try db.compactAll() } catch { compactError = error }
        #expect(!backend.isArmed, "the short write happened")
        #expect(compactError?.code == .diskFull)

        // The disk has room again: a small edit follows the failed large one.
        try db.put(Array("k".utf8), [3])
        try db.flush()
        #expect(try db.get(long1) == [1])
        try db.close()

        let (reopened, openError) = DataDirectory.open(dir.path, options)
        #expect(openError == nil, "reopen after a recovered ENOSPC: \(openError?.message ?? "")")
        if let reopened {
            #expect(try reopened.get(long1) == [1])
            #expect(try reopened.get(long2) == [2])
            #expect(try reopened.get(Array("k".utf8)) == [3])
            try reopened.close()
        }
    }

    @Test("ENOSPC on tables while memtables fill: writes end with .writesStopped, nothing acknowledged is lost after reopen")
    func backgroundFlushDiskFull() throws {
        let dir = TemporaryDirectory("toondb-faults")
        let options = testOptions()
        let (db, faults) = try Self.faultyOpen(dir.path, options)
        var ledger = Ledger()
        for i in 0..<100 { let error = ledger.put(db, Self.key("ok", i), DataDirectory.value(i, size: 500)); #expect(error == nil) }

        faults.inject(.init(writeErrno: ENOSPC, pathFilter: "/tables/"))
        var stoppedAt: Int?
        var stopError: StorageError?
        for i in 0..<4000 {
            if let error = ledger.put(db, Self.key("fill", i), DataDirectory.value(i, size: 1000)) {
                stoppedAt = i
                stopError = error
                break
            }
        }
        #expect(stoppedAt != nil, "writes stop once memtables cannot be flushed")
        #expect(stopError?.code == .writesStopped)
        #expect(stopError?.message.contains("No space left on device") == true, "\(stopError?.message ?? "")")
        faults.heal()
        try? db.close()

        let reopened = try Database.open(path: dir.path, options: options)
        #expect(try DataDirectory.mismatches(reopened, ledger.expected).isEmpty)
        #expect(reopened.stats().lastLSN == ledger.lastLSN)
        try reopened.close()
    }
}

/// POSIX I/O with one scripted failure, fired once after `arm()` on the first matching
/// write-and-sync: the bytes land and then the fsync reports EIO (`.syncFailsAfterWrite`), or
/// only the first half lands and the write reports ENOSPC (`.tornWrite`, a short write on a
/// full disk).
final class ScriptedFaultBackend: IOBackend {
    enum Mode: Sendable { case syncFailsAfterWrite, tornWrite }
    private let base = POSIXBackend()
    private let armed = Mutex(false)
    let filter: String
    let mode: Mode
    init(filter: String, mode: Mode) {
        self.filter = filter
        self.mode = mode
    }

    var kind: IOBackendKind { .posix }
    func arm() { armed.withLock { $0 = true } }
    var isArmed: Bool { armed.withLock { $0 } }

    private func fire(_ path: String) -> Bool {
        path.contains(filter) && armed.withLock { let was = $0; $0 = false; return was }
    }

    func read(_ file: borrowing File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(IOError) -> Int {
        try base.read(file, into: buffer, at: offset)
    }
    func write(_ file: borrowing File, _ buffer: UnsafeRawBufferPointer, at offset: Int64) throws(IOError) {
        try base.write(file, buffer, at: offset)
    }
    func sync(_ file: borrowing File, dataOnly: Bool) throws(IOError) {
        // The WAL writes a group, then syncs it separately: fail that sync (the bytes landed).
        if mode == .syncFailsAfterWrite && fire(file.path) {
            throw IOError(errno: EIO, operation: "fdatasync (injected)", path: file.path)
        }
        try base.sync(file, dataOnly: dataOnly)
    }
    func writeAndSync(_ file: borrowing File, _ buffer: UnsafeRawBufferPointer, at offset: Int64) throws(IOError) {
        guard fire(file.path) else { return try base.writeAndSync(file, buffer, at: offset) }
        switch mode {
        case .syncFailsAfterWrite:
            try base.write(file, buffer, at: offset)
            throw IOError(errno: EIO, operation: "fdatasync (injected)", path: file.path)
        case .tornWrite:
            try base.write(file, UnsafeRawBufferPointer(rebasing: buffer[0..<(buffer.count / 2)]), at: offset)
            throw IOError(errno: ENOSPC, operation: "pwrite (injected short write)", path: file.path)
        }
    }
    func makeStreamWriter(for file: borrowing File, startingAt offset: Int64, depth: Int) throws(IOError) -> any StreamWriter {
        try base.makeStreamWriter(for: file, startingAt: offset, depth: depth)
    }
}

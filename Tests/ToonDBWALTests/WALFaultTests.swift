#if canImport(Glibc)
import Glibc
#endif
import Testing
import ToonDBFormat
import ToonDBIO
import ToonDBTestSupport
import ToonDBWAL

/// Failed writes are cut back and recoverable; failed syncs stop the writer.
@Suite("WAL write and sync failures", .serialized)
struct WALFaultTests {
    @Test("ENOSPC on a WAL write fails the append with .diskFull, cuts the file back to its records, and heals", arguments: [false, true])
    func diskFullWrite(sync: Bool) throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        let faults = FaultInjectingBackend(wrapping: POSIXBackend())
        let (writer, _) = try openWriter(wal, backend: faults, segmentSize: 1 << 20, mapped: false)
        try appendEach(writer, from: 1, count: 10, sync: sync)
        let path = try segments(wal).last!.path
        let sizeBefore = writer.totalBytes
        #expect(try FileSystem.fileSize(path) > sizeBefore, "preallocated")

        faults.inject(.init(writeErrno: ENOSPC, pathFilter: "/wal/"))
        let error = failure { () throws(StorageError) in try append(writer, 11...13, sync: sync) }
        #expect(error?.code == .diskFull)
        #expect(error?.message.contains("No space left on device") == true)
        #expect(error?.message.contains(path) == true)
        #expect(try FileSystem.fileSize(path) == sizeBefore)
        #expect(writer.lastWrittenLSN == 10)
        #expect(writer.poisonedError == nil, "a failed write that was cut back does not stop the WAL")
        let again = failure { () throws(StorageError) in try append(writer, 11...11, sync: sync) }
        #expect(again?.code == .diskFull, "still full: still fails, still not poisoned")

        faults.heal()
        try append(writer, 11...13, sync: sync)
        try appendEach(writer, from: 14, count: 3, sync: sync)
        #expect(writer.lastWrittenLSN == 16)
        let replayed = replay(wal)
        #expect(replayed.error == nil)
        #expect(replayed.outcome?.truncatedBytes == 0)
        let expected = (1...16).map { expectedRecord($0) }
        #expect(replayed.records == expected)
    }

    @Test("a torn write (half landed, then ENOSPC) is cut back off the file before the next append", arguments: [false, true])
    func tornWriteCutBack(sync: Bool) throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        let torn = TornWriteBackend(filter: "/wal/")
        let (writer, _) = try openWriter(wal, backend: torn, segmentSize: 1 << 20, mapped: false)
        try appendEach(writer, from: 1, count: 10, sync: sync)
        let path = try segments(wal).last!.path
        let sizeBefore = writer.totalBytes

        torn.arm()
        let error = failure { () throws(StorageError) in try append(writer, 11...14, sync: sync) }
        #expect(!torn.isArmed, "the torn write happened")
        #expect(error?.code == .diskFull)
        #expect(try FileSystem.fileSize(path) == sizeBefore, "the half-written group was truncated away")
        #expect(writer.poisonedError == nil)

        // Without the repair the next append would land after the torn bytes; with it the log
        // stays contiguous and recovery finds nothing to truncate.
        try append(writer, 11...14, sync: sync)
        let replayed = replay(wal)
        #expect(replayed.error == nil)
        #expect(replayed.outcome?.truncatedBytes == 0)
        #expect(replayed.lsns == Array(1...14))
    }

    @Test("EIO on the sync of an append poisons the writer: later appends fail with .writesStopped")
    func failedSyncPoisons() throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        let faults = FaultInjectingBackend(wrapping: POSIXBackend())
        let (writer, _) = try openWriter(wal, backend: faults, segmentSize: 1 << 20)
        try appendEach(writer, from: 1, count: 5, sync: true)

        faults.inject(.init(syncErrno: EIO, pathFilter: "/wal/"))
        let error = failure { () throws(StorageError) in try append(writer, 6...6, sync: true) }
        #expect(error?.code == .io)
        #expect(error?.message.contains("Input/output error") == true)
        #expect(writer.poisonedError?.code == .io)

        faults.heal()
        let later = failure { () throws(StorageError) in try append(writer, 6...6, sync: false) }
        #expect(later?.code == .writesStopped)
        #expect(later?.message.contains("reopen") == true)
        let laterSynced = failure { () throws(StorageError) in try append(writer, 6...6, sync: true) }
        #expect(laterSynced?.code == .writesStopped)
        let sync = failure { () throws(StorageError) in try writer.syncIfNeeded() }
        #expect(sync != nil, "syncIfNeeded reports the poison too")
        #expect(writer.lastWrittenLSN == 5)

        // A new writer (the database reopened) works again.
        let (fresh, outcome) = try openWriter(wal, segmentSize: 1 << 20)
        #expect(outcome.lastLSN >= 5)
        let next = outcome.lastLSN + 1
        try append(fresh, next...next, sync: true)
        let replayed = replay(wal)
        #expect(replayed.error == nil)
        #expect(replayed.outcome?.lastLSN == next)
    }

    @Test("EIO in a background syncIfNeeded poisons the writer too")
    func failedBackgroundSync() throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        let faults = FaultInjectingBackend(wrapping: POSIXBackend())
        let (writer, _) = try openWriter(wal, backend: faults, segmentSize: 1 << 20)
        try appendEach(writer, from: 1, count: 5, sync: false)
        #expect(writer.lastSyncedLSN == 0)
        try writer.syncIfNeeded()
        #expect(writer.lastSyncedLSN == 5)
        try appendEach(writer, from: 6, count: 2, sync: false)

        faults.inject(.init(syncErrno: EIO, pathFilter: "/wal/"))
        let error = failure { () throws(StorageError) in try writer.syncIfNeeded() }
        #expect(error?.code == .io)
        faults.heal()
        let later = failure { () throws(StorageError) in try append(writer, 8...8) }
        #expect(later?.code == .writesStopped)
        #expect(writer.lastSyncedLSN == 5)
    }

    @Test("a failed sync while rotating to a new segment poisons the writer")
    func failedRotationSync() throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        let faults = FaultInjectingBackend(wrapping: POSIXBackend())
        let (writer, _) = try openWriter(wal, backend: faults, segmentSize: 512)
        faults.inject(.init(syncErrno: EIO, pathFilter: "/wal/"))
        var firstError: StorageError?
        var written: LSN = 0
        for lsn in LSN(1)...100 {
            if let error = failure({ () throws(StorageError) in try append(writer, lsn...lsn) }) {
                firstError = error
                break
            }
            written = lsn
        }
        #expect(firstError?.code == .io)
        #expect(firstError?.message.contains("syncing a full WAL segment") == true)
        #expect(written > 0, "appends without sync succeed until the segment fills")
        #expect(try segments(wal).count == 1, "no new segment after the failed sync")
        faults.heal()
        let later = failure { () throws(StorageError) in try append(writer, (written + 1)...(written + 1)) }
        #expect(later?.code == .writesStopped)
    }

    @Test("ENOSPC while creating the next segment fails the append without poisoning; after heal the log rotates cleanly")
    func diskFullOnRotation() throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        let faults = FaultInjectingBackend(wrapping: POSIXBackend())
        let (writer, _) = try openWriter(wal, backend: faults, segmentSize: 512)
        var next: LSN = 1
        while writer.totalBytes < 512 {
            try append(writer, next...next)
            next += 1
        }
        #expect(try segments(wal).count == 1)

        faults.inject(.init(writeErrno: ENOSPC, pathFilter: "/wal/"))
        let error = failure { () throws(StorageError) in try append(writer, next...next) }
        #expect(error?.code == .diskFull)
        #expect(error?.message.contains("creating WAL segment") == true, "\(error?.message ?? "")")
        #expect(writer.poisonedError == nil)
        #expect(writer.lastWrittenLSN == next - 1)
        // A crash now leaves an empty next segment: recovery sees every record and no damage.
        let meanwhile = replay(wal, repair: false)
        #expect(meanwhile.error == nil)
        #expect(meanwhile.outcome?.lastLSN == next - 1)

        faults.heal()
        try append(writer, next...(next + 2))
        let files = try segments(wal)
        #expect(files.count == 2)
        #expect(files.last?.firstLSN == next)
        let replayed = replay(wal)
        #expect(replayed.error == nil)
        #expect(replayed.outcome?.truncatedBytes == 0)
        #expect(replayed.lsns == Array(1...(next + 2)))
    }
}

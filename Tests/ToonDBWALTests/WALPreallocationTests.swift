#if canImport(Glibc)
import Glibc
#endif
import Testing
import ToonDBFormat
import ToonDBIO
import ToonDBTestSupport
import ToonDBWAL

/// The open segment is reserved ahead of the appends; what a crash leaves of the reservation
/// (zeros after the records) is the end of the log, not damage.
@Suite("WAL preallocation", .serialized)
struct WALPreallocationTests {
    /// The open segment's bytes as a crash of the process would leave them: copied while the
    /// writer is open, reservation included.
    func crashCopy(of wal: String, into copy: String) throws -> WALSegmentInfo {
        try FileSystem.createDirectory(copy)
        for segment in try segments(wal) {
            try FileDamage.write(copy + "/" + String(segment.path.split(separator: "/").last!), try FileDamage.read(segment.path))
        }
        return try segments(copy).last!
    }

    /// A writer on a fresh log with 8 MiB segments, holding records 1 through `count`.
    func filledWriter(_ wal: String, count: Int, sync: Bool = false, mapped: Bool = true,
                      backend: any IOBackend = POSIXBackend()) throws -> WALWriter {
        let (writer, _) = try openWriter(wal, backend: backend, segmentSize: 8 << 20, mapped: mapped)
        try appendEach(writer, from: 1, count: count, sync: sync)
        return writer
    }

    @Test("the open segment is reserved a chunk ahead; close cuts it back to the records and stops appends", arguments: [true, false])
    func reservedThenTrimmed(mapped: Bool) throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        let writer = try filledWriter(wal, count: 20, mapped: mapped)
        let path = try segments(wal).last!.path
        #expect(try FileSystem.fileSize(path) == WALWriter.preallocationChunk)
        #expect(writer.totalBytes < WALWriter.preallocationChunk)

        // A group larger than the chunk reserves through its end, rounded up to a chunk.
        try append(writer, 21...21, size: Int(WALWriter.preallocationChunk) + 100)
        #expect(writer.totalBytes > WALWriter.preallocationChunk)
        #expect(try FileSystem.fileSize(path) == 2 * WALWriter.preallocationChunk)

        try writer.close()
        try writer.close()
        #expect(try FileSystem.fileSize(path) == writer.totalBytes)
        let late = failure { () throws(StorageError) in try append(writer, 22...22) }
        #expect(late?.code == .databaseClosed)

        let replayed = replay(wal)
        #expect(replayed.error == nil)
        #expect(replayed.outcome?.truncatedBytes == 0)
        #expect(replayed.lsns == Array(1...21))
        #expect(replayed.records.last == expectedRecord(21, size: Int(WALWriter.preallocationChunk) + 100))
    }

    @Test("mapped appends are stores into the segment, not backend writes; appends over the limit are written")
    func mappedAppendsBypassWrites() throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        let faults = FaultInjectingBackend(wrapping: POSIXBackend())
        let writer = try filledWriter(wal, count: 3, backend: faults)
        faults.inject(.init(writeErrno: EIO, pathFilter: "/wal/"))
        try appendEach(writer, from: 4, count: 50)
        let large = failure { () throws(StorageError) in try append(writer, 54...54, size: 64 << 10) }
        #expect(large?.code == .io, "a 64 KiB append goes through the backend's write")
        faults.heal()
        try append(writer, 54...54, size: 64 << 10)
        try writer.close()
        let replayed = replay(wal)
        #expect(replayed.error == nil)
        #expect(replayed.records == (1...53).map { expectedRecord($0) } + [expectedRecord(54, size: 64 << 10)])
    }

    @Test("zeros after the last record (a crash with the reservation in place) end the log: nothing reported, the tail is cut, appends continue",
          arguments: [true, false], [true, false])
    func zeroTailAfterCrash(mapped: Bool, sync: Bool) throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        let writer = try filledWriter(wal, count: 30, sync: sync, mapped: mapped)
        let end = writer.totalBytes
        let copy = dir.child("crashed")
        let crashed = try crashCopy(of: wal, into: copy)
        #expect(crashed.size == WALWriter.preallocationChunk)

        let first = replay(copy)
        #expect(first.error == nil)
        #expect(first.outcome?.truncatedBytes == 0)
        #expect(first.outcome?.tail?.end == end)
        #expect(first.lsns == Array(1...30))
        #expect(try FileSystem.fileSize(crashed.path) == end, "repair cut the zeros off")

        let (again, reopened) = try openWriter(copy, segmentSize: 8 << 20, mapped: mapped)
        #expect(reopened.lastLSN == 30)
        try appendEach(again, from: 31, count: 5)
        let second = replay(copy, repair: false)
        #expect(second.error == nil)
        #expect(second.records == (1...35).map { expectedRecord($0) })
    }

    /// A closed log of records 1...60 in 1 KiB segments; its segment files.
    func closedLog(_ wal: String) throws -> [WALSegmentInfo] {
        let (writer, _) = try openWriter(wal, segmentSize: 1024)
        try appendEach(writer, from: 1, count: 60)
        try writer.close()
        return try segments(wal)
    }

    @Test("zeros after the records of a closed segment end that segment when the next one continues the LSNs")
    func zeroTailInClosedSegment() throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        let files = try closedLog(wal)
        #expect(files.count >= 3)
        // A rotation whose trim did not reach the disk: the closed segment keeps zeros.
        try FileDamage.write(files[0].path, try FileDamage.read(files[0].path) + [UInt8](repeating: 0, count: 3000))

        let replayed = replay(wal)
        #expect(replayed.error == nil)
        #expect(replayed.outcome?.truncatedBytes == 0)
        #expect(replayed.records == (1...60).map { expectedRecord($0) })
        #expect(try FileSystem.fileSize(files[0].path) == files[0].size, "repair cut the zeros off")
    }

    @Test("zeros cannot hide records: zeroed records at the end of a closed segment are a gap, reported as corruption")
    func zeroedRecordsAreAGap() throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        let files = try closedLog(wal)
        let layout = try FileDamage.walRecords(files[0].path)
        let lost = layout[layout.count - 2]
        var bytes = try FileDamage.read(files[0].path)
        for i in lost.offset..<bytes.count { bytes[i] = 0 }  // its last two records zeroed
        try FileDamage.write(files[0].path, bytes)

        let replayed = replay(wal)
        let error = try #require(replayed.error)
        #expect(error.code == .corruption)
        #expect(error.message.contains("gap"), "\(error.message)")
        #expect(error.message.contains("expected LSN \(lost.lsn)"), "\(error.message)")
        #expect(replayed.records.count == Int(lost.lsn - 1))
    }

    @Test("a record cut short inside the reservation is a torn tail, reported and cut")
    func tornRecordBeforeZeros() throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        let writer = try filledWriter(wal, count: 10)
        let end = Int(writer.totalBytes)
        let copy = dir.child("crashed")
        let crashed = try crashCopy(of: wal, into: copy)
        var bytes = try FileDamage.read(crashed.path)
        let partial = encodeRecords(11...11).prefix(recordSize(11) - 3)
        bytes.replaceSubrange(end..<(end + partial.count), with: partial)
        try FileDamage.write(crashed.path, bytes)

        let replayed = replay(copy)
        #expect(replayed.error == nil)
        #expect(replayed.outcome?.truncatedBytes == Int64(bytes.count - end))
        #expect(replayed.lsns == Array(1...10))
        #expect(try FileSystem.fileSize(crashed.path) == Int64(end))
    }

    @Test("a full disk when the next chunk is reserved fails the append before anything is written, without stopping the WAL",
          arguments: [true, false])
    func diskFullOnReservation(mapped: Bool) throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        let faults = FaultInjectingBackend(wrapping: POSIXBackend())
        // Small records up to just under the first chunk's end, so the next small append (a
        // mapped one, when mapping) needs the second chunk.
        let (writer, _) = try openWriter(wal, backend: faults, segmentSize: 8 << 20, mapped: mapped)
        var next: LSN = 1
        while writer.totalBytes + Int64(recordSize(next, size: 4000)) <= WALWriter.preallocationChunk {
            try append(writer, next...next, size: 4000)
            next += 1
        }
        let path = try segments(wal).last!.path
        let before = try FileDamage.read(path)
        #expect(before.count == Int(WALWriter.preallocationChunk))

        faults.inject(.init(writeErrno: ENOSPC, pathFilter: "/wal/"))
        let error = failure { () throws(StorageError) in try append(writer, next...next, size: 4000) }
        #expect(error?.code == .diskFull)
        #expect(error?.message.contains("reserving space") == true, "\(error?.message ?? "")")
        #expect(try FileDamage.read(path) == before, "nothing written")
        #expect(writer.poisonedError == nil)

        faults.heal()
        try append(writer, next...next, size: 4000)
        try writer.close()
        let replayed = replay(wal)
        #expect(replayed.error == nil)
        #expect(replayed.lsns == Array(1...next))
        #expect(replayed.records.last == expectedRecord(next, size: 4000))
    }
}

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

    @Test("the open segment is reserved a chunk ahead; close cuts it back to the records and stops appends")
    func reservedThenTrimmed() throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        let (writer, _) = try openWriter(wal, segmentSize: 8 << 20)
        try appendEach(writer, from: 1, count: 20)
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

    @Test("zeros after the last record (a crash with the reservation in place) end the log: nothing reported, the tail is cut, appends continue")
    func zeroTailAfterCrash() throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        let (writer, _) = try openWriter(wal, segmentSize: 8 << 20)
        try appendEach(writer, from: 1, count: 30, sync: true)
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

        let (again, reopened) = try openWriter(copy, segmentSize: 8 << 20)
        #expect(reopened.lastLSN == 30)
        try appendEach(again, from: 31, count: 5)
        let second = replay(copy, repair: false)
        #expect(second.error == nil)
        #expect(second.records == (1...35).map { expectedRecord($0) })
    }

    @Test("a record cut short inside the reservation is a torn tail, reported and cut")
    func tornRecordBeforeZeros() throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        let (writer, _) = try openWriter(wal, segmentSize: 8 << 20)
        try appendEach(writer, from: 1, count: 10)
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

    @Test("a full disk when the next chunk is reserved fails the append before anything is written, without stopping the WAL")
    func diskFullOnReservation() throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        let faults = FaultInjectingBackend(wrapping: POSIXBackend())
        let (writer, _) = try openWriter(wal, backend: faults, segmentSize: 8 << 20)
        try appendEach(writer, from: 1, count: 5)
        let path = try segments(wal).last!.path
        let before = try FileDamage.read(path)

        faults.inject(.init(writeErrno: ENOSPC, pathFilter: "/wal/"))
        let big = Int(WALWriter.preallocationChunk)
        let error = failure { () throws(StorageError) in try append(writer, 6...6, size: big) }
        #expect(error?.code == .diskFull)
        #expect(error?.message.contains("reserving space") == true, "\(error?.message ?? "")")
        #expect(try FileDamage.read(path) == before, "nothing written")
        #expect(writer.poisonedError == nil)

        faults.heal()
        try append(writer, 6...6, size: big)
        try writer.close()
        let replayed = replay(wal)
        #expect(replayed.error == nil)
        #expect(replayed.lsns == Array(1...6))
    }
}

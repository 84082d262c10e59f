#if canImport(Glibc)
import Glibc
#endif
import Testing
import ToonDBFormat
import ToonDBIO
import ToonDBTestSupport
import ToonDBWAL

/// Torn tails (repaired) versus damage in the middle of the log (corruption, never skipped).
@Suite("WAL torn tails and corruption", .serialized)
struct WALDamageTests {
    enum Garbage: String, CaseIterable, Sendable {
        case random, zeros, partialHeader, fullHeaderShortPayload
        func bytes() -> [UInt8] {
            switch self {
            case .random: var rng = SeededRandom(seed: 99); return rng.bytes(37)
            case .zeros: return [UInt8](repeating: 0, count: 100)
            case .partialHeader: return Array(encodeRecords(999...999).prefix(10))
            case .fullHeaderShortPayload: return Array(encodeRecords(51...51).prefix(WALFormat.recordHeaderSize + 5))
            }
        }
    }

    @Test("garbage after the last record is a torn tail: cut off, reported (zeros, the preallocated end, are only cut off), and the next append continues cleanly",
          arguments: Garbage.allCases)
    func garbageTail(garbage: Garbage) throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        do {
            let (writer, _) = try openWriter(wal, segmentSize: 1024)
            try appendEach(writer, from: 1, count: 50)
        }
        let last = try segments(wal).last!
        let junk = garbage.bytes()
        try FileDamage.write(last.path, try FileDamage.read(last.path) + junk)

        let first = replay(wal)
        #expect(first.error == nil)
        // Zeros are what a crash leaves of the writer's preallocation: the end, not damage.
        #expect(first.outcome?.truncatedBytes == (garbage == .zeros ? 0 : Int64(junk.count)))
        #expect(first.outcome?.lastLSN == 50)
        #expect(first.lsns == Array(1...50))
        #expect(first.outcome?.tail?.end == last.size)
        #expect(try FileSystem.fileSize(last.path) == last.size, "repair cut the file back")

        let (writer, reopened) = try openWriter(wal, segmentSize: 1024)
        #expect(reopened.truncatedBytes == 0, "already repaired")
        try appendEach(writer, from: 51, count: 10)
        let second = replay(wal)
        #expect(second.error == nil)
        #expect(second.outcome?.truncatedBytes == 0)
        #expect(second.lsns == Array(1...60))
        let expected = (1...60).map { expectedRecord($0) }
        #expect(second.records == expected)
    }

    @Test("a last record cut mid-way is dropped; the LSN is reused by the next append", arguments: [1, 10, 23, 24, 40])
    func truncatedLastRecord(cut: Int) throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        do {
            let (writer, _) = try openWriter(wal, segmentSize: 1 << 20)
            try appendEach(writer, from: 1, count: 30)
        }
        let last = try segments(wal).last!
        let size30 = recordSize(30)
        #expect(cut < size30)
        try FileDamage.truncate(last.path, to: last.size - Int64(cut))

        let first = replay(wal)
        #expect(first.error == nil)
        #expect(first.outcome?.lastLSN == 29)
        #expect(first.outcome?.truncatedBytes == Int64(size30 - cut))
        #expect(first.lsns == Array(1...29))
        #expect(try FileSystem.fileSize(last.path) == last.size - Int64(size30))

        let (writer, outcome) = try openWriter(wal, segmentSize: 1 << 20)
        #expect(outcome.lastLSN == 29)
        try appendEach(writer, from: 30, count: 5)
        let second = replay(wal)
        #expect(second.error == nil)
        #expect(second.outcome?.truncatedBytes == 0)
        let expected = (1...34).map { expectedRecord($0) }
        #expect(second.records == expected)
    }

    @Test("a flipped byte in the last record of the log is a torn tail; repair: false only reports it")
    func flippedLastRecord() throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        do {
            let (writer, _) = try openWriter(wal, segmentSize: 1024)
            try appendEach(writer, from: 1, count: 45)
        }
        let last = try segments(wal).last!
        let layout = try FileDamage.walRecords(last.path)
        let final = try #require(layout.last)
        #expect(final.lsn == 45)
        try FileDamage.flip(last.path, at: final.offset + final.size - 3, mask: 0x5A)

        let report = replay(wal, repair: false)
        #expect(report.error == nil)
        #expect(report.outcome?.truncatedBytes == Int64(final.size))
        #expect(try FileSystem.fileSize(last.path) == last.size, "repair: false leaves the file alone")

        let repaired = replay(wal)
        #expect(repaired.outcome?.lastLSN == 44)
        #expect(repaired.lsns == Array(1...44))
        #expect(try FileSystem.fileSize(last.path) == Int64(final.offset))
    }

    enum Where: String, CaseIterable, Sendable { case firstRecord, middleRecord, lastRecord, lengthField, hugeLength }

    @Test("a damaged record in a segment other than the last is corruption naming the file and the record's offset",
          arguments: Where.allCases)
    func damageInClosedSegment(place: Where) throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        do {
            let (writer, _) = try openWriter(wal, segmentSize: 1024)
            try appendEach(writer, from: 1, count: 80)
        }
        let files = try segments(wal)
        #expect(files.count >= 4)
        let victim = files[1]
        let layout = try FileDamage.walRecords(victim.path)
        #expect(layout.count >= 3)
        let record: (offset: Int, size: Int, lsn: LSN)
        switch place {
        case .firstRecord: record = layout[0]
        case .lastRecord: record = layout[layout.count - 1]
        default: record = layout[layout.count / 2]
        }
        var bytes = try FileDamage.read(victim.path)
        switch place {
        case .lengthField: bytes[record.offset] ^= 0x01
        case .hugeLength: bytes.storeFixed32(0xFFFF_FFF0, at: record.offset)
        default: bytes[record.offset + record.size / 2] ^= 0x40
        }
        try FileDamage.write(victim.path, bytes)

        let replayed = replay(wal)
        let error = try #require(replayed.error)
        #expect(error.code == .corruption)
        #expect(error.message.contains(victim.path))
        #expect(error.message.contains("at offset \(record.offset)"))
        #expect(error.message.contains("LSN \(record.lsn)"))
        #expect(replayed.records.count == Int(record.lsn - 1), "records before the damage were replayed, none after")
        #expect(try FileSystem.fileSize(victim.path) == victim.size, "nothing is truncated")
        let viaReader = failure { () throws(StorageError) in _ = try WALReader.records(directory: wal, backend: POSIXBackend(), after: 0) }
        #expect(viaReader?.code == .corruption)
    }

    @Test("a damaged record in the last segment followed by valid records is corruption, not a torn tail")
    func damageFollowedByValidRecords() throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        do {
            let (writer, _) = try openWriter(wal, segmentSize: 1 << 20)
            try appendEach(writer, from: 1, count: 20)
        }
        let only = try segments(wal)
        #expect(only.count == 1)
        let layout = try FileDamage.walRecords(only[0].path)
        let victim = layout[17]   // three valid records follow
        try FileDamage.flip(only[0].path, at: victim.offset + victim.size - 1, mask: 0x5A)
        let replayed = replay(wal)
        #expect(replayed.error?.code == .corruption)
        #expect(replayed.error?.message.contains(only[0].path) == true)
        #expect(replayed.error?.message.contains("at offset \(victim.offset)") == true)
        #expect(try FileSystem.fileSize(only[0].path) == only[0].size, "nothing is truncated")
    }

    @Test("a missing middle segment is a gap: corruption naming the segment after it")
    func gap() throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        do {
            let (writer, _) = try openWriter(wal, segmentSize: 1024)
            try appendEach(writer, from: 1, count: 80)
        }
        let files = try segments(wal)
        #expect(files.count >= 4)
        try FileSystem.remove(files[2].path)
        let replayed = replay(wal)
        #expect(replayed.error?.code == .corruption)
        #expect(replayed.error?.message.contains("gap") == true)
        #expect(replayed.error?.message.contains("expected LSN \(files[2].firstLSN)") == true)
        #expect(replayed.error?.message.contains(files[3].path) == true)

        // A missing first segment is a gap too, unless the caller needs nothing from it.
        let dir2 = TemporaryDirectory("toondb-wal")
        let wal2 = dir2.child("wal")
        do {
            let (writer, _) = try openWriter(wal2, segmentSize: 1024)
            try appendEach(writer, from: 1, count: 80)
        }
        let files2 = try segments(wal2)
        try FileSystem.remove(files2[0].path)
        let fromZero = replay(wal2, after: 0)
        #expect(fromZero.error?.code == .corruption)
        #expect(fromZero.error?.message.contains(files2[1].path) == true)
        let fromFlushed = replay(wal2, after: files2[1].firstLSN - 1)
        #expect(fromFlushed.error == nil)
        #expect(fromFlushed.outcome?.lastLSN == 80)
    }

    @Test("segment headers: bad magic, bad checksum or a wrong version are corruption, in any segment", arguments: [0, 1])
    func badHeaders(segmentIndex: Int) throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        do {
            let (writer, _) = try openWriter(wal, segmentSize: 1024)
            try appendEach(writer, from: 1, count: 30)
        }
        let files = try segments(wal)
        #expect(files.count >= 2)
        let victim = segmentIndex == 0 ? files[0] : files[files.count - 1]
        let original = try FileDamage.read(victim.path)

        var badMagic = original
        badMagic[0] = UInt8(ascii: "X")
        try FileDamage.write(victim.path, badMagic)
        let magic = replay(wal)
        #expect(magic.error?.code == .corruption)
        #expect(magic.error?.message.contains("bad magic") == true)
        #expect(magic.error?.message.contains(victim.path) == true)

        var badChecksum = original
        badChecksum[17] ^= 0x01   // the first-LSN field, covered by the header CRC
        try FileDamage.write(victim.path, badChecksum)
        let checksum = replay(wal)
        #expect(checksum.error?.code == .corruption)
        #expect(checksum.error?.message.contains("checksum") == true)
        #expect(checksum.error?.message.contains(victim.path) == true)

        var badVersion = original
        badVersion.storeFixed32(7, at: 8)
        var header = Array(badVersion.prefix(24))
        header.appendFixed32(CRC32C.mask(CRC32C.checksum(header)))
        badVersion.replaceSubrange(0..<28, with: header)
        try FileDamage.write(victim.path, badVersion)
        let version = replay(wal)
        #expect(version.error?.code == .corruption)
        #expect(version.error?.message.contains("version 7") == true)

        try FileDamage.write(victim.path, original)
        let healed = replay(wal)
        #expect(healed.error == nil)
        #expect(healed.outcome?.lastLSN == 30)
    }

    @Test("a last segment whose header never reached the disk holds no records and is removed", arguments: [0, 10, 32])
    func emptyLastSegment(length: Int) throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        do {
            let (writer, _) = try openWriter(wal, segmentSize: 1024)
            try appendEach(writer, from: 1, count: 30)
        }
        let before = try segments(wal)
        let empty = wal + "/" + WALFormat.segmentName(firstLSN: 31)
        try FileDamage.write(empty, [UInt8](repeating: 0, count: length))

        let replayed = replay(wal)
        #expect(replayed.error == nil)
        #expect(replayed.outcome?.lastLSN == 30)
        #expect(replayed.lsns == Array(1...30))
        #expect(replayed.outcome?.tail?.path == before.last?.path)
        #expect(!FileSystem.exists(empty))

        let (writer, _) = try openWriter(wal, segmentSize: 1024)
        try appendEach(writer, from: 31, count: 5)
        let again = replay(wal)
        #expect(again.error == nil)
        #expect(again.lsns == Array(1...35))
    }

    @Test("a truncated header in a segment that is not the last is corruption")
    func shortMiddleSegment() throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        do {
            let (writer, _) = try openWriter(wal, segmentSize: 1024)
            try appendEach(writer, from: 1, count: 60)
        }
        let files = try segments(wal)
        #expect(files.count >= 3)
        try FileDamage.truncate(files[1].path, to: 10)
        let replayed = replay(wal)
        #expect(replayed.error?.code == .corruption)
        #expect(replayed.error?.message.contains(files[1].path) == true)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Testing
import ToonDBFormat
import ToonDBIO
import ToonDBTestSupport
import ToonDBWAL

@Suite("WAL writer and recovery", .serialized)
struct WALWriterRecoveryTests {
    @Test("records round trip across many segments; names, headers, sizes and LSNs agree (appends mapped or written)",
          arguments: [false, true], [true, false])
    func roundTripAcrossSegments(sync: Bool, mapped: Bool) throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        let (writer, fresh) = try openWriter(wal, segmentSize: 1024, mapped: mapped)
        #expect(fresh.lastLSN == 0)
        #expect(fresh.tail == nil)
        var rng = SeededRandom(seed: 7)
        var next: LSN = 1
        while next <= 300 {
            let last = min(300, next + LSN.random(in: 0...3, using: &rng))
            try append(writer, next...last, sync: sync)
            next = last + 1
        }
        #expect(writer.lastWrittenLSN == 300)
        #expect(writer.lastSyncedLSN <= 300)
        if sync { #expect(writer.lastSyncedLSN == 300) }
        let open = try segments(wal)
        #expect(open.last!.size == 1024, "the open segment is reserved up to the segment size")
        for closed in open.dropLast() {
            let last = try FileDamage.walRecords(closed.path).last!
            #expect(closed.size == Int64(last.offset + last.size), "rotation cut \(closed.path) back to its records")
        }
        try writer.close()
        #expect(writer.lastSyncedLSN == 300, "close syncs")

        let files = try segments(wal)
        #expect(files.count >= 10, "1 KiB segments rotate")
        #expect(writer.segmentCount == files.count)
        let fileBytes = files.reduce(Int64(0)) { $0 + $1.size }
        #expect(writer.totalBytes == fileBytes)
        #expect(writer.oldestLSN == 1)
        #expect(files.first?.firstLSN == 1)
        var headerLSNs: [LSN] = []
        for file in files {
            let header = try FileDamage.read(file.path).prefix(WALFormat.segmentHeaderSize)
            headerLSNs.append(try Array(header).withBytes { (raw) throws(StorageError) in try WALFormat.decodeSegmentHeader(raw, path: file.path) })
        }
        let starts = files.map(\.firstLSN)
        let expectedNames = files.map { WALFormat.segmentName(firstLSN: $0.firstLSN) }
        let actualNames = files.map { String($0.path.split(separator: "/").last!) }
        #expect(headerLSNs == starts)
        #expect(expectedNames == actualNames)

        let replayed = replay(wal)
        #expect(replayed.error == nil)
        #expect(replayed.outcome?.lastLSN == 300)
        #expect(replayed.outcome?.replayedRecords == 300)
        #expect(replayed.outcome?.truncatedBytes == 0)
        #expect(replayed.outcome?.tail?.path == files.last?.path)
        #expect(replayed.outcome?.tail?.firstLSN == files.last?.firstLSN)
        #expect(replayed.outcome?.tail?.end == files.last?.size)
        let expected = (1...300).map { expectedRecord($0) }
        #expect(replayed.records == expected)

        // Each segment holds a dense run that continues where the previous one stopped.
        var lastSeen: LSN = 0
        var breaks: [String] = []
        for file in files {
            let layout = try FileDamage.walRecords(file.path)
            if layout.first?.lsn != lastSeen + 1 { breaks.append("\(file.path) starts at \(String(describing: layout.first?.lsn))") }
            for (a, b) in zip(layout, layout.dropFirst()) where b.lsn != a.lsn + 1 { breaks.append("\(a.lsn) -> \(b.lsn)") }
            lastSeen = layout.last?.lsn ?? lastSeen
            if file.firstLSN != layout.first?.lsn { breaks.append("name \(file.firstLSN)") }
        }
        #expect(breaks.isEmpty, "\(breaks)")
        #expect(lastSeen == 300)

        let read = try WALReader.records(directory: wal, backend: POSIXBackend(), after: 0)
        #expect(read == replayed.records)
    }

    @Test("a writer reopened on the tail continues the same segment and the LSN sequence")
    func reopenContinues() throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        do {
            let (writer, _) = try openWriter(wal, segmentSize: 4096)
            try appendEach(writer, from: 1, count: 20)
        }
        let before = try segments(wal)
        let (writer, outcome) = try openWriter(wal, segmentSize: 4096)
        #expect(outcome.lastLSN == 20)
        #expect(writer.lastWrittenLSN == 20)
        #expect(try segments(wal) == before, "no new segment while the tail has room")
        try appendEach(writer, from: 21, count: 5)
        let wrongLSN = failure { () throws(StorageError) in try append(writer, 30...30) }
        #expect(wrongLSN?.code == .internal)
        #expect(wrongLSN?.message.contains("out of order") == true)
        let repeated = failure { () throws(StorageError) in try append(writer, 25...25) }
        #expect(repeated?.code == .internal)
        let replayed = replay(wal)
        #expect(replayed.error == nil)
        #expect(replayed.lsns == Array(1...25))
        #expect(replayed.outcome?.truncatedBytes == 0)
    }

    @Test("records whose LSNs skip, or a header naming another LSN than the file, are corruption")
    func lsnDensityOnDisk() throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        try FileSystem.createDirectory(wal)
        let path = wal + "/" + WALFormat.segmentName(firstLSN: 1)
        var bytes = WALFormat.encodeSegmentHeader(firstLSN: 1)
        bytes += encodeRecords(1...1)
        let secondOffset = bytes.count
        bytes += encodeRecords(3...3)   // LSN 2 is missing
        try FileDamage.write(path, bytes)
        let skipped = replay(wal)
        #expect(skipped.error?.code == .corruption)
        #expect(skipped.error?.message.contains("LSN 3, expected 2") == true)
        #expect(skipped.error?.message.contains(path) == true)
        #expect(skipped.error?.message.contains("at offset \(secondOffset)") == true)

        var misnamed = WALFormat.encodeSegmentHeader(firstLSN: 5)
        misnamed += encodeRecords(5...6)
        try FileDamage.write(path, misnamed)
        let wrongName = replay(wal)
        #expect(wrongName.error?.code == .corruption)
        #expect(wrongName.error?.message.contains("first LSN 5") == true)
        #expect(wrongName.error?.message.contains(path) == true)
    }

    @Test("removeSegments(throughLSN:) deletes exactly the closed segments wholly at or below the LSN")
    func removeSegments() throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        let (writer, _) = try openWriter(wal, segmentSize: 512)
        try appendEach(writer, from: 1, count: 100)
        let files = try segments(wal)
        #expect(files.count >= 6)
        let starts = files.map(\.firstLSN)
        let totalBefore = writer.totalBytes

        #expect(try writer.removeSegments(throughLSN: 0) == 0)
        #expect(try writer.removeSegments(throughLSN: starts[1] - 2) == 0, "segment 0 still holds LSN \(starts[1] - 1)")
        #expect(try segments(wal) == files)
        #expect(try writer.removeSegments(throughLSN: starts[1] - 1) == 1)
        let afterOne = try segments(wal).map(\.firstLSN)
        #expect(afterOne == Array(starts.dropFirst()))
        #expect(writer.oldestLSN == starts[1])
        #expect(writer.segmentCount == files.count - 1)
        #expect(writer.totalBytes == totalBefore - files[0].size)

        // Through the first LSN of segment 3: segments 1 and 2 go, 3 stays (it holds more).
        #expect(try writer.removeSegments(throughLSN: starts[3]) == 2)
        let afterThree = try segments(wal).map(\.firstLSN)
        #expect(afterThree == Array(starts.dropFirst(3)))
        #expect(writer.oldestLSN == starts[3])

        // Far beyond the end: every closed segment goes, the open one never does.
        let removed = try writer.removeSegments(throughLSN: 1_000_000)
        #expect(removed == files.count - 4)
        let left = try segments(wal)
        let leftStarts = left.map(\.firstLSN)
        #expect(leftStarts == [starts.last!])
        #expect(writer.segmentCount == 1)
        #expect(writer.oldestLSN == starts.last!)
        #expect(writer.totalBytes == totalBefore - files.dropLast().reduce(Int64(0)) { $0 + $1.size }, "the open segment's records")
        #expect(try writer.removeSegments(throughLSN: 1_000_000) == 0)

        // The writer carries on; recovery from after the trimmed LSNs sees the rest, while a
        // replay from LSN 0 reports the missing records instead of skipping them.
        try appendEach(writer, from: 101, count: 3)
        let fromTrim = replay(wal, after: starts.last! - 1)
        #expect(fromTrim.error == nil)
        #expect(fromTrim.lsns == Array(starts.last!...103))
        let fromZero = replay(wal, after: 0)
        #expect(fromZero.error?.code == .corruption)
        #expect(fromZero.error?.message.contains("missing") == true)
    }

    @Test("replay(after:) hands over exactly the records above the LSN and skips older segments unread")
    func replayAfter() throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        let (writer, _) = try openWriter(wal, segmentSize: 512)
        try appendEach(writer, from: 1, count: 120)
        let files = try segments(wal)
        #expect(files.count >= 5)
        let boundary = files[2].firstLSN
        var wrong: [String] = []
        for after in [LSN(0), 1, 37, boundary - 1, boundary, 119, 120] {
            let replayed = replay(wal, after: after, repair: false)
            let want = after < 120 ? Array((after + 1)...120) : []
            if replayed.error != nil { wrong.append("after \(after): \(String(describing: replayed.error))") }
            if replayed.lsns != want { wrong.append("after \(after): got \(replayed.lsns.first.map { "\($0)" } ?? "none")... (\(replayed.lsns.count))") }
            if replayed.outcome?.replayedRecords != want.count { wrong.append("after \(after): count") }
            if replayed.outcome?.lastLSN != 120 { wrong.append("after \(after): lastLSN \(String(describing: replayed.outcome?.lastLSN))") }
        }
        #expect(wrong.isEmpty, "\(wrong)")
        let beyond = replay(wal, after: 125)
        #expect(beyond.records.isEmpty)
        #expect(beyond.outcome?.lastLSN == 125)

        // Damage in a segment wholly below `after` is not read; from 0 it is corruption.
        try FileDamage.flip(files[0].path, at: Int(files[0].size) / 2, mask: 0x5A)
        let skipping = replay(wal, after: boundary - 1)
        #expect(skipping.error == nil)
        #expect(skipping.lsns == Array(boundary...120))
        let fromZero = replay(wal, after: 0)
        #expect(fromZero.error?.code == .corruption)
        #expect(fromZero.error?.message.contains(files[0].path) == true)
    }

    @Test("WALReader.records returns records after an LSN and stops quietly at a torn tail without repairing it")
    func reader() throws {
        let dir = TemporaryDirectory("toondb-wal")
        let wal = dir.child("wal")
        let (writer, _) = try openWriter(wal, segmentSize: 1024)
        try appendEach(writer, from: 1, count: 40)
        let all = try WALReader.records(directory: wal, backend: POSIXBackend(), after: 0)
        let expected = (1...40).map { expectedRecord($0) }
        #expect(all == expected)
        let tailOnly = try WALReader.records(directory: wal, backend: POSIXBackend(), after: 33).map(\.lsn)
        #expect(tailOnly == Array(34...40))
        #expect(try WALReader.records(directory: wal, backend: POSIXBackend(), after: 40).isEmpty)

        let last = try segments(wal).last!
        var bytes = try FileDamage.read(last.path)
        bytes += [0x13, 0x00, 0x00, 0x00, 0xAA, 0xBB]  // a torn record header
        try FileDamage.write(last.path, bytes)
        let torn = try WALReader.records(directory: wal, backend: POSIXBackend(), after: 0)
        #expect(torn == all)
        #expect(try FileSystem.fileSize(last.path) == Int64(bytes.count), "the reader does not truncate")
        #expect(try WALReader.records(directory: dir.child("no-such-wal"), backend: POSIXBackend(), after: 0).isEmpty)
    }
}

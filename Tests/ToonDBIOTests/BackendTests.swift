#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization
import Testing
import ToonDBIO

/// Behaviour every backend must share; each test runs against POSIX and io_uring.
@Suite("IOBackend behaviour")
struct BackendTests {
    @Test("write and read back at several offsets", arguments: IOBackendKind.allCases)
    func roundTripAtOffsets(kind: IOBackendKind) throws {
        let backend = try makeBackend(kind)
        #expect(backend.kind == kind)
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = dir + "/data"
        let file = try File.open(path, .createNew)
        let pieces: [(offset: Int64, bytes: [UInt8])] = [
            (0, pattern(100, seed: 1)),
            (4096, pattern(4096, seed: 2)),
            (10_000, pattern(777, seed: 3)),
            (1_048_579, pattern(65_536 + 5, seed: 4)),
        ]
        for piece in pieces { try write(backend, file, piece.bytes, at: piece.offset) }
        #expect(try file.size() == 1_048_579 + 65_536 + 5)
        for piece in pieces {
            #expect(try read(backend, file, count: piece.bytes.count, at: piece.offset) == piece.bytes)
        }
        // The hole between two writes reads as zeros; an overwrite replaces bytes in place.
        #expect(try read(backend, file, count: 3996, at: 100) == [UInt8](repeating: 0, count: 3996))
        try write(backend, file, [1, 2, 3], at: 4097)
        var expected = pieces[1].bytes
        expected.replaceSubrange(1..<4, with: [1, 2, 3])
        #expect(try read(backend, file, count: 4096, at: 4096) == expected)
        // What the backend wrote is what the kernel has.
        let whole = try contentsOf(path)
        #expect(Array(whole[10_000..<10_777]) == pieces[2].bytes)
    }

    @Test("reads at or past end of file return short counts", arguments: IOBackendKind.allCases)
    func readsPastEndOfFile(kind: IOBackendKind) throws {
        let backend = try makeBackend(kind)
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let file = try File.open(dir + "/short", .createNew)
        let bytes = pattern(1000, seed: 7)
        try write(backend, file, bytes, at: 0)
        #expect(try read(backend, file, count: 4096, at: 0) == bytes)
        #expect(try read(backend, file, count: 200, at: 900) == Array(bytes[900...]))
        #expect(try read(backend, file, count: 10, at: 1000) == [])
        #expect(try read(backend, file, count: 10, at: 50_000) == [])
        #expect(try read(backend, file, count: 0, at: 0) == [])
    }

    @Test("8 MiB write and read in one call", arguments: IOBackendKind.allCases)
    func bigWrite(kind: IOBackendKind) throws {
        let backend = try makeBackend(kind)
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = dir + "/big"
        let file = try File.open(path, .createNew)
        let bytes = pattern(8 << 20, seed: 11)
        try write(backend, file, bytes, at: 512)
        try backend.sync(file, dataOnly: false)
        #expect(try file.size() == Int64(512 + bytes.count))
        #expect(try read(backend, file, count: bytes.count, at: 512) == bytes)
        #expect(try contentsOf(path) == [UInt8](repeating: 0, count: 512) + bytes)
    }

    @Test("writeAndSync appends land in order", arguments: IOBackendKind.allCases)
    func writeAndSyncAppends(kind: IOBackendKind) throws {
        let backend = try makeBackend(kind)
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = dir + "/wal"
        let file = try File.open(path, .createNew)
        var expected: [UInt8] = []
        for i in 0..<150 {
            let record = pattern(1 + (i * 613) % 9000, seed: UInt64(100 + i))
            try record.withBytes { (buffer) throws(IOError) in
                try backend.writeAndSync(file, buffer, at: Int64(expected.count))
            }
            expected += record
        }
        // An empty write-and-sync is only a sync.
        try [UInt8]().withBytes { (buffer) throws(IOError) in try backend.writeAndSync(file, buffer, at: 0) }
        #expect(try file.size() == Int64(expected.count))
        #expect(try contentsOf(path) == expected)
    }

    @Test("readBatch with more requests than the ring depth", arguments: IOBackendKind.allCases)
    func readBatchManyRequests(kind: IOBackendKind) throws {
        let backend = try makeBackend(kind)
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let bytes = pattern(1 << 20, seed: 21)
        let first = try File.open(dir + "/a", .createNew)
        try write(backend, first, bytes, at: 0)
        let otherBytes = pattern(10_000, seed: 22)
        let second = try File.open(dir + "/b", .createNew)
        try write(backend, second, otherBytes, at: 0)

        // 300 requests over two files: ordinary, crossing end of file, past it, empty.
        struct Plan { var second: Bool; var offset: Int; var length: Int }
        var plans: [Plan] = []
        for i in 0..<300 {
            switch i % 10 {
            case 7: plans.append(Plan(second: false, offset: bytes.count - 100, length: 4096))   // crosses EOF
            case 8: plans.append(Plan(second: false, offset: bytes.count + 4096 * i, length: 512)) // past EOF
            case 9: plans.append(Plan(second: true, offset: (i * 37) % 9000, length: 2000))       // other file
            default: plans.append(Plan(second: false, offset: (i * 7919) % (bytes.count - 70_000), length: 1 + (i * 331) % 65_536))
            }
        }
        plans.append(Plan(second: false, offset: 0, length: 0))
        let buffers = plans.map { UnsafeMutableRawBufferPointer.allocate(byteCount: max($0.length, 1), alignment: 16) }
        defer { buffers.forEach { $0.deallocate() } }
        let requests = plans.indices.map { i in
            ReadRequest(descriptor: plans[i].second ? second.descriptor : first.descriptor,
                        buffer: UnsafeMutableRawBufferPointer(rebasing: buffers[i][0..<plans[i].length]),
                        offset: Int64(plans[i].offset))
        }
        let counts = try backend.readBatch(requests)
        #expect(counts.count == plans.count)
        for (i, plan) in plans.enumerated() {
            let source = plan.second ? otherBytes : bytes
            let end = min(plan.offset + plan.length, source.count)
            let expected = plan.offset < end ? Array(source[plan.offset..<end]) : []
            #expect(counts[i] == expected.count, "request \(i)")
            #expect(Array(buffers[i][0..<counts[i]]) == expected, "request \(i)")
        }
        #expect(try backend.readBatch([]) == [])
    }

    @Test("StreamWriter: 1,000 appends of varying size at depth 8", arguments: IOBackendKind.allCases)
    func streamWriterManyAppends(kind: IOBackendKind) throws {
        let backend = try makeBackend(kind)
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = dir + "/table"
        let file = try File.open(path, .createNew)
        let header = pattern(100, seed: 31)
        try write(backend, file, header, at: 0)
        let writer = try backend.makeStreamWriter(for: file, startingAt: 100, depth: 8)
        var expected = header
        for i in 0..<1000 {
            let chunk = pattern((i * 7_919) % 20_000 + (i % 3 == 0 ? 0 : 1), seed: UInt64(1000 + i))
            try writer.append(chunk)
            expected += chunk
            #expect(writer.bytesQueued == Int64(expected.count - 100))
        }
        try writer.finish(sync: true)
        #expect(try file.size() == Int64(expected.count))
        #expect(try contentsOf(path) == expected)
    }

    @Test("StreamWriter at depth 1 and at a depth beyond the ring", arguments: IOBackendKind.allCases, [1, 1000])
    func streamWriterDepths(kind: IOBackendKind, depth: Int) throws {
        let backend = try makeBackend(kind)
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = dir + "/table"
        let file = try File.open(path, .createNew)
        // Two writers one after the other on the same backend (the ring goes back to the pool).
        var expected: [UInt8] = []
        for round in 0..<2 {
            let writer = try backend.makeStreamWriter(for: file, startingAt: Int64(expected.count), depth: depth)
            for i in 0..<300 {
                let chunk = pattern(4096 + i, seed: UInt64(round * 1000 + i))
                try writer.append(chunk)
                expected += chunk
            }
            try writer.finish(sync: round == 1)
        }
        #expect(try contentsOf(path) == expected)
    }

    @Test("writing to a read-only descriptor fails with EBADF naming the path", arguments: IOBackendKind.allCases)
    func writeToReadOnlyFile(kind: IOBackendKind) throws {
        let backend = try makeBackend(kind)
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = dir + "/readonly"
        do { _ = try File.open(path, .createNew) }
        let file = try File.open(path, .readOnly)
        let bytes = pattern(4096, seed: 41)

        let plain = ioError { try write(backend, file, bytes, at: 0) }
        #expect(plain?.errno == EBADF)
        #expect(plain?.path == path)
        #expect(plain?.description.contains(path) == true)
        #expect(plain?.description.contains("errno \(EBADF)") == true)

        let synced = ioError {
            try bytes.withBytes { (buffer) throws(IOError) in try backend.writeAndSync(file, buffer, at: 0) }
        }
        #expect(synced?.errno == EBADF)
        #expect(synced?.description.contains(path) == true)

        // A stream writer reports the failure from an append or at the latest from finish.
        let streamed = ioError {
            let writer = try backend.makeStreamWriter(for: file, startingAt: 0, depth: 4)
            for _ in 0..<8 { try writer.append(bytes) }
            try writer.finish(sync: false)
        }
        #expect(streamed?.errno == EBADF)
        #expect(streamed?.path == path)
        #expect(try file.size() == 0)
    }

    @Test("an invalid descriptor gives errors, not crashes", arguments: IOBackendKind.allCases)
    func invalidDescriptor(kind: IOBackendKind) throws {
        let backend = try makeBackend(kind)
        let file = File(descriptor: -1, path: "/nonexistent/invalid")
        let readError = ioError { _ = try read(backend, file, count: 100, at: 0) }
        #expect(readError?.errno == EBADF)
        #expect(readError?.path == "/nonexistent/invalid")
        let dataSyncError = ioError { try backend.sync(file, dataOnly: true) }
        let syncError = ioError { try backend.sync(file, dataOnly: false) }
        #expect(dataSyncError?.errno == EBADF)
        #expect(syncError?.errno == EBADF)

        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
        defer { buffer.deallocate() }
        let batchError = ioError { _ = try backend.readBatch([ReadRequest(descriptor: -1, buffer: buffer, offset: 0)]) }
        #expect(batchError?.errno == EBADF)
        // The backend still works after the failures.
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let good = try File.open(dir + "/ok", .createNew)
        try write(backend, good, [9, 8, 7], at: 0)
        #expect(try read(backend, good, count: 3, at: 0) == [9, 8, 7])
    }

    @Test("4 threads x 200 operations on separate regions of one file", arguments: IOBackendKind.allCases)
    func concurrentUse(kind: IOBackendKind) throws {
        let backend = try makeBackend(kind)
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = dir + "/shared"
        let shared = SharedFile(try File.open(path, .createNew))
        let threads = 4
        let operations = 200
        let block = 2048
        let failures = Mutex<[String]>([])
        let group = DispatchGroup()
        for t in 0..<threads {
            DispatchQueue(label: "io-test-\(t)").async(group: group) {
                do {
                    for op in 0..<operations {
                        let slot = op / 2
                        let offset = Int64((t * operations + slot) * block)
                        let bytes = pattern(block, seed: UInt64(t * 10_000 + slot))
                        if op % 2 == 0 {
                            if slot % 10 == 0 {
                                try bytes.withBytes { (buffer) throws(IOError) in
                                    try backend.writeAndSync(shared.file, buffer, at: offset)
                                }
                            } else {
                                try write(backend, shared.file, bytes, at: offset)
                            }
                        } else if try read(backend, shared.file, count: block, at: offset) != bytes {
                            failures.withLock { $0.append("thread \(t) op \(op): read back different bytes") }
                        }
                    }
                } catch {
                    failures.withLock { $0.append("thread \(t): \(error)") }
                }
            }
        }
        group.wait()
        #expect(failures.withLock { $0 } == [])
        var expected: [UInt8] = []
        for t in 0..<threads {
            for slot in 0..<operations {
                expected += slot < operations / 2 ? pattern(block, seed: UInt64(t * 10_000 + slot)) : [UInt8](repeating: 0, count: block)
            }
        }
        let whole = try contentsOf(path)
        // The last thread's unwritten tail is beyond end of file.
        #expect(whole == Array(expected[0..<whole.count]))
        #expect(whole.count == ((threads - 1) * operations + operations / 2) * block)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Testing
import ToonDBIO

@Suite("FaultInjectingBackend")
struct FaultInjectionTests {
    @Test("injected ENOSPC fails writes with isNoSpace; healing restores them", arguments: IOBackendKind.allCases)
    func noSpaceThenHeal(kind: IOBackendKind) throws {
        let backend = FaultInjectingBackend(wrapping: try makeBackend(kind))
        #expect(backend.kind == kind)
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = dir + "/wal-000001"
        let file = try File.open(path, .createNew)
        let bytes = pattern(4096, seed: 71)
        backend.inject(.init(writeErrno: ENOSPC))

        let plain = ioError { try write(backend, file, bytes, at: 0) }
        #expect(plain?.isNoSpace == true)
        #expect(plain?.errno == ENOSPC)
        #expect(plain?.path == path)
        let synced = ioError { try bytes.withBytes { (b) throws(IOError) in try backend.writeAndSync(file, b, at: 0) } }
        #expect(synced?.isNoSpace == true)
        let streamed = ioError {
            let writer = try backend.makeStreamWriter(for: file, startingAt: 0, depth: 4)
            try writer.append(bytes)
        }
        #expect(streamed?.isNoSpace == true)
        // Nothing reached the file, and reads and syncs still work.
        #expect(try file.size() == 0)
        try backend.sync(file, dataOnly: true)

        backend.heal()
        try write(backend, file, bytes, at: 0)
        let writer = try backend.makeStreamWriter(for: file, startingAt: 4096, depth: 4)
        try writer.append(bytes)
        try writer.finish(sync: true)
        #expect(try read(backend, file, count: 8192, at: 0) == bytes + bytes)
    }

    @Test("sync, read and path-filtered faults", arguments: IOBackendKind.allCases)
    func otherFaults(kind: IOBackendKind) throws {
        let backend = FaultInjectingBackend(wrapping: try makeBackend(kind))
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let wal = try File.open(dir + "/wal-1", .createNew)
        let table = try File.open(dir + "/table-1", .createNew)
        backend.inject(.init(syncErrno: EIO))
        let syncError = ioError { try backend.sync(wal, dataOnly: true) }
        let writeAndSyncError = ioError { try [1].withBytes { (b) throws(IOError) in try backend.writeAndSync(wal, b, at: 0) } }
        #expect(syncError?.errno == EIO)
        #expect(writeAndSyncError?.errno == EIO)

        backend.inject(.init(readErrno: EIO))
        let readError = ioError { _ = try read(backend, wal, count: 1, at: 0) }
        #expect(readError?.errno == EIO)

        backend.inject(.init(writeErrno: EDQUOT, pathFilter: "wal-"))
        let quota = ioError { try write(backend, wal, [1], at: 0) }
        #expect(quota?.isNoSpace == true)
        try write(backend, table, [1, 2], at: 0)
        #expect(try read(backend, table, count: 2, at: 0) == [1, 2])
    }
}

@Suite("File and FileSystem")
struct FileSystemTests {
    @Test("tryLock succeeds on a fresh file and our own lock is not reported as a conflict")
    func tryLock() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let file = try File.open(dir + "/LOCK", .createNew)
        #expect(try file.tryLock() == true)
        #expect(file.lockHolder() == nil)
    }

    @Test("open errors carry errno and path")
    func openErrors() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let missing = dir + "/missing/file"
        let missingError = ioError { _ = try File.open(missing, .readOnly) }
        #expect(missingError?.errno == ENOENT)
        let path = dir + "/once"
        do { _ = try File.open(path, .createNew) }
        let again = ioError { _ = try File.open(path, .createNew) }
        #expect(again?.errno == EEXIST)
        #expect(again?.description.contains(path) == true)
    }

    @Test("size, truncate and preallocate")
    func sizeAndTruncate() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let file = try File.open(dir + "/sized", .createNew)
        #expect(try file.size() == 0)
        try file.preallocate(offset: 0, length: 1 << 20)
        try file.truncate(to: 12_345)
        #expect(try file.size() == 12_345)
        #expect(try FileSystem.fileSize(dir + "/sized") == 12_345)
    }

    @Test("writeAtomically then readAll, replacing the old contents", arguments: IOBackendKind.allCases)
    func writeAtomicallyReadAll(kind: IOBackendKind) throws {
        let backend = try makeBackend(kind)
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = dir + "/MANIFEST"
        let first = pattern(10_000, seed: 81)
        try FileSystem.writeAtomically(path, first, backend: backend)
        #expect(try FileSystem.readAll(path, backend: backend) == first)
        let second = pattern(300, seed: 82)
        try FileSystem.writeAtomically(path, second, backend: backend)
        #expect(try FileSystem.readAll(path, backend: backend) == second)
        #expect(try FileSystem.listDirectory(dir) == ["MANIFEST"]) // no temporary left behind
        try FileSystem.writeAtomically(path, [], backend: backend)
        #expect(try FileSystem.readAll(path, backend: backend) == [])
        let absentError = ioError { _ = try FileSystem.readAll(dir + "/absent", backend: backend) }
        #expect(absentError?.errno == ENOENT)
    }

    @Test("createDirectory makes nested directories; listDirectory is sorted without . and ..")
    func directories() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let nested = dir + "/a/b/c"
        try FileSystem.createDirectory(nested)
        #expect(FileSystem.isDirectory(dir + "/a"))
        #expect(FileSystem.isDirectory(nested))
        try FileSystem.createDirectory(nested) // already there: fine
        for name in ["zeta", "alpha", "m-1"] {
            do { _ = try File.open(nested + "/" + name, .createNew) }
        }
        #expect(try FileSystem.listDirectory(nested) == ["alpha", "m-1", "zeta"])
        #expect(try FileSystem.listDirectory(dir + "/a") == ["b"])
        let listError = ioError { _ = try FileSystem.listDirectory(dir + "/nope") }
        #expect(listError?.errno == ENOENT)

        try FileSystem.rename(nested + "/alpha", to: nested + "/beta")
        try FileSystem.hardLink(nested + "/beta", at: nested + "/gamma")
        try FileSystem.remove(nested + "/zeta")
        try FileSystem.remove(nested + "/zeta") // missing: fine
        try FileSystem.syncDirectory(nested)
        #expect(try FileSystem.listDirectory(nested) == ["beta", "gamma", "m-1"])
        try FileSystem.removeTree(dir + "/a")
        #expect(!FileSystem.exists(dir + "/a"))
        #expect(FileSystem.directoryName("/x/y/z") == "/x/y")
        #expect(FileSystem.directoryName("/x") == "/")
        #expect(FileSystem.directoryName("x") == ".")
    }
}

@Suite("FileMapping")
struct FileMappingTests {
    @Test("stores into a shared mapping are the file's bytes for pread, across the backends, and survive unmapping",
          arguments: IOBackendKind.allCases)
    func storesAreFileBytes(kind: IOBackendKind) throws {
        let backend = try makeBackend(kind)
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = dir + "/mapped"
        let bytes = pattern(10_000, seed: 5)
        do {
            let file = try File.open(path, .createNew)
            // (Results bound first: an #expect's autoclosure cannot borrow the ~Copyable file.)
            let reserved = try backend.preallocate(file, offset: 0, length: 16_384)
            let size = try file.size()
            #expect(reserved)
            #expect(size == 16_384)
            let mapping = try FileMapping(file, length: 10_000)
            #expect(mapping.length == 12_288, "rounded up to whole pages")
            let base = mapping.base
            bytes.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            // Visible to reads of the file at once, before any sync or unmap.
            let seen = try read(backend, file, count: bytes.count, at: 0)
            #expect(seen == bytes)
            try backend.sync(file, dataOnly: true)
        }
        // The file closed and unmapped: its contents stay, zeros after what was stored.
        let reread = try FileSystem.readAll(path, backend: backend)
        #expect(reread.count == 16_384)
        #expect(Array(reread.prefix(bytes.count)) == bytes)
        #expect(reread.dropFirst(bytes.count).allSatisfy { $0 == 0 })
    }

    @Test("mapping a closed descriptor fails with an IOError naming mmap and the path")
    func mapFailure() throws {
        let error = ioError {
            let file = File(descriptor: 1_000_000, path: "/nonexistent/segment")  // never opened
            _ = try FileMapping(file, length: 4096)
        }
        #expect(error?.errno == EBADF)
        #expect(error?.description.contains("mmap") == true)
        #expect(error?.description.contains("/nonexistent/segment") == true)
    }
}

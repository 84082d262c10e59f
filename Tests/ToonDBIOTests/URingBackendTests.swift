#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization
import Testing
import ToonDBIO

/// What only the io_uring backend does: the probe, the ring pool, the selector, linked
/// write+sync after a short write, and a stream writer that refuses appends after an error.
@Suite("URingBackend")
struct URingBackendTests {
    @Test("the probe either works or reports the kernel's refusal")
    func probe() throws {
        do {
            let backend = try URingBackend()
            #expect(backend.kind == .ioUring)
            #expect(backend.queueDepth == 64)
            #expect(backend.idleRingCount == 1) // the probe ring is pooled
        } catch {
            #expect([EPERM, ENOSYS, EACCES].contains(error.errno), "unexpected refusal: \(error)")
            #expect(error.operation.hasPrefix("io_uring"))
        }
    }

    @Test("the selector honours an explicit POSIX preference and falls back automatically")
    func selector() throws {
        let forced = getenv("TOONDB_IO").map { String(cString: $0) }
        let posix = try IOBackendSelector.make(.posix)
        let automatic = try IOBackendSelector.make(.automatic)
        switch forced {
        case nil:
            #expect(posix.kind == .posix)
            let uringWorks = (try? URingBackend()) != nil
            #expect(automatic.kind == (uringWorks ? .ioUring : .posix))
        case "posix"?:
            #expect(automatic.kind == .posix)
        default:
            break
        }
    }

    @Test("the pool keeps at most maxIdleRings idle rings")
    func poolCap() throws {
        let backend = try makeURingBackend(queueDepth: 8, maxIdleRings: 2)
        #expect(backend.queueDepth == 8)
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let shared = SharedFile(try File.open(dir + "/pool", .createNew))
        let failures = Mutex<[String]>([])
        let group = DispatchGroup()
        for t in 0..<6 {
            DispatchQueue(label: "pool-\(t)").async(group: group) {
                do {
                    for i in 0..<50 {
                        let bytes = pattern(8192, seed: UInt64(t * 100 + i))
                        try write(backend, shared.file, bytes, at: Int64((t * 50 + i) * 8192))
                        if try read(backend, shared.file, count: 8192, at: Int64((t * 50 + i) * 8192)) != bytes {
                            failures.withLock { $0.append("thread \(t) block \(i) differs") }
                        }
                    }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        group.wait()
        #expect(failures.withLock { $0 } == [])
        let idle = backend.idleRingCount
        #expect(idle >= 1 && idle <= 2)
    }

    @Test("a negative offset is refused with EINVAL (io_uring would read it as 'current position')")
    func negativeOffset() throws {
        let backend = try makeBackend(.ioUring)
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let file = try File.open(dir + "/neg", .createNew)
        let writeError = ioError { try write(backend, file, [1], at: -1) }
        let readError = ioError { _ = try read(backend, file, count: 1, at: -1) }
        #expect(writeError?.errno == EINVAL)
        #expect(readError?.errno == EINVAL)
    }
}

/// Short writes, forced with RLIMIT_FSIZE: a write crossing the limit is cut at the limit
/// (short), and the next one fails with EFBIG. The limit (1 TiB) is far above any file
/// other tests write, and is restored afterwards; the cases run one at a time.
@Suite("Short writes at the file-size limit", .serialized)
struct ShortWriteTests {
    static let limit: Int64 = 1 << 40

    /// The saved limit and SIGXFSZ handler, restored by `restore()`.
    private struct SavedLimit {
        var limit: rlimit
        var handler: sighandler_t?
        func restore() {
            var limit = limit
            _ = setrlimit(fileSizeResource, &limit)
            _ = signal(SIGXFSZ, handler)
        }
    }

    /// Lowers the soft RLIMIT_FSIZE to ``limit`` and ignores SIGXFSZ (so EFBIG is returned).
    private func lowerFileSizeLimit() throws -> SavedLimit {
        var saved = rlimit()
        guard getrlimit(fileSizeResource, &saved) == 0 else { throw IOError.last("getrlimit") }
        var lowered = saved
        lowered.rlim_cur = rlim_t(Self.limit)
        let handler = signal(SIGXFSZ, SIG_IGN)
        guard setrlimit(fileSizeResource, &lowered) == 0 else {
            _ = signal(SIGXFSZ, handler)
            throw IOError.last("setrlimit")
        }
        return SavedLimit(limit: saved, handler: handler)
    }

    @Test("writeAndSync: short linked write is finished by hand and reports EFBIG", arguments: IOBackendKind.allCases)
    func writeAndSyncShort(kind: IOBackendKind) throws {
        let backend = try makeBackend(kind)
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = dir + "/limit"
        let file = try File.open(path, .createNew)
        let bytes = pattern(4096, seed: 51)
        let saved = try lowerFileSizeLimit()
        defer { saved.restore() }

        let error = ioError {
            try bytes.withBytes { (buffer) throws(IOError) in
                try backend.writeAndSync(file, buffer, at: Self.limit - 1000)
            }
        }
        #expect(error?.errno == EFBIG)
        #expect(error?.path == path)
        // The first 1000 bytes (up to the limit) were written.
        #expect(try file.size() == Self.limit)
        #expect(try read(backend, file, count: 4096, at: Self.limit - 1000) == Array(bytes[0..<1000]))
        // Below the limit everything works, and the sync goes through.
        try bytes.withBytes { (buffer) throws(IOError) in try backend.writeAndSync(file, buffer, at: 0) }
        #expect(try read(backend, file, count: 4096, at: 0) == bytes)
    }

    @Test("StreamWriter: a short write is resumed; the error then stops the writer", arguments: IOBackendKind.allCases)
    func streamWriterShort(kind: IOBackendKind) throws {
        let backend = try makeBackend(kind)
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = dir + "/limit-stream"
        let file = try File.open(path, .createNew)
        let chunk = pattern(3000, seed: 61)
        let saved = try lowerFileSizeLimit()
        defer { saved.restore() }

        // Chunks 0-2 fit below the limit, chunk 3 is cut after 1000 bytes, the rest fail.
        let writer = try backend.makeStreamWriter(for: file, startingAt: Self.limit - 10_000, depth: 4)
        var first: IOError?
        for _ in 0..<10 where first == nil {
            first = ioError { try writer.append(chunk) }
        }
        if first == nil { first = ioError { try writer.finish(sync: true) } }
        #expect(first?.errno == EFBIG)
        #expect(first?.path == path)
        #expect(try file.size() == Self.limit)
        // Everything below the limit was written, including the front of the cut chunk.
        let expected = Array(Array(Array(repeating: chunk, count: 4).joined())[0..<10_000])
        #expect(try read(backend, file, count: 10_000, at: Self.limit - 10_000) == expected)
        if kind == .ioUring {
            // The writer refuses further work with the first error (same offset and all).
            let afterAppend = ioError { try writer.append([1, 2, 3]) }
            let afterFinish = ioError { try writer.finish(sync: false) }
            #expect(afterAppend == first)
            #expect(afterFinish == first)
        }
    }
}

/// RLIMIT_FSIZE as the Int32 getrlimit/setrlimit take (Glibc imports it as an enum case).
private let fileSizeResource = __rlimit_resource_t(RLIMIT_FSIZE.rawValue)

#if canImport(Glibc)
import Glibc
#endif

/// pread, pwrite and fdatasync, one system call at a time, each retried on EINTR and
/// continued after a short transfer.
enum POSIXCalls {
    static func preadFully(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64, path: String?) throws(IOError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n > 0 { done += n; continue }
            if n == 0 { break }
            if Glibc.errno == EINTR { continue }
            throw IOError.last("pread", path: path, detail: "offset \(offset), length \(buffer.count)")
        }
        return done
    }

    static func pwriteFully(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, _ offset: Int64, path: String?) throws(IOError) {
        var done = 0
        while done < buffer.count {
            let n = pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n > 0 { done += n; continue }
            if n < 0 && Glibc.errno == EINTR { continue }
            if n == 0 { throw IOError(errno: EIO, operation: "pwrite", path: path, detail: "wrote 0 bytes at offset \(offset)") }
            throw IOError.last("pwrite", path: path, detail: "offset \(offset), length \(buffer.count)")
        }
    }

    static func sync(_ fd: Int32, dataOnly: Bool, path: String?) throws(IOError) {
        while (dataOnly ? fdatasync(fd) : fsync(fd)) != 0 {
            if Glibc.errno == EINTR { continue }
            throw IOError.last(dataOnly ? "fdatasync" : "fsync", path: path)
        }
    }
}

/// The portable backend: used where io_uring is refused, or when `TOONDB_IO=posix`.
public final class POSIXBackend: IOBackend {
    public init() {}

    public var kind: IOBackendKind { .posix }

    public func read(_ file: borrowing File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(IOError) -> Int {
        try POSIXCalls.preadFully(file.descriptor, buffer, offset, path: file.path)
    }

    public func write(_ file: borrowing File, _ buffer: UnsafeRawBufferPointer, at offset: Int64) throws(IOError) {
        try POSIXCalls.pwriteFully(file.descriptor, buffer, offset, path: file.path)
    }

    public func sync(_ file: borrowing File, dataOnly: Bool) throws(IOError) {
        try POSIXCalls.sync(file.descriptor, dataOnly: dataOnly, path: file.path)
    }

    public func writeAndSync(_ file: borrowing File, _ buffer: UnsafeRawBufferPointer, at offset: Int64) throws(IOError) {
        try POSIXCalls.pwriteFully(file.descriptor, buffer, offset, path: file.path)
        try POSIXCalls.sync(file.descriptor, dataOnly: true, path: file.path)
    }

    public func makeStreamWriter(for file: borrowing File, startingAt offset: Int64, depth: Int) throws(IOError) -> any StreamWriter {
        POSIXStreamWriter(descriptor: file.descriptor, path: file.path, offset: offset)
    }
}

/// Writes each append synchronously.
final class POSIXStreamWriter: StreamWriter {
    private let descriptor: Int32
    private let path: String
    private let start: Int64
    private var offset: Int64

    init(descriptor: Int32, path: String, offset: Int64) {
        self.descriptor = descriptor
        self.path = path
        self.start = offset
        self.offset = offset
    }

    var bytesQueued: Int64 { offset - start }

    func append(_ bytes: [UInt8]) throws(IOError) {
        try bytes.withBytes { (buffer) throws(IOError) in
            try POSIXCalls.pwriteFully(descriptor, buffer, offset, path: path)
        }
        offset += Int64(bytes.count)
    }

    func finish(sync: Bool) throws(IOError) {
        if sync { try POSIXCalls.sync(descriptor, dataOnly: true, path: path) }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import CToonDBURing

/// The io_uring backend (placeholder until the shim lands: refuses with ENOSYS).
public final class URingBackend: IOBackend {
    public init() throws(IOError) {
        throw IOError(errno: ENOSYS, operation: "io_uring_queue_init")
    }
    public var kind: IOBackendKind { .ioUring }
    public func read(_ file: borrowing File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(IOError) -> Int { 0 }
    public func write(_ file: borrowing File, _ buffer: UnsafeRawBufferPointer, at offset: Int64) throws(IOError) {}
    public func sync(_ file: borrowing File, dataOnly: Bool) throws(IOError) {}
    public func writeAndSync(_ file: borrowing File, _ buffer: UnsafeRawBufferPointer, at offset: Int64) throws(IOError) {}
    public func makeStreamWriter(for file: borrowing File, startingAt offset: Int64, depth: Int) throws(IOError) -> any StreamWriter {
        throw IOError(errno: ENOSYS, operation: "io_uring")
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Testing
import ToonDBIO

/// A fresh directory under /tmp (mkdtemp); remove it with ``removeTemporaryDirectory(_:)``
/// in a `defer`. (Tests use straight-line code rather than a `with...` closure: with Swift
/// 6.3.1, a closure inside `#expect` nested in another closure was seen not to run.)
func makeTemporaryDirectory() throws -> String {
    var template = Array("/tmp/toondb-io-test-XXXXXX".utf8CString)
    let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    guard let created else { throw IOError.last("mkdtemp", path: "/tmp") }
    return String(cString: created)
}

func removeTemporaryDirectory(_ path: String) {
    do { try FileSystem.removeTree(path) } catch { Issue.record("cannot remove \(path): \(error)") }
}

/// The backend of `kind`. io_uring is expected to work on the development machine; where
/// the kernel refuses it (EPERM/ENOSYS/EACCES) the io_uring case is cancelled, not passed.
func makeBackend(_ kind: IOBackendKind) throws -> any IOBackend {
    switch kind {
    case .posix:
        return POSIXBackend()
    case .ioUring:
        return try makeURingBackend()
    }
}

/// A URingBackend; the test case is cancelled (not passed) where the kernel refuses io_uring.
func makeURingBackend(queueDepth: Int = 64, maxIdleRings: Int = 8) throws -> URingBackend {
    let result = Result { () throws(IOError) in try URingBackend(queueDepth: queueDepth, maxIdleRings: maxIdleRings) }
    if case .failure(let error) = result, [EPERM, ENOSYS, EACCES].contains(error.errno) {
        try Test.cancel("io_uring refused by the kernel: \(error)")
    }
    return try result.get()
}

/// Deterministic pseudo-random bytes (xorshift64*), different for each seed.
func pattern(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    var bytes = [UInt8](repeating: 0, count: count)
    for i in 0..<count {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        bytes[i] = UInt8(truncatingIfNeeded: (state &* 0x2545_F491_4F6C_DD1D) >> 56)
    }
    return bytes
}

/// Writes `bytes` at `offset`.
func write(_ backend: any IOBackend, _ file: borrowing File, _ bytes: [UInt8], at offset: Int64) throws {
    try bytes.withBytes { (buffer) throws(IOError) in try backend.write(file, buffer, at: offset) }
}

/// Reads up to `count` bytes at `offset`; the result is shorter only at end of file.
func read(_ backend: any IOBackend, _ file: borrowing File, count: Int, at offset: Int64) throws -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    let n = try bytes.withMutableBytes { (buffer) throws(IOError) in try backend.read(file, into: buffer, at: offset) }
    bytes.removeLast(count - n)
    return bytes
}

/// The whole file, read with plain POSIX calls (independent of the backend under test).
func contentsOf(_ path: String) throws -> [UInt8] {
    try FileSystem.readAll(path, backend: POSIXBackend())
}

/// Runs the error-producing `body` and returns the IOError it throws (nil when it succeeds).
func ioError(_ body: () throws -> Void) -> IOError? {
    do {
        try body()
        return nil
    } catch let error as IOError {
        return error
    } catch {
        Issue.record("unexpected error type: \(error)")
        return nil
    }
}

/// A `File` several threads can borrow.
final class SharedFile: Sendable {
    let file: File
    init(_ file: consuming File) { self.file = file }
}

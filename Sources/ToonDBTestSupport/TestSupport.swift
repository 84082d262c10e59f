#if canImport(Glibc)
import Glibc
#endif
import ToonDBEngine
import ToonDBIO
import ToonDBVector
import ToonDBWAL

/// A fresh directory under /tmp, removed (with everything in it) when this value goes away.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init(_ label: String = "toondb") {
        var template = Array("/tmp/\(label)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed: errno \(errno)")
        path = String(cString: template)
    }

    /// A path inside this directory.
    public func child(_ name: String) -> String { path + "/" + name }

    deinit { try? FileSystem.removeTree(path) }
}

/// A small, fast, seedable generator so randomized tests are reproducible: the project's one
/// SplitMix64 (ToonDBVector's, which also draws the HNSW levels).
public typealias SeededRandom = SplitMix64

extension SplitMix64 {
    public mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) } }
}

/// UTF-8 bytes of a string (tests use readable keys).
public func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// The directory holding the running test binary, where SwiftPM also puts the package's
/// executables (used to find `toondb-crash-writer` and `toondb`).
public func buildProductsDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard count > 0 else { return ".build/debug" }
    let exe = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    var directory = FileSystem.directoryName(exe)
    // XCTest bundles on Linux: .build/debug/ToonDBPackageTests.xctest
    if directory.hasSuffix(".xctest") { directory = FileSystem.directoryName(directory) }
    return directory
}

/// Options for tests: small memtables and tables so flushes and compactions happen with
/// little data, on the given I/O backend.
public func testOptions(backend: IOBackendSelector.Preference = .posix, memtable: Int = 64 << 10) -> DatabaseOptions {
    var options = DatabaseOptions()
    options.ioBackend = backend
    options.memtableSize = memtable
    options.targetTableSize = 64 << 10
    options.level1MaxBytes = 256 << 10
    options.walSegmentSize = 64 << 10
    options.blockCacheSize = 1 << 20
    options.syncMode = .off
    options.logger.logLevel = .warning
    return options
}

/// The I/O backends this machine can run (io_uring only where the kernel allows it).
public var availableBackends: [IOBackendSelector.Preference] {
    (try? URingBackend()) != nil ? [.posix, .ioUring] : [.posix]
}

/// Reading and damaging files byte by byte, for corruption and recovery tests.
public enum FileDamage {
    public static func read(_ path: String) throws -> [UInt8] { try FileSystem.readAll(path, backend: POSIXBackend()) }

    /// Replaces the file's contents.
    public static func write(_ path: String, _ bytes: [UInt8]) throws {
        let file = try File.open(path, .createTruncate)
        try bytes.withBytes { (raw) throws(IOError) in try POSIXBackend().write(file, raw, at: 0) }
    }

    public static func write(_ path: String, _ text: String) throws { try write(path, Array(text.utf8)) }

    /// XORs the byte at `offset` with `mask`.
    public static func flip(_ path: String, at offset: Int, mask: UInt8 = 0x20) throws {
        var bytes = try read(path)
        bytes[offset] ^= mask
        try write(path, bytes)
    }

    public static func truncate(_ path: String, to length: Int64) throws {
        let file = try File.open(path, .readWrite)
        try file.truncate(to: length)
    }

    /// (offset, size, LSN) of every well-formed record of a WAL segment, in order.
    public static func walRecords(_ segment: String) throws -> [(offset: Int, size: Int, lsn: LSN)] {
        let bytes = try read(segment)
        return bytes.withUnsafeBytes { raw in
            var result: [(offset: Int, size: Int, lsn: LSN)] = []
            var offset = WALFormat.segmentHeaderSize
            while offset < raw.count, case .record(let record) = WALFormat.parseRecord(raw, at: offset) {
                result.append((offset, record.size, record.lsn))
                offset += record.size
            }
            return result
        }
    }
}

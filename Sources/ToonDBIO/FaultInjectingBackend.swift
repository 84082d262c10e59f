#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Wraps a backend and fails writes or syncs on demand with a chosen errno, the way a full
/// disk (ENOSPC) or a failing device (EIO) would. For fault-injection tests.
public final class FaultInjectingBackend: IOBackend {
    /// What to fail.
    public struct Faults: Sendable, Equatable {
        /// errno for writes (nil: writes succeed).
        public var writeErrno: Int32?
        /// errno for syncs (nil: syncs succeed).
        public var syncErrno: Int32?
        /// errno for reads (nil: reads succeed).
        public var readErrno: Int32?
        /// When set, only paths containing this text fail.
        public var pathFilter: String?
        public init(writeErrno: Int32? = nil, syncErrno: Int32? = nil, readErrno: Int32? = nil, pathFilter: String? = nil) {
            self.writeErrno = writeErrno
            self.syncErrno = syncErrno
            self.readErrno = readErrno
            self.pathFilter = pathFilter
        }
    }

    public let base: any IOBackend
    private let faults = Mutex(Faults())

    public init(wrapping base: any IOBackend) { self.base = base }

    public var kind: IOBackendKind { base.kind }

    /// Replaces the current faults; `Faults()` heals everything.
    public func inject(_ newFaults: Faults) { faults.withLock { $0 = newFaults } }
    public func heal() { inject(Faults()) }

    private func check(_ path: String?, _ pick: (Faults) -> Int32?, _ operation: String) throws(IOError) {
        let current = faults.withLock { $0 }
        guard let code = pick(current) else { return }
        if let filter = current.pathFilter, !(path ?? "").contains(filter) { return }
        throw IOError(errno: code, operation: operation + " (injected)", path: path)
    }

    public func read(_ file: borrowing File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(IOError) -> Int {
        try check(file.path, { $0.readErrno }, "read")
        return try base.read(file, into: buffer, at: offset)
    }

    public func write(_ file: borrowing File, _ buffer: UnsafeRawBufferPointer, at offset: Int64) throws(IOError) {
        try check(file.path, { $0.writeErrno }, "write")
        try base.write(file, buffer, at: offset)
    }

    public func sync(_ file: borrowing File, dataOnly: Bool) throws(IOError) {
        try check(file.path, { $0.syncErrno }, "sync")
        try base.sync(file, dataOnly: dataOnly)
    }

    /// Fails like a write: a full disk refuses a reservation as it refuses a write.
    public func preallocate(_ file: borrowing File, offset: Int64, length: Int64) throws(IOError) -> Bool {
        try check(file.path, { $0.writeErrno }, "preallocate")
        return try base.preallocate(file, offset: offset, length: length)
    }

    public func writeAndSync(_ file: borrowing File, _ buffer: UnsafeRawBufferPointer, at offset: Int64) throws(IOError) {
        try check(file.path, { $0.writeErrno }, "write")
        try check(file.path, { $0.syncErrno }, "sync")
        try base.writeAndSync(file, buffer, at: offset)
    }

    public func readBatch(_ requests: [ReadRequest]) throws(IOError) -> [Int] {
        try check(nil, { $0.readErrno }, "read")
        return try base.readBatch(requests)
    }

    public func makeStreamWriter(for file: borrowing File, startingAt offset: Int64, depth: Int) throws(IOError) -> any StreamWriter {
        let inner = try base.makeStreamWriter(for: file, startingAt: offset, depth: depth)
        return FaultyStreamWriter(inner: inner, owner: self, path: file.path)
    }

    fileprivate func checkWrite(_ path: String) throws(IOError) { try check(path, { $0.writeErrno }, "write") }
    fileprivate func checkSync(_ path: String) throws(IOError) { try check(path, { $0.syncErrno }, "sync") }
}

private final class FaultyStreamWriter: StreamWriter {
    let inner: any StreamWriter
    let owner: FaultInjectingBackend
    let path: String
    init(inner: any StreamWriter, owner: FaultInjectingBackend, path: String) {
        self.inner = inner
        self.owner = owner
        self.path = path
    }
    var bytesQueued: Int64 { inner.bytesQueued }
    func append(_ bytes: [UInt8]) throws(IOError) {
        try owner.checkWrite(path)
        try inner.append(bytes)
    }
    func finish(sync: Bool) throws(IOError) {
        if sync { try owner.checkSync(path) }
        try inner.finish(sync: sync)
    }
}

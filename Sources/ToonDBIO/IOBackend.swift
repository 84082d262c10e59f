#if canImport(Glibc)
import Glibc
#endif
import Logging

/// Which implementation moves the bytes.
public enum IOBackendKind: String, Sendable, CaseIterable {
    case ioUring = "io_uring"
    case posix = "posix"
}

/// One read of a batch: fill `buffer` from `offset` of the file behind `descriptor`.
public struct ReadRequest: @unchecked Sendable {
    public var descriptor: Int32
    public var buffer: UnsafeMutableRawBufferPointer
    public var offset: Int64
    public init(descriptor: Int32, buffer: UnsafeMutableRawBufferPointer, offset: Int64) {
        self.descriptor = descriptor
        self.buffer = buffer
        self.offset = offset
    }
}

/// The data path of every WAL and SSTable file: reads, writes and syncs.
///
/// Two implementations share this interface: ``URingBackend`` (io_uring through liburing)
/// and ``POSIXBackend`` (pread/pwrite/fdatasync). Both are safe to call from many threads.
/// Reads and writes are complete: a short transfer is retried until done, so a read returns
/// fewer bytes than asked only at end of file.
public protocol IOBackend: AnyObject, Sendable {
    var kind: IOBackendKind { get }

    /// Reads into `buffer` from `offset`; returns the bytes read (fewer only at end of file).
    func read(_ file: borrowing File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(IOError) -> Int

    /// Writes all of `buffer` at `offset`.
    func write(_ file: borrowing File, _ buffer: UnsafeRawBufferPointer, at offset: Int64) throws(IOError)

    /// fdatasync (`dataOnly`) or fsync.
    func sync(_ file: borrowing File, dataOnly: Bool) throws(IOError)

    /// Writes all of `buffer` at `offset`, then fdatasyncs; on io_uring one linked submission.
    func writeAndSync(_ file: borrowing File, _ buffer: UnsafeRawBufferPointer, at offset: Int64) throws(IOError)

    /// Performs several reads, all in flight at once where the backend can; returns the bytes
    /// read for each request, in order.
    func readBatch(_ requests: [ReadRequest]) throws(IOError) -> [Int]

    /// Reserves disk for `length` bytes from `offset`, extending the file with zeros (see
    /// ``File/preallocate(offset:length:)``); false where the file system cannot.
    func preallocate(_ file: borrowing File, offset: Int64, length: Int64) throws(IOError) -> Bool

    /// A writer that appends to `file` from `offset`, keeping up to `depth` writes in flight.
    /// The file must stay open until ``StreamWriter/finish(sync:)`` returns.
    func makeStreamWriter(for file: borrowing File, startingAt offset: Int64, depth: Int) throws(IOError) -> any StreamWriter
}

/// Appends to a file front to back with writes pipelined (SSTable and compaction output).
public protocol StreamWriter: AnyObject {
    /// Queues `bytes` at the next offset. The writer keeps the bytes until they are on disk.
    func append(_ bytes: [UInt8]) throws(IOError)
    /// Waits for every queued write, then fsyncs the file if `sync` is true.
    func finish(sync: Bool) throws(IOError)
    /// Bytes queued so far (the offset the next append lands at, minus the start).
    var bytesQueued: Int64 { get }
}

extension IOBackend {
    public func preallocate(_ file: borrowing File, offset: Int64, length: Int64) throws(IOError) -> Bool {
        try file.preallocate(offset: offset, length: length)
    }

    public func readBatch(_ requests: [ReadRequest]) throws(IOError) -> [Int] {
        var counts: [Int] = []
        counts.reserveCapacity(requests.count)
        for request in requests {
            counts.append(try POSIXCalls.preadFully(request.descriptor, request.buffer, request.offset, path: nil))
        }
        return counts
    }
}

/// Chooses the backend for a database.
public enum IOBackendSelector {
    /// What the caller asked for.
    public enum Preference: String, Sendable {
        case automatic = "auto"
        case ioUring = "io_uring"
        case posix = "posix"
    }

    /// `TOONDB_IO=posix` or `TOONDB_IO=io_uring` overrides `preference`. With `automatic`,
    /// io_uring is used when the kernel allows it (it is refused with EPERM or ENOSYS in many
    /// containers) and POSIX otherwise. An explicit `ioUring` that the kernel refuses throws.
    /// The choice is logged.
    public static func make(_ preference: Preference = .automatic, logger: Logger? = nil) throws(IOError) -> any IOBackend {
        var choice = preference
        if let value = getenv("TOONDB_IO").map({ String(cString: $0) }), let forced = Preference(rawValue: value) {
            choice = forced
        }
        switch choice {
        case .posix:
            logger?.info("I/O backend: posix", metadata: ["reason": "requested"])
            return POSIXBackend()
        case .ioUring:
            let backend = try URingBackend(inlineSingleOperations: true)
            logger?.info("I/O backend: io_uring", metadata: ["reason": "requested"])
            return backend
        case .automatic:
            do {
                let backend = try URingBackend(inlineSingleOperations: true)
                logger?.info("I/O backend: io_uring")
                return backend
            } catch {
                logger?.notice("I/O backend: posix", metadata: ["reason": "\(error)"])
                return POSIXBackend()
            }
        }
    }
}

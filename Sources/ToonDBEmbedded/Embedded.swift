import CToonDBABI
import ToonDBEngine

/// Shared plumbing of the exported functions: the handle tables and the error boundary.
enum Embedded {
    static let databases = HandleTable<DatabaseHandle>(tag: 1)
    static let scans = HandleTable<ScanHandle>(tag: 2)

    static func database(_ handle: OpaquePointer?) throws(StorageError) -> DatabaseHandle {
        switch databases.lookup(handle) {
        case .live(let database): return database
        case .removed: throw StorageError(.databaseClosed, "the database handle was closed")
        case .unknown: throw handle == nil ? .invalidArgument("database handle is NULL") : .invalidArgument("not an open database handle")
        }
    }

    static func scan(_ handle: OpaquePointer?) throws(StorageError) -> ScanHandle {
        switch scans.lookup(handle) {
        case .live(let scan): return scan
        case .removed: throw .invalidArgument("the scan handle was already freed")
        case .unknown: throw handle == nil ? .invalidArgument("scan handle is NULL") : .invalidArgument("not a scan handle")
        }
    }

    /// The error boundary: runs `body`; a thrown error becomes the thread's last error and
    /// `failure` is returned. Nothing below throws anything but ``StorageError`` and nothing
    /// traps on input, so no failure crosses into the caller's process as a crash.
    @inline(__always)
    static func call<R>(_ failure: R, _ body: () throws(StorageError) -> R) -> R {
        do { return try body() } catch {
            LastError.set(error)
            return failure
        }
    }

    /// `0` ok, `-1` error: the shape of most functions.
    @inline(__always)
    static func status(_ body: () throws(StorageError) -> Void) -> Int32 {
        call(-1) { () throws(StorageError) -> Int32 in
            try body()
            return 0
        }
    }
}

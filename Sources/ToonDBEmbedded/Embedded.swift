import CToonDBABI
import ToonDBCollections
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

    /// The error boundary of the collection functions: like ``call(_:_:)``, reporting the
    /// collection error's code (or, for a storage failure, the engine's).
    @inline(__always)
    static func collectionCall<R>(_ failure: R, _ body: () throws(CollectionError) -> R) -> R {
        do { return try body() } catch {
            LastError.set(code: error.abiCode, message: error.message)
            return failure
        }
    }

    /// The catalog of an open database handle.
    static func collections(_ handle: OpaquePointer?) throws(CollectionError) -> CollectionCatalog {
        let open: DatabaseHandle
        do { open = try database(handle) } catch { throw CollectionError(error) }
        return try open.collections()
    }
}

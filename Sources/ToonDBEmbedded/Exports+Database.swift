import CToonDBABI
import ToonDBEngine
#if canImport(Glibc)
import Glibc
#endif

// Opening, closing, checkpoints, statistics, index policies, errors and memory.
// Layouts and return codes: Sources/CToonDBABI/include/toondb.h and docs/c-abi.md.

private func open(_ path: UnsafePointer<CChar>?, _ options: () throws(StorageError) -> OpenOptions) -> OpaquePointer? {
    Embedded.call(nil) { () throws(StorageError) -> OpaquePointer? in
        let path = try Buffers.string(path, "path")
        let options = try options()
        let database = try Database.open(path: path, options: options.database)
        let policies: IndexPolicyStore
        do throws(StorageError) { policies = try IndexPolicyStore(directory: path, defaultPolicy: options.defaultIndexPolicy) } catch {
            try? database.close()
            throw error
        }
        return Embedded.databases.insert(DatabaseHandle(database: database, indexPolicies: policies))
    }
}

@_cdecl("toondb_open")
public func toondb_open(_ path: UnsafePointer<CChar>?) -> OpaquePointer? {
    open(path) { () throws(StorageError) in OpenOptions() }
}

@_cdecl("toondb_open_with_config")
public func toondb_open_with_config(_ path: UnsafePointer<CChar>?, _ config: C_DatabaseConfig) -> OpaquePointer? {
    open(path) { () throws(StorageError) in try OpenOptions(config) }
}

@_cdecl("toondb_open_with_options")
public func toondb_open_with_options(_ path: UnsafePointer<CChar>?, _ options: UnsafePointer<CChar>?) -> OpaquePointer? {
    open(path) { () throws(StorageError) in
        options == nil ? OpenOptions() : try OpenOptions(parsing: try Buffers.string(options, "options"))
    }
}

@_cdecl("toondb_close")
public func toondb_close(_ db: OpaquePointer?) {
    // Closing twice, or closing NULL, does nothing (the second call finds no live handle).
    guard let handle = Embedded.databases.remove(db) else { return }
    handle.abortAll()
    // A failed save only costs the next open a rebuild: report it and close anyway.
    do { try handle.saveCollectionIndexes() } catch { LastError.set(code: error.abiCode, message: error.message) }
    do { try handle.database.close() } catch { LastError.set(error) }
}

@_cdecl("toondb_checkpoint")
public func toondb_checkpoint(_ db: OpaquePointer?) -> UInt64 {
    Embedded.call(0) { () throws(StorageError) -> UInt64 in try Embedded.database(db).database.checkpoint() }
}

@_cdecl("toondb_checkpoint_lsn")
public func toondb_checkpoint_lsn(_ db: OpaquePointer?, _ lsnOut: UnsafeMutablePointer<UInt64>?) -> Int32 {
    Embedded.status { () throws(StorageError) in
        guard let lsnOut else { throw .invalidArgument("lsn_out is NULL") }
        lsnOut.pointee = try Embedded.database(db).database.checkpoint()
    }
}

@_cdecl("toondb_stats")
public func toondb_stats(_ db: OpaquePointer?) -> C_StorageStats {
    Embedded.call(C_StorageStats()) { () throws(StorageError) -> C_StorageStats in
        let stats = try Embedded.database(db).database.stats()
        return C_StorageStats(
            memtable_size_bytes: UInt64(stats.memtableBytes),
            wal_size_bytes: UInt64(max(0, stats.walBytes)),
            active_transactions: stats.activeTransactions,
            min_active_snapshot: stats.oldestActiveSnapshot ?? 0,
            last_checkpoint_lsn: stats.lastCheckpointLSN)
    }
}

@_cdecl("toondb_stats_json")
public func toondb_stats_json(_ db: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?,
                              _ outLen: UnsafeMutablePointer<Int>?) -> Int32 {
    Embedded.status { () throws(StorageError) in
        try Buffers.give(Array(try Embedded.database(db).database.stats().json.utf8), to: out, length: outLen)
    }
}

@_cdecl("toondb_set_table_index_policy")
public func toondb_set_table_index_policy(_ db: OpaquePointer?, _ table: UnsafePointer<CChar>?, _ policy: UInt8) -> Int32 {
    Embedded.status { () throws(StorageError) in
        let handle = try Embedded.database(db)
        try handle.database.checkOpen()
        guard let value = IndexPolicy(rawValue: policy) else { throw .invalidArgument("invalid index policy \(policy): expected 0 to 3") }
        try handle.indexPolicies.set(value, for: try Buffers.string(table, "table name"))
    }
}

@_cdecl("toondb_get_table_index_policy")
public func toondb_get_table_index_policy(_ db: OpaquePointer?, _ table: UnsafePointer<CChar>?) -> UInt8 {
    Embedded.call(255) { () throws(StorageError) -> UInt8 in
        let handle = try Embedded.database(db)
        return handle.indexPolicies.policy(for: try Buffers.string(table, "table name")).rawValue
    }
}

@_cdecl("toondb_free_bytes")
public func toondb_free_bytes(_ pointer: UnsafeMutablePointer<UInt8>?, _ length: Int) {
    Buffers.release(pointer)
}

@_cdecl("toondb_last_error")
public func toondb_last_error() -> UnsafePointer<CChar> {
    LastError.message
}

@_cdecl("toondb_last_error_code")
public func toondb_last_error_code() -> Int32 {
    LastError.code
}

@_cdecl("toondb_version")
public func toondb_version() -> UnsafePointer<CChar> {
    EmbeddedVersion.cString
}

enum EmbeddedVersion {
    static let string = "0.3.0"
    nonisolated(unsafe) static let cString: UnsafePointer<CChar> = UnsafePointer(strdup(string)!)
}

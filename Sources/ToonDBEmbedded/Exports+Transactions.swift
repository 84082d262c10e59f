import CToonDBABI
import ToonDBEngine

// Transactions: snapshot isolation, first committer wins. C callers hold {txn_id, snapshot_ts}.

@_cdecl("toondb_begin_txn")
public func toondb_begin_txn(_ db: OpaquePointer?) -> C_TxnHandle {
    Embedded.call(C_TxnHandle(txn_id: 0, snapshot_ts: 0)) { () throws(StorageError) -> C_TxnHandle in
        let transaction = try Embedded.database(db).begin()
        return C_TxnHandle(txn_id: transaction.id, snapshot_ts: transaction.snapshot)
    }
}

@_cdecl("toondb_commit")
public func toondb_commit(_ db: OpaquePointer?, _ txn: C_TxnHandle) -> C_CommitResult {
    do {
        let lsn = try Embedded.database(db).commit(txn.txn_id)
        return C_CommitResult(commit_ts: lsn, error_code: 0)
    } catch {
        LastError.set(error)
        return C_CommitResult(commit_ts: 0, error_code: error.code == .conflict ? -2 : -1)
    }
}

@_cdecl("toondb_abort")
public func toondb_abort(_ db: OpaquePointer?, _ txn: C_TxnHandle) -> Int32 {
    Embedded.status { () throws(StorageError) in try Embedded.database(db).abort(txn.txn_id) }
}

import CToonDBABI
import ToonDBEngine

// Single keys, paths and batches. A transaction handle with txn_id 0 means auto-commit.

extension DatabaseHandle {
    func put(_ txn: C_TxnHandle, _ key: [UInt8], _ value: [UInt8]) throws(StorageError) {
        if let transaction = try transaction(txn.txn_id) { try transaction.put(key, value) } else { try database.put(key, value) }
    }

    /// The caller's bytes go straight into the commit's batch (a transaction keeps copies).
    func put(_ txn: C_TxnHandle, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(StorageError) {
        if let transaction = try transaction(txn.txn_id) { return try transaction.put([UInt8](key), [UInt8](value)) }
        var batch = WriteBatch()
        batch.put(key, value)
        try database.write(batch)
    }

    func delete(_ txn: C_TxnHandle, _ key: UnsafeRawBufferPointer) throws(StorageError) {
        if let transaction = try transaction(txn.txn_id) { return try transaction.delete([UInt8](key)) }
        var batch = WriteBatch()
        batch.delete(key)
        try database.write(batch)
    }

    func get(_ txn: C_TxnHandle, _ key: [UInt8]) throws(StorageError) -> [UInt8]? {
        if let transaction = try transaction(txn.txn_id) { return try transaction.get(key) }
        return try database.get(key)
    }

    /// All or nothing, in a transaction or (one commit) outside.
    func write(_ txn: C_TxnHandle, _ batch: WriteBatch) throws(StorageError) {
        if let transaction = try transaction(txn.txn_id) { try transaction.write(batch) } else { try database.write(batch) }
    }

    func delete(_ txn: C_TxnHandle, _ key: [UInt8]) throws(StorageError) {
        if let transaction = try transaction(txn.txn_id) { try transaction.delete(key) } else { try database.delete(key) }
    }

    /// Hands a found value out as a new buffer: 0 found, 1 missing (out set to NULL and 0).
    func get(_ txn: C_TxnHandle, _ key: [UInt8], out: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?,
             length: UnsafeMutablePointer<Int>?) throws(StorageError) -> Int32 {
        guard let out, let length else { throw .invalidArgument("value_out or len_out is NULL") }
        guard let value = try get(txn, key) else {
            out.pointee = nil
            length.pointee = 0
            return 1
        }
        try Buffers.give(value, to: out, length: length)
        return 0
    }
}

@_cdecl("toondb_put")
public func toondb_put(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ key: UnsafePointer<UInt8>?, _ keyLen: Int,
                       _ value: UnsafePointer<UInt8>?, _ valueLen: Int) -> Int32 {
    Embedded.status { () throws(StorageError) in
        try Embedded.database(db).put(txn, try Buffers.view(key, keyLen, "key"), try Buffers.view(value, valueLen, "value"))
    }
}

@_cdecl("toondb_get")
public func toondb_get(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ key: UnsafePointer<UInt8>?, _ keyLen: Int,
                       _ valueOut: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?, _ lenOut: UnsafeMutablePointer<Int>?) -> Int32 {
    Embedded.call(-1) { () throws(StorageError) -> Int32 in
        try Embedded.database(db).get(txn, try Buffers.copy(key, keyLen, "key"), out: valueOut, length: lenOut)
    }
}

@_cdecl("toondb_get_into")
public func toondb_get_into(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ key: UnsafePointer<UInt8>?, _ keyLen: Int,
                            _ buffer: UnsafeMutablePointer<UInt8>?, _ capacity: Int) -> Int64 {
    Embedded.call(-2) { () throws(StorageError) -> Int64 in
        let handle = try Embedded.database(db)
        // -1 missing, else the value's length; nil when the value fits but `buffer` is NULL.
        let length: Int64?
        if txn.txn_id == 0 {
            // Outside a transaction the value is copied straight from where it lies (the
            // memtable, or the table block) into the caller's buffer: no key or value arrays.
            length = try handle.database.withValue(of: try Buffers.view(key, keyLen, "key")) { value in
                value.map { copyOut($0, into: buffer, capacity: capacity) } ?? -1
            }
        } else if let value = try handle.get(txn, try Buffers.copy(key, keyLen, "key")) {
            length = value.withUnsafeBytes { copyOut($0, into: buffer, capacity: capacity) }
        } else {
            length = -1
        }
        guard let length else { throw .invalidArgument("buffer is NULL but its capacity is \(capacity)") }
        return length
    }
}

/// Copies `value` into `buffer` when it fits in `capacity` bytes; returns its length, or nil
/// when it would be copied but `buffer` is NULL.
private func copyOut(_ value: UnsafeRawBufferPointer, into buffer: UnsafeMutablePointer<UInt8>?, capacity: Int) -> Int64? {
    if value.count <= capacity, value.count > 0 {
        guard let buffer else { return nil }
        UnsafeMutableRawPointer(buffer).copyMemory(from: value.baseAddress!, byteCount: value.count)
    }
    return Int64(value.count)
}

@_cdecl("toondb_delete")
public func toondb_delete(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ key: UnsafePointer<UInt8>?, _ keyLen: Int) -> Int32 {
    Embedded.status { () throws(StorageError) in try Embedded.database(db).delete(txn, try Buffers.view(key, keyLen, "key")) }
}

// The same with C int lengths (toondb.h explains why). Int32 widens to Int exactly; a negative
// length is refused by Buffers.copy like any other.

@_cdecl("toondb_put32")
public func toondb_put32(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ key: UnsafePointer<UInt8>?, _ keyLen: Int32,
                         _ value: UnsafePointer<UInt8>?, _ valueLen: Int32) -> Int32 {
    toondb_put(db, txn, key, Int(keyLen), value, Int(valueLen))
}

@_cdecl("toondb_get_into32")
public func toondb_get_into32(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ key: UnsafePointer<UInt8>?, _ keyLen: Int32,
                              _ buffer: UnsafeMutablePointer<UInt8>?, _ capacity: Int32) -> Int64 {
    toondb_get_into(db, txn, key, Int(keyLen), buffer, Int(capacity))
}

@_cdecl("toondb_delete32")
public func toondb_delete32(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ key: UnsafePointer<UInt8>?, _ keyLen: Int32) -> Int32 {
    toondb_delete(db, txn, key, Int(keyLen))
}

@_cdecl("toondb_put_path")
public func toondb_put_path(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ path: UnsafePointer<CChar>?,
                            _ value: UnsafePointer<UInt8>?, _ valueLen: Int) -> Int32 {
    Embedded.status { () throws(StorageError) in
        try Embedded.database(db).put(txn, try PathKeys.key(try Buffers.string(path, "path")), try Buffers.copy(value, valueLen, "value"))
    }
}

@_cdecl("toondb_get_path")
public func toondb_get_path(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ path: UnsafePointer<CChar>?,
                            _ valueOut: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?, _ lenOut: UnsafeMutablePointer<Int>?) -> Int32 {
    Embedded.call(-1) { () throws(StorageError) -> Int32 in
        try Embedded.database(db).get(txn, try PathKeys.key(try Buffers.string(path, "path")), out: valueOut, length: lenOut)
    }
}

@_cdecl("toondb_delete_path")
public func toondb_delete_path(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ path: UnsafePointer<CChar>?) -> Int32 {
    Embedded.status { () throws(StorageError) in
        try Embedded.database(db).delete(txn, try PathKeys.key(try Buffers.string(path, "path")))
    }
}

// MARK: - Batches

@_cdecl("toondb_put_many")
public func toondb_put_many(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ batch: C_ByteSlice) -> Int64 {
    Embedded.call(-1) { () throws(StorageError) -> Int64 in
        let handle = try Embedded.database(db)
        let pairs = try Buffers.readBatch(batch.data, batch.len, what: "put_many") { (reader) throws(StorageError) -> [([UInt8], [UInt8])] in
            let count = Int(try reader.readFixed32())
            var pairs: [([UInt8], [UInt8])] = []
            pairs.reserveCapacity(min(count, 1 << 20))
            for _ in 0..<count {
                let keyLength = Int(try reader.readFixed32())
                let valueLength = Int(try reader.readFixed32())
                pairs.append((Array(try reader.readSlice(keyLength)), Array(try reader.readSlice(valueLength))))
            }
            return pairs
        }
        var writes = WriteBatch()
        for (key, value) in pairs { writes.put(key, value) }
        try handle.write(txn, writes)
        return Int64(pairs.count)
    }
}

/// `n u32, {key_len u32, key}*n`: the input of get_many and delete_many.
private func readKeys(_ keys: UnsafePointer<UInt8>?, _ length: Int, what: String) throws(StorageError) -> [[UInt8]] {
    try Buffers.readBatch(keys, length, what: what) { (reader) throws(StorageError) -> [[UInt8]] in
        let count = Int(try reader.readFixed32())
        var keys: [[UInt8]] = []
        keys.reserveCapacity(min(count, 1 << 20))
        for _ in 0..<count { keys.append(Array(try reader.readSlice(Int(try reader.readFixed32())))) }
        return keys
    }
}

@_cdecl("toondb_get_many")
public func toondb_get_many(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ keys: UnsafePointer<UInt8>?, _ keysLen: Int,
                            _ out: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?, _ outLen: UnsafeMutablePointer<Int>?) -> Int32 {
    Embedded.status { () throws(StorageError) in
        let handle = try Embedded.database(db)
        let keys = try readKeys(keys, keysLen, what: "get_many")
        // A key the engine refuses (empty, too long) gets status 2; the rest are read together.
        let isValid = keys.map { !$0.isEmpty && $0.count <= DatabaseOptions.maxKeySize }
        let valid = keys.indices.filter { isValid[$0] }
        var values = [[UInt8]?](repeating: nil, count: keys.count)
        if let transaction = try handle.transaction(txn.txn_id) {
            for index in valid { values[index] = try transaction.get(keys[index]) }
        } else {
            for (index, value) in zip(valid, try handle.database.getMany(valid.map { keys[$0] })) { values[index] = value }
        }
        var result: [UInt8] = []
        result.appendFixed32(UInt32(keys.count))
        for index in keys.indices {
            if !isValid[index] {
                result.append(2)
            } else if let value = values[index] {
                result.append(0)
                result.appendFixed32(UInt32(value.count))
                result.append(contentsOf: value)
            } else {
                result.append(1)
            }
        }
        try Buffers.give(result, to: out, length: outLen)
    }
}

@_cdecl("toondb_delete_many")
public func toondb_delete_many(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ keys: UnsafePointer<UInt8>?, _ keysLen: Int) -> Int64 {
    Embedded.call(-1) { () throws(StorageError) -> Int64 in
        let handle = try Embedded.database(db)
        let keys = try readKeys(keys, keysLen, what: "delete_many")
        var writes = WriteBatch()
        for key in keys { writes.delete(key) }
        try handle.write(txn, writes)
        return Int64(keys.count)
    }
}

import CToonDBABI
import ToonDBEngine

// Scans: handles over [start, end) or a prefix, read one pair or one batch at a time.

private func openScan(_ db: OpaquePointer?, _ txn: C_TxnHandle, start: [UInt8], end: [UInt8]) throws(StorageError) -> OpaquePointer? {
    let handle = try Embedded.database(db)
    let scan: ScanHandle
    if let transaction = try handle.transaction(txn.txn_id) {
        scan = ScanHandle(owner: handle, pairs: try transaction.scan(from: start, to: end))
    } else {
        scan = ScanHandle(owner: handle, iterator: try handle.database.scan(from: start, to: end))
    }
    return Embedded.scans.insert(scan)
}

@_cdecl("toondb_scan")
public func toondb_scan(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ start: UnsafePointer<UInt8>?, _ startLen: Int,
                        _ end: UnsafePointer<UInt8>?, _ endLen: Int) -> OpaquePointer? {
    Embedded.call(nil) { () throws(StorageError) -> OpaquePointer? in
        try openScan(db, txn, start: try Buffers.copy(start, startLen, "start"), end: try Buffers.copy(end, endLen, "end"))
    }
}

@_cdecl("toondb_scan_prefix")
public func toondb_scan_prefix(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ prefix: UnsafePointer<UInt8>?, _ prefixLen: Int) -> OpaquePointer? {
    Embedded.call(nil) { () throws(StorageError) -> OpaquePointer? in
        let prefix = try Buffers.copy(prefix, prefixLen, "prefix")
        // No successor (empty or all 0xFF) means up to the end of the key space.
        return try openScan(db, txn, start: prefix, end: prefixSuccessor(prefix) ?? [])
    }
}

@_cdecl("toondb_scan_next")
public func toondb_scan_next(_ it: OpaquePointer?, _ keyOut: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?,
                             _ keyLen: UnsafeMutablePointer<Int>?, _ valueOut: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?,
                             _ valueLen: UnsafeMutablePointer<Int>?) -> Int32 {
    Embedded.call(-1) { () throws(StorageError) -> Int32 in
        guard let keyOut, let keyLen, let valueOut, let valueLen else { throw .invalidArgument("an output pointer is NULL") }
        let scan = try Embedded.scan(it)
        var pair: ([UInt8], [UInt8])?
        _ = try scan.next(limit: 1) { key, value in pair = (Array(key), Array(value)) }
        guard let (key, value) = pair else { return 1 }
        try Buffers.give(key, to: keyOut, length: keyLen)
        do throws(StorageError) { try Buffers.give(value, to: valueOut, length: valueLen) } catch {
            Buffers.release(keyOut.pointee)
            throw error
        }
        return 0
    }
}

/// Buffer: `count u32, is_done u8, {key_len u32, value_len u32, key, value}*count`, always the
/// caller's to free. Returns 0 with a batch (possibly the last, with is_done set), 1 when the
/// scan had nothing left (count 0, is_done 1).
@_cdecl("toondb_scan_batch")
public func toondb_scan_batch(_ it: OpaquePointer?, _ maxItems: Int, _ out: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?,
                              _ outLen: UnsafeMutablePointer<Int>?) -> Int32 {
    Embedded.call(-1) { () throws(StorageError) -> Int32 in
        guard out != nil, outLen != nil else { throw .invalidArgument("out or out_len is NULL") }
        guard maxItems > 0 else { throw .invalidArgument("max_items must be positive") }
        let scan = try Embedded.scan(it)
        var buffer: [UInt8] = [0, 0, 0, 0, 0]
        var count = 0
        let done = try scan.next(limit: maxItems) { key, value in
            buffer.appendFixed32(UInt32(key.count))
            buffer.appendFixed32(UInt32(value.count))
            buffer.append(contentsOf: key)
            buffer.append(contentsOf: value)
            count += 1
        }
        buffer.storeFixed32(UInt32(count), at: 0)
        buffer[4] = done ? 1 : 0
        try Buffers.give(buffer, to: out, length: outLen)
        return count == 0 && done ? 1 : 0
    }
}

/// Calls `visit(ctx, key, key_len, value, value_len)` for up to `maxItems` pairs, in place:
/// the buffers are valid during the call only, and nothing is allocated or copied. `visit`
/// returns 0 to go on, anything else to stop after that pair. Returns how many pairs were
/// visited, with `*done` set to 1 when the scan is exhausted (else 0); -1 on error.
@_cdecl("toondb_scan_visit")
public func toondb_scan_visit(_ it: OpaquePointer?, _ maxItems: Int,
                              _ visit: (@convention(c) (UnsafeMutableRawPointer?, UnsafePointer<UInt8>?, Int, UnsafePointer<UInt8>?, Int) -> Int32)?,
                              _ context: UnsafeMutableRawPointer?, _ done: UnsafeMutablePointer<UInt8>?) -> Int64 {
    Embedded.call(-1) { () throws(StorageError) -> Int64 in
        guard let visit, let done else { throw .invalidArgument("visit or done is NULL") }
        guard maxItems > 0 else { throw .invalidArgument("max_items must be positive") }
        let scan = try Embedded.scan(it)
        var count: Int64 = 0
        let exhausted = try scan.visit(limit: maxItems) { key, value -> Bool in
            count += 1
            return visit(context, key.baseAddress?.assumingMemoryBound(to: UInt8.self), key.count,
                         value.baseAddress?.assumingMemoryBound(to: UInt8.self), value.count) == 0
        }
        done.pointee = exhausted ? 1 : 0
        return count
    }
}

@_cdecl("toondb_scan_free")
public func toondb_scan_free(_ it: OpaquePointer?) {
    _ = Embedded.scans.remove(it)
}

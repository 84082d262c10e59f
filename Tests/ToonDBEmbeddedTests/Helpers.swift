// Helpers for calling the C ABI (Sources/ToonDBEmbedded, declared in toondb.h) from Swift the
// way a C caller would: raw pointers, out-parameters, buffers freed with toondb_free_bytes.
//
// CToonDBABI declares the same names as C functions, so every call is qualified with the
// module (`ToonDBEmbedded.toondb_put`) to reach the Swift implementation directly.
#if canImport(Glibc)
import Glibc
#endif
import CToonDBABI
import Foundation
import Synchronization
import Testing
import ToonDBEmbedded
import ToonDBTestSupport

/// "No transaction": auto-commit writes, reads of the latest committed state.
var autoCommit: C_TxnHandle { C_TxnHandle(txn_id: 0, snapshot_ts: 0) }

/// Fast options for tests that do not care about durability.
let fastOptions = "sync_mode=off; block_cache_size_bytes=1048576"

func openDB(_ path: String, _ options: String? = fastOptions) -> OpaquePointer? {
    path.withCString { p in
        guard let options else { return ToonDBEmbedded.toondb_open_with_options(p, nil) }
        return options.withCString { o in ToonDBEmbedded.toondb_open_with_options(p, o) }
    }
}

func closeDB(_ db: OpaquePointer?) { ToonDBEmbedded.toondb_close(db) }

func lastErrorCode() -> Int32 { ToonDBEmbedded.toondb_last_error_code() }
func lastErrorMessage() -> String { String(cString: ToonDBEmbedded.toondb_last_error()) }

/// The handle of a database that was opened and closed (its id stays "recently closed").
let closedHandleBits: UInt = {
    let dir = TemporaryDirectory("toondb-emb-closed")
    let db = openDB(dir.child("db"))!
    ToonDBEmbedded.toondb_close(db)
    return UInt(bitPattern: db)
}()

var closedHandle: OpaquePointer? { OpaquePointer(bitPattern: closedHandleBits) }

/// Sets this thread's last error to one `expected` is not (so a check of the code afterwards
/// proves the call under test set it): code 6 from a closed handle, or code 1 from NULL.
func primeLastError(differentFrom expected: Int32) {
    if expected == 6 {
        _ = ToonDBEmbedded.toondb_put(nil, autoCommit, nil, 0, nil, 0)
        precondition(lastErrorCode() == 1)
    } else {
        _ = ToonDBEmbedded.toondb_put(closedHandle, autoCommit, nil, 0, nil, 0)
        precondition(lastErrorCode() == 6)
    }
}

/// Expects `call` to report failure (it returns whether its return value was the error value)
/// and to leave `code` (and a message containing `fragment`) as this thread's last error.
func expectError(_ code: Int32, contains fragment: String? = nil, _ comment: Comment? = nil,
                 sourceLocation: SourceLocation = #_sourceLocation, _ call: () -> Bool) {
    primeLastError(differentFrom: code)
    let failed = call()
    let message = lastErrorMessage()
    #expect(failed, "the call did not return its error value \(comment.map { "(\($0))" } ?? "")", sourceLocation: sourceLocation)
    #expect(lastErrorCode() == code, "last error: \(message) \(comment.map { "(\($0))" } ?? "")", sourceLocation: sourceLocation)
    #expect(!message.isEmpty, sourceLocation: sourceLocation)
    if let fragment {
        #expect(message.contains(fragment), "\"\(message)\" should mention \"\(fragment)\"", sourceLocation: sourceLocation)
    }
}

// MARK: - Single keys

@discardableResult
func cPut(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ key: [UInt8], _ value: [UInt8]) -> Int32 {
    key.withUnsafeBufferPointer { k in
        value.withUnsafeBufferPointer { v in ToonDBEmbedded.toondb_put(db, txn, k.baseAddress, k.count, v.baseAddress, v.count) }
    }
}

@discardableResult
func cPut(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ key: String, _ value: String) -> Int32 {
    cPut(db, txn, bytes(key), bytes(value))
}

/// toondb_get: the return code and (when 0) the value, whose buffer is freed here.
func cGet(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ key: [UInt8]) -> (rc: Int32, value: [UInt8]?) {
    var out: UnsafeMutablePointer<UInt8>?
    var length = -7
    let rc = key.withUnsafeBufferPointer { k in ToonDBEmbedded.toondb_get(db, txn, k.baseAddress, k.count, &out, &length) }
    guard rc == 0 else {
        if rc == 1 {
            #expect(out == nil)
            #expect(length == 0)
        }
        return (rc, nil)
    }
    #expect(out != nil, "a found value is never a NULL buffer")
    let value = Array(UnsafeBufferPointer(start: out, count: length))
    ToonDBEmbedded.toondb_free_bytes(out, length)
    return (rc, value)
}

func cGet(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ key: String) -> (rc: Int32, value: [UInt8]?) {
    cGet(db, txn, bytes(key))
}

/// The value of `key`, nil when missing (any other outcome is a test failure).
func value(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ key: String, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    let (rc, value) = cGet(db, txn, bytes(key))
    #expect(rc == 0 || rc == 1, "toondb_get returned \(rc): \(lastErrorMessage())", sourceLocation: sourceLocation)
    return value.map { String(decoding: $0, as: UTF8.self) }
}

@discardableResult
func cDelete(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ key: [UInt8]) -> Int32 {
    key.withUnsafeBufferPointer { k in ToonDBEmbedded.toondb_delete(db, txn, k.baseAddress, k.count) }
}

func cGetInto(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ key: [UInt8], _ buffer: inout [UInt8], capacity: Int? = nil) -> Int64 {
    let capacity = capacity ?? buffer.count
    return key.withUnsafeBufferPointer { k in
        buffer.withUnsafeMutableBufferPointer { b in ToonDBEmbedded.toondb_get_into(db, txn, k.baseAddress, k.count, b.baseAddress, capacity) }
    }
}

// MARK: - Paths

@discardableResult
func cPutPath(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ path: String, _ value: [UInt8]) -> Int32 {
    path.withCString { p in value.withUnsafeBufferPointer { v in ToonDBEmbedded.toondb_put_path(db, txn, p, v.baseAddress, v.count) } }
}

func cGetPath(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ path: String) -> (rc: Int32, value: [UInt8]?) {
    var out: UnsafeMutablePointer<UInt8>?
    var length = 0
    let rc = path.withCString { p in ToonDBEmbedded.toondb_get_path(db, txn, p, &out, &length) }
    guard rc == 0 else { return (rc, nil) }
    let value = Array(UnsafeBufferPointer(start: out, count: length))
    ToonDBEmbedded.toondb_free_bytes(out, length)
    return (rc, value)
}

@discardableResult
func cDeletePath(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ path: String) -> Int32 {
    path.withCString { p in ToonDBEmbedded.toondb_delete_path(db, txn, p) }
}

// MARK: - Scans

typealias Pair = (key: [UInt8], value: [UInt8])

func cScan(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ start: [UInt8], _ end: [UInt8]) -> OpaquePointer? {
    start.withUnsafeBufferPointer { s in
        end.withUnsafeBufferPointer { e in ToonDBEmbedded.toondb_scan(db, txn, s.baseAddress, s.count, e.baseAddress, e.count) }
    }
}

func cScanPrefix(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ prefix: [UInt8]) -> OpaquePointer? {
    prefix.withUnsafeBufferPointer { p in ToonDBEmbedded.toondb_scan_prefix(db, txn, p.baseAddress, p.count) }
}

/// One toondb_scan_next call: 0 with a pair (buffers freed here), 1 done, -1 error.
func scanNext(_ it: OpaquePointer?) -> (rc: Int32, pair: Pair?) {
    var key: UnsafeMutablePointer<UInt8>?
    var keyLength = 0
    var value: UnsafeMutablePointer<UInt8>?
    var valueLength = 0
    let rc = ToonDBEmbedded.toondb_scan_next(it, &key, &keyLength, &value, &valueLength)
    guard rc == 0 else { return (rc, nil) }
    #expect(key != nil && value != nil)
    let pair = (Array(UnsafeBufferPointer(start: key, count: keyLength)), Array(UnsafeBufferPointer(start: value, count: valueLength)))
    ToonDBEmbedded.toondb_free_bytes(key, keyLength)
    ToonDBEmbedded.toondb_free_bytes(value, valueLength)
    return (rc, pair)
}

/// Every pair through toondb_scan_next, then the code that ended it (1 when exhausted).
func drainNext(_ it: OpaquePointer?, limit: Int = 1_000_000) -> (pairs: [Pair], end: Int32) {
    var pairs: [Pair] = []
    while pairs.count < limit {
        let (rc, pair) = scanNext(it)
        guard rc == 0, let pair else { return (pairs, rc) }
        pairs.append(pair)
    }
    return (pairs, 99)
}

struct ScanBatch {
    var rc: Int32
    var count: Int
    var isDone: Bool
    var pairs: [Pair]
}

/// Parses `count u32, is_done u8, {key_len u32, value_len u32, key, value}*count`; nil when
/// the buffer is malformed (short, or bytes left over).
func parseScanBatch(_ buffer: [UInt8]) -> (count: Int, isDone: Bool, pairs: [Pair])? {
    guard buffer.count >= 5 else { return nil }
    let count = Int(readLE32(buffer, 0))
    guard buffer[4] <= 1 else { return nil }
    var offset = 5
    var pairs: [Pair] = []
    for _ in 0..<count {
        guard offset + 8 <= buffer.count else { return nil }
        let keyLength = Int(readLE32(buffer, offset))
        let valueLength = Int(readLE32(buffer, offset + 4))
        offset += 8
        guard offset + keyLength + valueLength <= buffer.count else { return nil }
        pairs.append((Array(buffer[offset..<offset + keyLength]), Array(buffer[offset + keyLength..<offset + keyLength + valueLength])))
        offset += keyLength + valueLength
    }
    guard offset == buffer.count else { return nil }
    return (count, buffer[4] == 1, pairs)
}

/// One toondb_scan_batch call, its buffer parsed and freed.
func scanBatch(_ it: OpaquePointer?, max: Int, sourceLocation: SourceLocation = #_sourceLocation) -> ScanBatch {
    var out: UnsafeMutablePointer<UInt8>?
    var length = 0
    let rc = ToonDBEmbedded.toondb_scan_batch(it, max, &out, &length)
    guard rc >= 0 else { return ScanBatch(rc: rc, count: 0, isDone: false, pairs: []) }
    #expect(out != nil, sourceLocation: sourceLocation)
    let buffer = Array(UnsafeBufferPointer(start: out, count: length))
    ToonDBEmbedded.toondb_free_bytes(out, length)
    guard let parsed = parseScanBatch(buffer) else {
        Issue.record("malformed scan batch buffer of \(buffer.count) bytes", sourceLocation: sourceLocation)
        return ScanBatch(rc: rc, count: 0, isDone: false, pairs: [])
    }
    #expect(parsed.count == parsed.pairs.count, sourceLocation: sourceLocation)
    return ScanBatch(rc: rc, count: parsed.count, isDone: parsed.isDone, pairs: parsed.pairs)
}

/// Every batch until the scan reports done (rc 1) or an error, at most `limit` calls.
func drainBatches(_ it: OpaquePointer?, max: Int, limit: Int = 100_000) -> (pairs: [Pair], batches: [ScanBatch]) {
    var batches: [ScanBatch] = []
    var pairs: [Pair] = []
    while batches.count < limit {
        let batch = scanBatch(it, max: max)
        batches.append(batch)
        pairs += batch.pairs
        if batch.rc != 0 { break }
    }
    return (pairs, batches)
}

func keys(_ pairs: [Pair]) -> [String] { pairs.map { String(decoding: $0.key, as: UTF8.self) } }

// MARK: - Batches

func le32(_ value: UInt32) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 24)] }
func le32(_ value: Int) -> [UInt8] { le32(UInt32(value)) }

func readLE32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
}

/// `n u32, {key_len u32, value_len u32, key, value}*n`
func encodePutMany(_ pairs: [([UInt8], [UInt8])]) -> [UInt8] {
    var buffer = le32(pairs.count)
    for (key, value) in pairs { buffer += le32(key.count) + le32(value.count) + key + value }
    return buffer
}

/// `n u32, {key_len u32, key}*n`
func encodeKeys(_ keys: [[UInt8]]) -> [UInt8] {
    var buffer = le32(keys.count)
    for key in keys { buffer += le32(key.count) + key }
    return buffer
}

func cPutMany(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ buffer: [UInt8]) -> Int64 {
    buffer.withUnsafeBufferPointer { b in ToonDBEmbedded.toondb_put_many(db, txn, C_ByteSlice(data: b.baseAddress, len: b.count)) }
}

func cDeleteMany(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ buffer: [UInt8]) -> Int64 {
    buffer.withUnsafeBufferPointer { b in ToonDBEmbedded.toondb_delete_many(db, txn, b.baseAddress, b.count) }
}

/// toondb_get_many: the code and the raw output buffer (freed here); `outTouched` tells whether
/// the out-parameters were written on failure.
func cGetMany(_ db: OpaquePointer?, _ txn: C_TxnHandle, _ buffer: [UInt8]) -> (rc: Int32, out: [UInt8]?, outTouched: Bool) {
    var out: UnsafeMutablePointer<UInt8>?
    var length = -7
    let rc = buffer.withUnsafeBufferPointer { b in ToonDBEmbedded.toondb_get_many(db, txn, b.baseAddress, b.count, &out, &length) }
    guard rc == 0 else { return (rc, nil, out != nil || length != -7) }
    let bytes = Array(UnsafeBufferPointer(start: out, count: length))
    ToonDBEmbedded.toondb_free_bytes(out, length)
    return (rc, bytes, true)
}

enum ManyResult: Equatable {
    case found([UInt8])
    case missing
    case error
}

/// Parses `n u32, {status u8, [value_len u32, value]}*n`; nil when malformed.
func parseGetMany(_ buffer: [UInt8]) -> [ManyResult]? {
    guard buffer.count >= 4 else { return nil }
    let count = Int(readLE32(buffer, 0))
    var offset = 4
    var result: [ManyResult] = []
    for _ in 0..<count {
        guard offset < buffer.count else { return nil }
        let status = buffer[offset]
        offset += 1
        switch status {
        case 0:
            guard offset + 4 <= buffer.count else { return nil }
            let length = Int(readLE32(buffer, offset))
            offset += 4
            guard offset + length <= buffer.count else { return nil }
            result.append(.found(Array(buffer[offset..<offset + length])))
            offset += length
        case 1: result.append(.missing)
        case 2: result.append(.error)
        default: return nil
        }
    }
    return offset == buffer.count ? result : nil
}

// MARK: - The same without a transaction (txn_id 0)

@discardableResult func cPut(_ db: OpaquePointer?, _ key: [UInt8], _ value: [UInt8]) -> Int32 { cPut(db, autoCommit, key, value) }
@discardableResult func cPut(_ db: OpaquePointer?, _ key: String, _ value: String) -> Int32 { cPut(db, autoCommit, key, value) }
func cGet(_ db: OpaquePointer?, _ key: [UInt8]) -> (rc: Int32, value: [UInt8]?) { cGet(db, autoCommit, key) }
func cGet(_ db: OpaquePointer?, _ key: String) -> (rc: Int32, value: [UInt8]?) { cGet(db, autoCommit, key) }
func value(_ db: OpaquePointer?, _ key: String, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    value(db, autoCommit, key, sourceLocation: sourceLocation)
}
@discardableResult func cDelete(_ db: OpaquePointer?, _ key: [UInt8]) -> Int32 { cDelete(db, autoCommit, key) }
func cGetInto(_ db: OpaquePointer?, _ key: [UInt8], _ buffer: inout [UInt8], capacity: Int? = nil) -> Int64 {
    cGetInto(db, autoCommit, key, &buffer, capacity: capacity)
}
@discardableResult func cPutPath(_ db: OpaquePointer?, _ path: String, _ value: [UInt8]) -> Int32 { cPutPath(db, autoCommit, path, value) }
func cGetPath(_ db: OpaquePointer?, _ path: String) -> (rc: Int32, value: [UInt8]?) { cGetPath(db, autoCommit, path) }
@discardableResult func cDeletePath(_ db: OpaquePointer?, _ path: String) -> Int32 { cDeletePath(db, autoCommit, path) }
func cPutMany(_ db: OpaquePointer?, _ buffer: [UInt8]) -> Int64 { cPutMany(db, autoCommit, buffer) }
func cDeleteMany(_ db: OpaquePointer?, _ buffer: [UInt8]) -> Int64 { cDeleteMany(db, autoCommit, buffer) }
func cGetMany(_ db: OpaquePointer?, _ buffer: [UInt8]) -> (rc: Int32, out: [UInt8]?, outTouched: Bool) { cGetMany(db, autoCommit, buffer) }

// MARK: - Stats

/// toondb_stats_json parsed as a JSON object.
func statsJSON(_ db: OpaquePointer?, sourceLocation: SourceLocation = #_sourceLocation) -> [String: Any] {
    var out: UnsafeMutablePointer<UInt8>?
    var length = 0
    let rc = ToonDBEmbedded.toondb_stats_json(db, &out, &length)
    #expect(rc == 0, "toondb_stats_json: \(lastErrorMessage())", sourceLocation: sourceLocation)
    guard rc == 0, let out else { return [:] }
    let data = Data(UnsafeBufferPointer(start: out, count: length))
    ToonDBEmbedded.toondb_free_bytes(out, length)
    guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        Issue.record("stats JSON is not an object: \(String(decoding: data, as: UTF8.self))", sourceLocation: sourceLocation)
        return [:]
    }
    return object
}

func statInt(_ stats: [String: Any], _ name: String) -> Int? { (stats[name] as? NSNumber)?.intValue }

func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// A mutex-protected value shared with other threads.
final class Shared<Value: Sendable>: Sendable {
    private let state: Mutex<Value>
    init(_ value: Value) { state = Mutex(value) }
    func update(_ body: (inout Value) -> Void) { state.withLock { body(&$0) } }
    var value: Value { state.withLock { $0 } }
}

#if canImport(Glibc)
import Glibc
#endif
import ToonDBEngine

/// Copies of caller memory and the buffers handed back to callers.
///
/// Every buffer returned through an out-parameter is one `malloc` block released by
/// `toondb_free_bytes` (never NULL, even when empty, so "found but empty" is distinguishable).
enum Buffers {
    /// The bytes at `pointer`, checking that a non-empty buffer is not NULL.
    static func copy(_ pointer: UnsafePointer<UInt8>?, _ count: Int, _ what: String) throws(StorageError) -> [UInt8] {
        Array(try view(pointer, count, what))
    }

    /// The caller's bytes in place (valid while the caller's buffer is), with the checks of
    /// ``copy(_:_:_:)``.
    static func view(_ pointer: UnsafePointer<UInt8>?, _ count: Int, _ what: String) throws(StorageError) -> UnsafeRawBufferPointer {
        if count == 0 { return UnsafeRawBufferPointer(start: nil, count: 0) }
        guard count > 0 else { throw .invalidArgument("\(what) length \(count) is negative") }
        guard let pointer else { throw .invalidArgument("\(what) is NULL but its length is \(count)") }
        return UnsafeRawBufferPointer(start: pointer, count: count)
    }

    /// A NUL-terminated UTF-8 string (a path, a table name).
    static func string(_ pointer: UnsafePointer<CChar>?, _ what: String) throws(StorageError) -> String {
        guard let pointer else { throw .invalidArgument("\(what) is NULL") }
        let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self), count: strlen(pointer))
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .invalidArgument("\(what) is not valid UTF-8") }
        return text
    }

    /// Hands `bytes` to the caller as a new block.
    static func give(_ bytes: some Collection<UInt8>, to out: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?,
                     length: UnsafeMutablePointer<Int>?) throws(StorageError) {
        guard let out, let length else { throw .invalidArgument("output pointer is NULL") }
        let block = try allocate(bytes.count)
        _ = UnsafeMutableBufferPointer(start: block, count: bytes.count).initialize(from: bytes)
        out.pointee = block
        length.pointee = bytes.count
    }

    static func allocate(_ count: Int) throws(StorageError) -> UnsafeMutablePointer<UInt8> {
        guard let raw = malloc(max(count, 1)) else { throw StorageError(.internal, "out of memory allocating \(count) bytes") }
        return raw.assumingMemoryBound(to: UInt8.self)
    }

    static func release(_ pointer: UnsafeMutablePointer<UInt8>?) {
        free(pointer)
    }

    /// Decodes a caller's batch buffer (`toondb_put_many` and friends) with a bounds-checked
    /// reader; running past the end is the caller's mistake, so it is an invalid argument.
    static func readBatch<R>(_ pointer: UnsafePointer<UInt8>?, _ count: Int, what: String,
                             _ body: (inout ByteReader) throws(StorageError) -> R) throws(StorageError) -> R {
        guard count >= 0 else { throw .invalidArgument("\(what) buffer length \(count) is negative") }
        guard let pointer else { throw .invalidArgument("\(what) buffer is NULL") }
        var reader = ByteReader(UnsafeRawBufferPointer(start: pointer, count: count), context: "\(what) buffer")
        do throws(StorageError) {
            let result = try body(&reader)
            if !reader.isAtEnd { throw StorageError(.invalidArgument, "\(what) buffer has \(reader.remaining) bytes after its last item") }
            return result
        } catch {
            throw StorageError(.invalidArgument, "malformed " + error.message)
        }
    }
}

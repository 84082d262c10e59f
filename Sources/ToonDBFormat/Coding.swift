/// Little-endian fixed-width integers and LEB128 varints, appended to and read from byte
/// arrays. Every on-disk format in docs/ is built from these.
extension Array where Element == UInt8 {
    @inlinable public mutating func appendFixed32(_ value: UInt32) {
        append(UInt8(truncatingIfNeeded: value))
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value >> 16))
        append(UInt8(truncatingIfNeeded: value >> 24))
    }

    @inlinable public mutating func appendFixed64(_ value: UInt64) {
        appendFixed32(UInt32(truncatingIfNeeded: value))
        appendFixed32(UInt32(truncatingIfNeeded: value >> 32))
    }

    @inlinable public mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        append(UInt8(v))
    }

    /// A varint length followed by the bytes.
    @inlinable public mutating func appendLengthPrefixed(_ bytes: some Collection<UInt8>) {
        appendVarint(UInt64(bytes.count))
        append(contentsOf: bytes)
    }

    /// Overwrites four bytes at `index`.
    @inlinable public mutating func storeFixed32(_ value: UInt32, at index: Int) {
        self[index] = UInt8(truncatingIfNeeded: value)
        self[index + 1] = UInt8(truncatingIfNeeded: value >> 8)
        self[index + 2] = UInt8(truncatingIfNeeded: value >> 16)
        self[index + 3] = UInt8(truncatingIfNeeded: value >> 24)
    }
}

/// Reads little-endian integers from raw memory (the caller checks bounds).
@inlinable public func loadFixed32(_ base: UnsafeRawPointer, _ offset: Int = 0) -> UInt32 {
    UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
}

@inlinable public func loadFixed64(_ base: UnsafeRawPointer, _ offset: Int = 0) -> UInt64 {
    UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
}

/// The number of bytes `appendVarint` writes for `value`.
@inlinable public func varintLength(_ value: UInt64) -> Int {
    var v = value
    var n = 1
    while v >= 0x80 { v >>= 7; n += 1 }
    return n
}

/// A bounds-checked cursor over bytes being decoded. Running past the end throws a
/// corruption error instead of trapping: stored bytes are input, and input never crashes us.
public struct ByteReader: ~Copyable {
    public let base: UnsafeRawBufferPointer
    public private(set) var position: Int
    /// Names the thing being decoded in error messages ("WAL record", "index block").
    public let context: String

    public init(_ base: UnsafeRawBufferPointer, context: String, position: Int = 0) {
        self.base = base
        self.context = context
        self.position = position
    }

    public var remaining: Int { base.count - position }
    public var isAtEnd: Bool { position >= base.count }

    private func truncated(_ what: String) -> StorageError {
        .corruption("\(context) truncated reading \(what) at byte \(position) of \(base.count)")
    }

    public mutating func readByte() throws(StorageError) -> UInt8 {
        guard position < base.count else { throw truncated("a byte") }
        defer { position += 1 }
        return base[position]
    }

    public mutating func readFixed32() throws(StorageError) -> UInt32 {
        guard remaining >= 4 else { throw truncated("a fixed32") }
        defer { position += 4 }
        return loadFixed32(base.baseAddress!, position)
    }

    public mutating func readFixed64() throws(StorageError) -> UInt64 {
        guard remaining >= 8 else { throw truncated("a fixed64") }
        defer { position += 8 }
        return loadFixed64(base.baseAddress!, position)
    }

    public mutating func readVarint() throws(StorageError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < base.count else { throw truncated("a varint") }
            let byte = base[position]
            position += 1
            if shift == 63 && byte > 1 { throw .corruption("\(context): varint overflows 64 bits at byte \(position - 1)") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw .corruption("\(context): varint longer than 10 bytes at byte \(position)") }
        }
    }

    /// A varint that must fit in `limit` (a length or a count).
    public mutating func readLength(limit: Int = Int(Int32.max)) throws(StorageError) -> Int {
        let value = try readVarint()
        guard value <= UInt64(limit) else { throw .corruption("\(context): length \(value) exceeds \(limit) at byte \(position)") }
        return Int(value)
    }

    /// The next `count` bytes, without copying.
    public mutating func readSlice(_ count: Int) throws(StorageError) -> UnsafeRawBufferPointer {
        guard count >= 0, remaining >= count else { throw truncated("\(count) bytes") }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: base[position..<(position + count)])
    }

    public mutating func readBytes(_ count: Int) throws(StorageError) -> [UInt8] {
        [UInt8](try readSlice(count))
    }

    public mutating func readLengthPrefixed() throws(StorageError) -> [UInt8] {
        try readBytes(try readLength())
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// A log sequence number. One committed transaction = one WAL record = one LSN; every version
/// a transaction writes carries its LSN, which is also its commit timestamp.
public typealias LSN = UInt64

/// What a stored version is: a value or a tombstone.
public enum ValueKind: UInt8, Sendable {
    case deletion = 0
    case value = 1
}

/// Internal keys order versions: user key ascending (bytewise), then LSN descending, so the
/// newest version of a key comes first. On disk an internal key is the user key followed by
/// an 8-byte little-endian trailer `lsn << 8 | kind`.
public enum InternalKey {
    /// LSNs use 56 bits; the low byte of the trailer is the kind.
    public static let maxLSN: LSN = (1 << 56) - 1

    @inlinable public static func trailer(_ lsn: LSN, _ kind: ValueKind) -> UInt64 { lsn << 8 | UInt64(kind.rawValue) }

    @inlinable public static func encode(_ userKey: some Collection<UInt8>, _ lsn: LSN, _ kind: ValueKind) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(userKey.count + 8)
        bytes.append(contentsOf: userKey)
        bytes.appendFixed64(trailer(lsn, kind))
        return bytes
    }

    /// Splits an encoded internal key (at least 8 bytes, checked by the caller).
    @inlinable public static func userKey(_ key: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: key[0..<(key.count - 8)])
    }

    @inlinable public static func trailer(of key: UnsafeRawBufferPointer) -> UInt64 {
        loadFixed64(key.baseAddress!, key.count - 8)
    }

    /// Internal-key order (see the type's documentation).
    @inlinable public static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let c = compareBytes(userKey(a), userKey(b))
        if c != 0 { return c }
        let ta = trailer(of: a), tb = trailer(of: b)
        return ta > tb ? -1 : (ta < tb ? 1 : 0)
    }
}

/// Bytewise comparison: negative, zero or positive, like memcmp with length as tie-breaker.
///
/// The first 16 bytes are compared as big-endian words inline: most keys differ there, and a
/// memcmp call per comparison was 7% of a skiplist insert (the rest goes to memcmp).
@inlinable public func compareBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let n = Swift.min(a.count, b.count)
    var offset = 0
    while offset + 8 <= n && offset < 16 {
        let x = a.loadUnaligned(fromByteOffset: offset, as: UInt64.self).bigEndian
        let y = b.loadUnaligned(fromByteOffset: offset, as: UInt64.self).bigEndian
        if x != y { return x < y ? -1 : 1 }
        offset += 8
    }
    if offset < n {
        let c = memcmp(a.baseAddress! + offset, b.baseAddress! + offset, n - offset)
        if c != 0 { return Int(c) }
    }
    return a.count - b.count
}

@inlinable public func compareBytes(_ a: [UInt8], _ b: [UInt8]) -> Int {
    a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in compareBytes(pa, pb) } }
}

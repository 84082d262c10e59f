/// `withUnsafeBytes` that keeps the closure's typed error (the standard library's versions
/// rethrow `any Error`, which would force every caller back to untyped throws).
extension Array where Element == UInt8 {
    @inlinable
    public func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let result: Result<R, E> = withUnsafeBytes { buffer in Result { () throws(E) in try body(buffer) } }
        return try result.get()
    }

    @inlinable
    public mutating func withMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let result: Result<R, E> = withUnsafeMutableBytes { buffer in Result { () throws(E) in try body(buffer) } }
        return try result.get()
    }
}

import ToonDBEngine
import ToonDBVector

/// A failed collection operation: what went wrong (`code`) and a message naming the
/// collection, id or field involved. Storage failures keep the engine's error in `storage`.
public struct CollectionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kinds of failure. Raw values are stable: the C ABI reports them from
    /// `toondb_last_error_code()` (storage failures report the ``StorageError`` code instead).
    public enum Code: Int32, Sendable, Equatable, CaseIterable {
        /// A bad parameter: a malformed collection name, k < 1, an unknown metric.
        case invalidArgument = 20
        /// No collection of that name.
        case collectionNotFound = 21
        /// A collection of that name already exists.
        case collectionExists = 22
        /// A vector (or query) with a different number of components than the collection's.
        case wrongDimension = 23
        /// A vector the metric cannot index: a NaN or infinity, or all zeros under cosine.
        case invalidVector = 24
        /// Metadata (or a filter) that is not a JSON object.
        case invalidMetadata = 25
        /// A stored collection record that cannot be decoded.
        case corruptRecord = 26
        /// The key-value store failed; ``CollectionError/storage`` has its error.
        case storage = 27
    }

    public var code: Code
    public var message: String
    /// The engine's error when `code` is ``Code/storage``.
    public var storage: StorageError?

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public init(_ error: StorageError) {
        self.code = .storage
        self.message = error.message
        self.storage = error
    }

    /// An index error about the vector or query called `what`.
    init(_ error: VectorIndexError) {
        switch error.code {
        case .wrongDimension: self.init(.wrongDimension, error.message)
        case .nonFiniteValue, .zeroVector: self.init(.invalidVector, error.message)
        default: self.init(.invalidArgument, error.message)
        }
    }

    /// The error code the C ABI reports: the storage code for storage failures.
    public var abiCode: Int32 { storage?.code.rawValue ?? code.rawValue }

    public var description: String { "\(code) (\(abiCode)): \(message)" }
}

/// Runs `body`, turning a ``StorageError`` into a ``CollectionError``.
@inline(__always)
func storage<T>(_ body: () throws(StorageError) -> T) throws(CollectionError) -> T {
    do { return try body() } catch { throw CollectionError(error) }
}

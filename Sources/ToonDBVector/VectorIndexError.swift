/// An error from a vector index operation: a machine-readable ``code`` and a human-readable
/// ``message``. The index is unchanged when an operation throws.
public struct VectorIndexError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: String, Sendable, Equatable {
        /// A vector (or query) does not have the index's dimension, or a bulk input's lengths
        /// do not agree.
        case wrongDimension
        /// The id is already in the index (or appears twice in one bulk insert).
        case duplicateID
        /// A vector contains NaN or an infinity.
        case nonFiniteValue
        /// An all-zero vector was given to a cosine index (it has no direction).
        case zeroVector
        /// An argument is out of range (for example a non-positive dimension or `m < 2`).
        case invalidArgument
        /// A file operation failed (open, read, write, fsync, rename, mmap), or the file is
        /// missing; the message names the file, the call and `errno`.
        case io
        /// An index file is damaged or not an index file: bad magic, a checksum mismatch, a
        /// truncated file, or contents that contradict each other; the message names the file,
        /// the section and the byte offset.
        case corruptFile
        /// An index file has a format version this code does not know (written by a newer
        /// ToonDB).
        case unsupportedVersion
    }

    /// What went wrong.
    public let code: Code
    /// Details for a person.
    public let message: String

    /// Makes an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

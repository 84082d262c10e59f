import ToonDBIO

/// The one error type of the storage engine (WAL, SSTables, manifest, transactions).
///
/// Like GRDB's `DatabaseError`, it carries a stable ``Code`` for programs and a message for
/// people; the message names the file, offset, key or LSN involved.
public struct StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable error codes. The raw values are part of the C ABI (issue: embedded mode) and
    /// must not be renumbered.
    public enum Code: Int32, Sendable, CaseIterable {
        /// A bad argument: an empty key, an invalid path, a bad option.
        case invalidArgument = 1
        /// A key longer than the 64 KiB limit.
        case keyTooLarge = 2
        /// A value longer than the configured limit.
        case valueTooLarge = 3
        /// Write-write conflict at commit: another transaction committed a newer version
        /// of a key this one wrote (first committer wins).
        case conflict = 4
        /// The transaction was already committed or aborted.
        case transactionClosed = 5
        /// The database is closed.
        case databaseClosed = 6
        /// Another process (or handle) has the data directory open.
        case locked = 7
        /// Stored data failed a checksum or is malformed.
        case corruption = 8
        /// An I/O error from the operating system.
        case io = 9
        /// The disk is full (ENOSPC / EDQUOT).
        case diskFull = 10
        /// Writes are refused after an earlier write failure until the database is reopened.
        case writesStopped = 11
        /// An invariant the engine relies on does not hold (a bug, not bad input).
        case `internal` = 12
    }

    public var code: Code
    public var message: String
    /// The underlying system error, for I/O failures.
    public var ioError: IOError?

    public init(_ code: Code, _ message: String, ioError: IOError? = nil) {
        self.code = code
        self.message = message
        self.ioError = ioError
    }

    /// Maps an I/O failure: ENOSPC becomes ``Code/diskFull``, anything else ``Code/io``.
    public init(_ error: IOError, context: String? = nil) {
        let prefix = context.map { $0 + ": " } ?? ""
        self.init(error.isNoSpace ? .diskFull : .io, prefix + error.description, ioError: error)
    }

    public static func corruption(_ message: String, path: String? = nil, offset: Int64? = nil) -> StorageError {
        var text = message
        if let path { text += " in \(path)" }
        if let offset { text += " at offset \(offset)" }
        return StorageError(.corruption, text)
    }

    public static func invalidArgument(_ message: String) -> StorageError { StorageError(.invalidArgument, message) }

    public var description: String { "\(code) (\(code.rawValue)): \(message)" }
}

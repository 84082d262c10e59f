#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: which call, on which path, and the errno it returned.
///
/// Every function in ``ToonDBIO`` throws this and only this, so callers can tell a
/// full disk (``isNoSpace``) from a hardware error (``errno`` `EIO`) without parsing text.
public struct IOError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The errno value (for io_uring, the negated `cqe->res`).
    public var errno: Int32
    /// The operation that failed, e.g. `"pwrite"`, `"open"`, `"io_uring write"`.
    public var operation: String
    /// The file or directory involved, when there is one.
    public var path: String?
    /// Extra context (an offset, a length).
    public var detail: String?

    public init(errno: Int32, operation: String, path: String? = nil, detail: String? = nil) {
        self.errno = errno
        self.operation = operation
        self.path = path
        self.detail = detail
    }

    /// `ENOSPC` or `EDQUOT`: the disk (or quota) is full.
    public var isNoSpace: Bool { errno == ENOSPC || errno == EDQUOT }

    /// The C library's text for ``errno``.
    public var reason: String { String(cString: strerror(errno)) }

    public var description: String {
        var text = "\(operation) failed"
        if let path { text += " on \(path)" }
        if let detail { text += " (\(detail))" }
        return text + ": \(reason) (errno \(errno))"
    }

    /// The current thread's errno after a failed libc call.
    @inlinable
    public static func last(_ operation: String, path: String? = nil, detail: String? = nil) -> IOError {
        IOError(errno: Glibc.errno, operation: operation, path: path, detail: detail)
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// How to open a file.
public struct OpenMode: Sendable, Equatable {
    public var flags: Int32
    public static let readOnly = OpenMode(flags: O_RDONLY | O_CLOEXEC)
    /// Read and write an existing file.
    public static let readWrite = OpenMode(flags: O_RDWR | O_CLOEXEC)
    /// Create (or open) for reading and writing.
    public static let createReadWrite = OpenMode(flags: O_RDWR | O_CREAT | O_CLOEXEC)
    /// Create a new file, failing with `EEXIST` if it exists.
    public static let createNew = OpenMode(flags: O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC)
    /// Create, discarding any previous contents.
    public static let createTruncate = OpenMode(flags: O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC)
}

/// An open file descriptor that is closed exactly once, when the value is destroyed.
///
/// Data-path I/O (reads, writes, syncs) goes through an ``IOBackend``; this type carries
/// the descriptor and the path (for error messages) and the metadata calls.
public struct File: ~Copyable, Sendable {
    public let descriptor: Int32
    public let path: String

    /// Opens `path`; new files get mode 0644.
    public static func open(_ path: String, _ mode: OpenMode) throws(IOError) -> File {
        while true {
            let fd = Glibc.open(path, mode.flags, 0o644)
            if fd >= 0 { return File(descriptor: fd, path: path) }
            if Glibc.errno == EINTR { continue }
            throw IOError.last("open", path: path)
        }
    }

    /// Wraps a descriptor the caller owns; it is closed when this value is destroyed.
    public init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { _ = Glibc.close(descriptor) }

    /// The file's current size in bytes.
    public func size() throws(IOError) -> Int64 {
        var st = stat()
        if fstat(descriptor, &st) != 0 { throw IOError.last("fstat", path: path) }
        return Int64(st.st_size)
    }

    /// Cuts (or extends with zeros) the file to `length` bytes.
    public func truncate(to length: Int64) throws(IOError) {
        while ftruncate(descriptor, off_t(length)) != 0 {
            if Glibc.errno == EINTR { continue }
            throw IOError.last("ftruncate", path: path, detail: "length \(length)")
        }
    }

    /// Reserves `length` bytes of disk from `offset` (extending the file with zeros when it
    /// ends before `offset + length`), so later writes there cannot fail with ENOSPC. Returns
    /// false, reserving nothing, where the file system cannot preallocate.
    @discardableResult
    public func preallocate(offset: Int64, length: Int64) throws(IOError) -> Bool {
        let rc = posix_fallocate(descriptor, off_t(offset), off_t(length))
        if rc == EOPNOTSUPP || rc == EINVAL { return false }
        if rc != 0 { throw IOError(errno: rc, operation: "posix_fallocate", path: path, detail: "offset \(offset), length \(length)") }
        return true
    }

    /// Takes an exclusive advisory lock (`fcntl` F_SETLK) on the whole file without waiting.
    /// Returns false when another process holds it.
    public func tryLock() throws(IOError) -> Bool {
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        lock.l_start = 0
        lock.l_len = 0
        if fcntl(descriptor, F_SETLK, &lock) == 0 { return true }
        if Glibc.errno == EAGAIN || Glibc.errno == EACCES { return false }
        throw IOError.last("fcntl(F_SETLK)", path: path)
    }

    /// The pid of the process holding a conflicting lock, if any.
    public func lockHolder() -> Int32? {
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        if fcntl(descriptor, F_GETLK, &lock) == 0, lock.l_type != Int16(F_UNLCK) { return lock.l_pid }
        return nil
    }
}

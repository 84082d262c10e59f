#if canImport(Glibc)
import Glibc
#endif

/// Files replaced atomically: the bytes go to `path + ".tmp"`, which is fsynced and renamed
/// over `path`, and then the directory is fsynced. A crash leaves either the old file or the
/// new one at `path` (and possibly a stale `.tmp`, which the next write replaces).
public enum AtomicFile {
    /// Runs `body` with the temporary file's descriptor and name, then makes it `path`. On any
    /// error the temporary file is removed.
    ///
    /// - Throws: ``VectorIndexError`` with code `io`, naming the file, the call and `errno`.
    public static func write(to path: String,
                             _ body: (_ fd: Int32, _ temporaryPath: String) throws(VectorIndexError) -> Void) throws(VectorIndexError) {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw VectorIndexError(.io, "\(tmp): cannot create: \(errnoDescription(errno))")
        }
        do throws(VectorIndexError) {
            try body(fd, tmp)
            guard fsync(fd) == 0 else {
                throw VectorIndexError(.io, "\(tmp): fsync failed: \(errnoDescription(errno))")
            }
            let closed = close(fd)
            guard closed == 0 else {
                unlink(tmp)
                throw VectorIndexError(.io, "\(tmp): close failed: \(errnoDescription(errno))")
            }
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw VectorIndexError(.io, "\(tmp): rename to \(path) failed: \(errnoDescription(e))")
        }
        try syncDirectory(of: path)
    }

    /// Replaces `path` with `contents`.
    public static func write(to path: String, contents: UnsafeRawBufferPointer) throws(VectorIndexError) {
        try write(to: path) { (fd, tmp) throws(VectorIndexError) in try writeFully(fd, contents, path: tmp) }
    }

    /// `write(2)` until every byte is written (retrying EINTR and short writes).
    static func writeFully(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(VectorIndexError) {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                throw VectorIndexError(.io, "\(path): write failed: \(errnoDescription(e))")
            }
            done += n
        }
    }

    /// fsyncs the directory holding `path`, so that the rename is durable.
    private static func syncDirectory(of path: String) throws(VectorIndexError) {
        var directory = "."
        if let slash = path.lastIndex(of: "/") {
            directory = slash == path.startIndex ? "/" : String(path[..<slash])
        }
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else {
            throw VectorIndexError(.io, "\(directory): cannot open directory to fsync it: \(errnoDescription(errno))")
        }
        defer { close(dfd) }
        guard fsync(dfd) == 0 else {
            throw VectorIndexError(.io, "\(directory): directory fsync failed: \(errnoDescription(errno))")
        }
    }
}

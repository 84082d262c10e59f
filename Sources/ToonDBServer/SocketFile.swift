#if canImport(Glibc)
import Glibc
#endif

/// The listening socket's file: stale-file replacement, permissions, removal.
enum SocketFile {
    /// Makes `path` free for a new listener: a socket file nobody accepts on (left by a dead
    /// server) is removed; a live one, or a file that is not a socket, is an error.
    static func prepare(_ path: String) throws(ServerError) {
        guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            throw ServerError(.socketPath, "socket path \(path) is \(path.utf8.count) bytes; Unix sockets allow at most \(MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1)")
        }
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw ServerError(.socketPath, "cannot use socket path \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw ServerError(.socketPath, "\(path) exists and is not a socket; remove it or choose another --socket")
        }
        if isLive(path) {
            throw ServerError(.socketInUse, "another server is listening on \(path)")
        }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw ServerError(.socketPath, "cannot remove the stale socket \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Whether something accepts connections on the socket at `path`.
    static func isLive(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0
    }

    /// Sets the socket file's mode and, when named, its group.
    static func secure(_ path: String, mode: UInt16, group: String?) throws(ServerError) {
        if let group {
            guard let entry = getgrnam(group) else {
                throw ServerError(.socketPath, "unknown group \"\(group)\" for the socket file")
            }
            guard chown(path, uid_t.max, entry.pointee.gr_gid) == 0 else {
                throw ServerError(.socketPath, "cannot give \(path) to group \(group): \(String(cString: strerror(errno)))")
            }
        }
        guard chmod(path, mode_t(mode)) == 0 else {
            throw ServerError(.socketPath, "cannot set the mode of \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Runs `body` (which creates the socket file) with a umask that keeps the file private
    /// until ``secure(_:mode:group:)`` sets its final mode.
    static func withPrivateUmask<T>(_ body: () throws -> T) rethrows -> T {
        let previous = umask(0o177)
        defer { umask(previous) }
        return try body()
    }
}

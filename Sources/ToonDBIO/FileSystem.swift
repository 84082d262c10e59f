#if canImport(Glibc)
import Glibc
#endif

/// Directory and metadata system calls, each wrapped once with typed errors and EINTR retries.
public enum FileSystem {
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates `path` and any missing parents (mode 0755). Succeeds if it already exists.
    public static func createDirectory(_ path: String) throws(IOError) {
        if isDirectory(path) { return }
        let parent = directoryName(path)
        if parent != path && !parent.isEmpty && !isDirectory(parent) { try createDirectory(parent) }
        if mkdir(path, 0o755) != 0 && Glibc.errno != EEXIST { throw IOError.last("mkdir", path: path) }
    }

    /// The names in a directory, without `.` and `..`, sorted.
    public static func listDirectory(_ path: String) throws(IOError) -> [String] {
        guard let dir = opendir(path) else { throw IOError.last("opendir", path: path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public static func remove(_ path: String) throws(IOError) {
        if unlink(path) != 0 && Glibc.errno != ENOENT { throw IOError.last("unlink", path: path) }
    }

    /// Removes a directory tree (used by tests and by replacing checkpoint targets).
    public static func removeTree(_ path: String) throws(IOError) {
        guard exists(path) else { return }
        if isDirectory(path) {
            for name in try listDirectory(path) { try removeTree(path + "/" + name) }
            if rmdir(path) != 0 && Glibc.errno != ENOENT { throw IOError.last("rmdir", path: path) }
        } else {
            try remove(path)
        }
    }

    /// Atomically replaces `to` with `from`.
    public static func rename(_ from: String, to: String) throws(IOError) {
        if Glibc.rename(from, to) != 0 { throw IOError.last("rename", path: from, detail: "to \(to)") }
    }

    /// A hard link: `link` names the same inode as `target`.
    public static func hardLink(_ target: String, at link: String) throws(IOError) {
        if Glibc.link(target, link) != 0 { throw IOError.last("link", path: target, detail: "to \(link)") }
    }

    /// fsync on a directory, so created, renamed and removed names are durable.
    public static func syncDirectory(_ path: String) throws(IOError) {
        let file = try File.open(path, OpenMode(flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC))
        if fsync(file.descriptor) != 0 { throw IOError.last("fsync(dir)", path: path) }
    }

    public static func fileSize(_ path: String) throws(IOError) -> Int64 {
        var st = stat()
        if stat(path, &st) != 0 { throw IOError.last("stat", path: path) }
        return Int64(st.st_size)
    }

    /// The canonical absolute path (symlinks resolved); the path itself if it cannot be resolved.
    public static func canonicalPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Everything before the last `/` ("." when there is none).
    public static func directoryName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// Writes `bytes` to `path` through a temporary file, fsyncs it, renames it into place and
    /// fsyncs the directory: after a crash the file holds either the old or the new contents.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], backend: any IOBackend) throws(IOError) {
        let temporary = path + ".tmp"
        do {
            let file = try File.open(temporary, .createTruncate)
            try bytes.withBytes { (buffer) throws(IOError) in try backend.write(file, buffer, at: 0) }
            try backend.sync(file, dataOnly: false)
        }
        try rename(temporary, to: path)
        try syncDirectory(directoryName(path))
    }

    /// Reads a whole (small) file.
    public static func readAll(_ path: String, backend: any IOBackend) throws(IOError) -> [UInt8] {
        let file = try File.open(path, .readOnly)
        let size = Int(try file.size())
        var bytes = [UInt8](repeating: 0, count: size)
        let count = try bytes.withMutableBytes { (buffer) throws(IOError) in try backend.read(file, into: buffer, at: 0) }
        if count < size { bytes.removeLast(size - count) }
        return bytes
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import ToonDBFormat
import ToonDBIO

/// One process, one open handle per data directory.
///
/// `LOCK` holds an fcntl write lock for as long as the database is open, and the pid of the
/// holder as text. fcntl locks are per process, so a second open in the same process is caught
/// by an in-process registry of open directories.
final class DirectoryLock: Sendable {
    private static let openDirectories = Mutex<Set<String>>([])
    private let file: File
    private let key: String

    private init(file: consuming File, key: String) {
        self.file = file
        self.key = key
    }

    static func acquire(directory: String) throws(StorageError) -> DirectoryLock {
        let key = FileSystem.canonicalPath(directory)
        guard openDirectories.withLock({ $0.insert(key).inserted }) else {
            throw StorageError(.locked, "database is locked by pid \(getpid()) (this process already has \(directory) open)")
        }
        do throws(StorageError) {
            let file = try openLockFile(directory + "/LOCK")
            let locked: Bool
            do { locked = try file.tryLock() } catch { throw StorageError(error, context: "locking the database directory") }
            guard locked else {
                let holder = file.lockHolder().map { "pid \($0)" } ?? "another process"
                throw StorageError(.locked, "database is locked by \(holder): \(directory)")
            }
            let pid = Array("\(getpid())\n".utf8)
            try? file.truncate(to: 0)
            _ = pid.withUnsafeBytes { Glibc.pwrite(file.descriptor, $0.baseAddress, $0.count, 0) }
            return DirectoryLock(file: file, key: key)
        } catch {
            openDirectories.withLock { _ = $0.remove(key) }
            throw error
        }
    }

    private static func openLockFile(_ path: String) throws(StorageError) -> File {
        do { return try File.open(path, .createReadWrite) } catch { throw StorageError(error, context: "opening LOCK") }
    }

    /// Releases the in-process claim; closing the file (when this object goes) drops the fcntl lock.
    func release() {
        Self.openDirectories.withLock { _ = $0.remove(key) }
    }
}

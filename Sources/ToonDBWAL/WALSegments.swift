import ToonDBFormat
import ToonDBIO

/// A WAL segment file on disk.
public struct WALSegmentInfo: Sendable, Equatable {
    public var firstLSN: LSN
    public var path: String
    public var size: Int64
}

/// The segment files of a WAL directory.
public enum WALDirectory {
    /// Segments sorted by first LSN (other files are ignored).
    public static func segments(in directory: String) throws(StorageError) -> [WALSegmentInfo] {
        guard FileSystem.exists(directory) else { return [] }
        let names: [String]
        do { names = try FileSystem.listDirectory(directory) } catch { throw StorageError(error, context: "listing the WAL") }
        var result: [WALSegmentInfo] = []
        for name in names {
            guard let first = WALFormat.firstLSN(ofSegmentNamed: name) else { continue }
            let path = directory + "/" + name
            let size: Int64
            do { size = try FileSystem.fileSize(path) } catch { throw StorageError(error, context: "reading the WAL") }
            result.append(WALSegmentInfo(firstLSN: first, path: path, size: size))
        }
        return result.sorted { $0.firstLSN < $1.firstLSN }
    }

    /// Reads a whole segment.
    static func read(_ segment: WALSegmentInfo, backend: any IOBackend) throws(StorageError) -> [UInt8] {
        do { return try FileSystem.readAll(segment.path, backend: backend) } catch { throw StorageError(error, context: "reading a WAL segment") }
    }
}

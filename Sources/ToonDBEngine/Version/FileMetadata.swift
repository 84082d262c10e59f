import Synchronization
import ToonDBFormat
import ToonDBIO

/// Deletes table files once nothing references them.
protocol ObsoleteFileSink: AnyObject, Sendable {
    func tableBecameUnreferenced(number: UInt64, path: String)
}

/// A live SSTable: its number, size, key range and LSN range.
///
/// Versions share these objects. When compaction replaces a table, the table is marked obsolete;
/// the file is deleted when the last version holding it (and so the last iterator reading it)
/// is gone, never while a reader may still open it.
final class FileMetadata: Sendable {
    let number: UInt64
    let path: String
    let size: Int64
    /// Smallest and largest internal keys.
    let smallest: [UInt8]
    let largest: [UInt8]
    let minLSN: LSN
    let maxLSN: LSN
    let entries: UInt64
    private let obsolete = Atomic<Bool>(false)
    private let sink: Mutex<(any ObsoleteFileSink)?>

    init(number: UInt64, path: String, size: Int64, smallest: [UInt8], largest: [UInt8],
         minLSN: LSN, maxLSN: LSN, entries: UInt64, sink: (any ObsoleteFileSink)?) {
        self.number = number
        self.path = path
        self.size = size
        self.smallest = smallest
        self.largest = largest
        self.minLSN = minLSN
        self.maxLSN = maxLSN
        self.entries = entries
        self.sink = Mutex(sink)
    }

    var smallestUserKey: [UInt8] { Array(smallest.dropLast(8)) }
    var largestUserKey: [UInt8] { Array(largest.dropLast(8)) }

    /// This table as a manifest entry at `level`.
    func manifestEntry(level: Int) -> VersionEdit.NewTable {
        VersionEdit.NewTable(level: level, number: number, size: size, smallest: smallest, largest: largest,
                             minLSN: minLSN, maxLSN: maxLSN, entries: entries)
    }

    /// Called when a version edit removes this table.
    func markObsolete() { obsolete.store(true, ordering: .releasing) }

    /// Whether `userKey` lies in this table's key range.
    func covers(_ userKey: UnsafeRawBufferPointer) -> Bool {
        smallest.withUnsafeBytes { s in
            largest.withUnsafeBytes { l in
                compareBytes(userKey, InternalKey.userKey(s)) >= 0 && compareBytes(userKey, InternalKey.userKey(l)) <= 0
            }
        }
    }

    deinit {
        if obsolete.load(ordering: .acquiring), let sink = sink.withLock({ $0 }) {
            sink.tableBecameUnreferenced(number: number, path: path)
        }
    }
}

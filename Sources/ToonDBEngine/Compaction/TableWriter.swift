import ToonDBFormat
import ToonDBIO
import ToonDBTable

/// Writes a sorted stream of internal entries into one or more new tables, cutting a new table
/// once the current one reaches the target size, and only between two user keys (so a user
/// key's versions never span two tables of a level).
struct TableWriter {
    let directory: String
    let backend: any IOBackend
    let options: TableOptions
    let targetSize: Int64
    let newFileNumber: () -> UInt64

    private(set) var outputs: [VersionEdit.NewTable] = []
    private var builder: TableBuilder?
    private var number: UInt64 = 0
    private var lastUserKey: [UInt8] = []
    private var hasLast = false
    private(set) var bytesWritten: Int64 = 0

    init(directory: String, backend: any IOBackend, options: TableOptions, targetSize: Int64, newFileNumber: @escaping () -> UInt64) {
        self.directory = directory
        self.backend = backend
        self.options = options
        self.targetSize = targetSize
        self.newFileNumber = newFileNumber
    }

    mutating func add(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, level: Int) throws(StorageError) {
        let user = InternalKey.userKey(key)
        let sameUserKey = hasLast && lastUserKey.withUnsafeBytes { compareBytes($0, user) == 0 }
        if let current = builder, !sameUserKey, current.estimatedFileSize >= targetSize {
            try finishCurrent(level: level)
        }
        if builder == nil {
            number = newFileNumber()
            builder = try TableBuilder(path: VersionSet.tablePath(directory, number), backend: backend, options: options)
        }
        try builder!.add(key, value)
        if !sameUserKey {
            lastUserKey.removeAll(keepingCapacity: true)
            lastUserKey.append(contentsOf: user)
            hasLast = true
        }
    }

    mutating func finishCurrent(level: Int) throws(StorageError) {
        guard let current = builder else { return }
        builder = nil
        let properties = try current.finish(sync: true)
        bytesWritten += properties.fileSize
        outputs.append(VersionEdit.NewTable(
            level: level, number: number, size: properties.fileSize, smallest: properties.smallestKey, largest: properties.largestKey,
            minLSN: properties.minLSN, maxLSN: properties.maxLSN, entries: properties.entryCount))
    }

    /// Deletes everything written (after a failure).
    mutating func abandon() {
        builder?.abandon()
        builder = nil
        for output in outputs { try? FileSystem.remove(VersionSet.tablePath(directory, output.number)) }
        outputs.removeAll()
    }
}

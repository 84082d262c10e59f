import ToonDBFormat

/// How tables are built and read.
public struct TableOptions: Sendable, Equatable {
    /// Target size of a data block's contents; a block is closed once it reaches this size
    /// (an entry larger than this makes one big block).
    public var blockSize: Int
    /// A full key (restart point) every this many entries in data blocks.
    public var restartInterval: Int
    /// Bloom filter bits per distinct user key; 0 writes no filter.
    public var bloomBitsPerKey: Int
    /// Writes kept in flight by the builder's stream writer.
    public var writeDepth: Int
    /// The builder hands output to the stream writer in chunks of about this many bytes.
    public var writeChunkSize: Int
    /// Point lookups read data blocks in place from a read-only mapping of the file (see
    /// ``MappedBlocks``) instead of through the block cache. Scans, compactions and batched
    /// lookups read through the I/O backend either way.
    public var mapReads: Bool

    /// The defaults: 4 KiB blocks, a restart every 16 entries, 10 bloom bits per key, 4 writes
    /// in flight of 256 KiB each, mapped point lookups.
    public init(blockSize: Int = 4096, restartInterval: Int = 16, bloomBitsPerKey: Int = 10,
                writeDepth: Int = 4, writeChunkSize: Int = 256 << 10, mapReads: Bool = true) {
        self.mapReads = mapReads
        self.blockSize = blockSize
        self.restartInterval = restartInterval
        self.bloomBitsPerKey = bloomBitsPerKey
        self.writeDepth = writeDepth
        self.writeChunkSize = writeChunkSize
    }
}

/// What a table holds, recorded in its properties block.
public struct TableProperties: Sendable, Equatable {
    /// The size of the whole file in bytes.
    public var fileSize: Int64
    /// Entries (values and tombstones).
    public var entryCount: UInt64
    /// Tombstones among them.
    public var deletionCount: UInt64
    /// The first and last internal keys (empty for an empty table).
    public var smallestKey: [UInt8]
    public var largestKey: [UInt8]
    /// The smallest and largest LSN of any entry (0 for an empty table).
    public var minLSN: LSN
    public var maxLSN: LSN
    /// Bytes of data blocks, trailers included.
    public var dataSize: UInt64
    /// Number of data blocks.
    public var dataBlockCount: UInt64
    /// Bytes of the index and filter blocks (trailers excluded).
    public var indexSize: UInt64
    public var filterSize: UInt64
    /// Sum of the lengths of all internal keys and of all values.
    public var rawKeySize: UInt64
    public var rawValueSize: UInt64
    /// The format version the table was written with.
    public var formatVersion: UInt32

    /// Properties with every field given (all default to zero or empty).
    public init(fileSize: Int64 = 0, entryCount: UInt64 = 0, deletionCount: UInt64 = 0,
                smallestKey: [UInt8] = [], largestKey: [UInt8] = [], minLSN: LSN = 0, maxLSN: LSN = 0,
                dataSize: UInt64 = 0, dataBlockCount: UInt64 = 0, indexSize: UInt64 = 0, filterSize: UInt64 = 0,
                rawKeySize: UInt64 = 0, rawValueSize: UInt64 = 0, formatVersion: UInt32 = TableFormat.version) {
        self.fileSize = fileSize
        self.entryCount = entryCount
        self.deletionCount = deletionCount
        self.smallestKey = smallestKey
        self.largestKey = largestKey
        self.minLSN = minLSN
        self.maxLSN = maxLSN
        self.dataSize = dataSize
        self.dataBlockCount = dataBlockCount
        self.indexSize = indexSize
        self.filterSize = filterSize
        self.rawKeySize = rawKeySize
        self.rawValueSize = rawValueSize
        self.formatVersion = formatVersion
    }

    /// The user key of ``smallestKey`` (empty for an empty table).
    public var smallestUserKey: [UInt8] { smallestKey.count >= 8 ? Array(smallestKey.dropLast(8)) : [] }
    /// The user key of ``largestKey`` (empty for an empty table).
    public var largestUserKey: [UInt8] { largestKey.count >= 8 ? Array(largestKey.dropLast(8)) : [] }

    // Tags of the properties block (tag varint | length varint | value). Integers are varints
    // inside the value; unknown tags are skipped by readers.
    private enum Tag: UInt64 {
        case formatVersion = 1, entryCount, deletionCount, dataSize, dataBlockCount, indexSize, filterSize
        case minLSN, maxLSN, smallestKey, largestKey, rawKeySize, rawValueSize
    }

    /// The properties block's contents (`fileSize` is not stored: it is the file's size).
    func encode() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(128 + smallestKey.count + largestKey.count)
        func integer(_ tag: Tag, _ value: UInt64) {
            bytes.appendVarint(tag.rawValue)
            bytes.appendVarint(UInt64(varintLength(value)))
            bytes.appendVarint(value)
        }
        func raw(_ tag: Tag, _ value: [UInt8]) {
            bytes.appendVarint(tag.rawValue)
            bytes.appendLengthPrefixed(value)
        }
        integer(.formatVersion, UInt64(formatVersion))
        integer(.entryCount, entryCount)
        integer(.deletionCount, deletionCount)
        integer(.dataSize, dataSize)
        integer(.dataBlockCount, dataBlockCount)
        integer(.indexSize, indexSize)
        integer(.filterSize, filterSize)
        integer(.minLSN, minLSN)
        integer(.maxLSN, maxLSN)
        raw(.smallestKey, smallestKey)
        raw(.largestKey, largestKey)
        integer(.rawKeySize, rawKeySize)
        integer(.rawValueSize, rawValueSize)
        return bytes
    }

    static func decode(_ contents: UnsafeRawBufferPointer, fileSize: Int64, path: String, offset: Int64) throws(StorageError) -> TableProperties {
        var reader = ByteReader(contents, context: "table properties block of \(path) at offset \(offset)")
        var properties = TableProperties(fileSize: fileSize)
        var seen = Set<UInt64>()
        while !reader.isAtEnd {
            let tag = try reader.readVarint()
            let length = try reader.readLength()
            let value = try reader.readSlice(length)
            seen.insert(tag)
            guard let known = Tag(rawValue: tag) else { continue }
            switch known {
            case .smallestKey: properties.smallestKey = [UInt8](value)
            case .largestKey: properties.largestKey = [UInt8](value)
            default:
                var inner = ByteReader(value, context: "table properties field \(tag) of \(path) at offset \(offset)")
                let number = try inner.readVarint()
                switch known {
                case .formatVersion:
                    guard number <= UInt64(UInt32.max) else { throw .corruption("table properties: bad format version \(number)", path: path, offset: offset) }
                    properties.formatVersion = UInt32(number)
                case .entryCount: properties.entryCount = number
                case .deletionCount: properties.deletionCount = number
                case .dataSize: properties.dataSize = number
                case .dataBlockCount: properties.dataBlockCount = number
                case .indexSize: properties.indexSize = number
                case .filterSize: properties.filterSize = number
                case .minLSN: properties.minLSN = number
                case .maxLSN: properties.maxLSN = number
                case .rawKeySize: properties.rawKeySize = number
                case .rawValueSize: properties.rawValueSize = number
                case .smallestKey, .largestKey: break
                }
            }
        }
        for required: Tag in [.formatVersion, .entryCount, .smallestKey, .largestKey, .minLSN, .maxLSN] where !seen.contains(required.rawValue) {
            throw .corruption("table properties block lacks field \(required.rawValue)", path: path, offset: offset)
        }
        if properties.entryCount > 0 && (properties.smallestKey.count < 8 || properties.largestKey.count < 8) {
            throw .corruption("table properties: smallest or largest key shorter than 8 bytes", path: path, offset: offset)
        }
        return properties
    }
}

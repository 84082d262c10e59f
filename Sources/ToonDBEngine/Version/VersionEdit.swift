import ToonDBFormat

/// A change to the set of live tables, as recorded in the manifest.
///
/// Encoding: a sequence of tagged fields, each `tag varint` followed by its data:
/// - 1 next file number: `varint`
/// - 2 flushed LSN (every version with LSN <= it is in tables): `varint`
/// - 3 last LSN known when the edit was written: `varint`
/// - 4 epoch (leader term): `varint`
/// - 5 deleted table: `level varint | number varint`
/// - 6 new table: `level varint | number varint | size varint | smallest (len-prefixed) | largest (len-prefixed) | min LSN varint | max LSN varint | entries varint`
/// - 7 compaction pointer: `level varint | internal key (len-prefixed)`
struct VersionEdit: Sendable, Equatable {
    struct NewTable: Sendable, Equatable {
        var level: Int
        var number: UInt64
        var size: Int64
        var smallest: [UInt8]
        var largest: [UInt8]
        var minLSN: LSN
        var maxLSN: LSN
        var entries: UInt64
    }

    var nextFileNumber: UInt64?
    var flushedLSN: LSN?
    var lastLSN: LSN?
    var epoch: UInt64?
    var deleted: [(level: Int, number: UInt64)] = []
    var added: [NewTable] = []
    var compactionPointers: [(level: Int, key: [UInt8])] = []

    static func == (a: VersionEdit, b: VersionEdit) -> Bool {
        a.nextFileNumber == b.nextFileNumber && a.flushedLSN == b.flushedLSN && a.lastLSN == b.lastLSN && a.epoch == b.epoch
            && a.deleted.map(\.level) == b.deleted.map(\.level) && a.deleted.map(\.number) == b.deleted.map(\.number)
            && a.added == b.added
            && a.compactionPointers.map(\.level) == b.compactionPointers.map(\.level)
            && a.compactionPointers.map(\.key) == b.compactionPointers.map(\.key)
    }

    func encode() -> [UInt8] {
        var bytes: [UInt8] = []
        if let nextFileNumber { bytes.appendVarint(1); bytes.appendVarint(nextFileNumber) }
        if let flushedLSN { bytes.appendVarint(2); bytes.appendVarint(flushedLSN) }
        if let lastLSN { bytes.appendVarint(3); bytes.appendVarint(lastLSN) }
        if let epoch { bytes.appendVarint(4); bytes.appendVarint(epoch) }
        for (level, number) in deleted {
            bytes.appendVarint(5); bytes.appendVarint(UInt64(level)); bytes.appendVarint(number)
        }
        for table in added {
            bytes.appendVarint(6)
            bytes.appendVarint(UInt64(table.level))
            bytes.appendVarint(table.number)
            bytes.appendVarint(UInt64(table.size))
            bytes.appendLengthPrefixed(table.smallest)
            bytes.appendLengthPrefixed(table.largest)
            bytes.appendVarint(table.minLSN)
            bytes.appendVarint(table.maxLSN)
            bytes.appendVarint(table.entries)
        }
        for (level, key) in compactionPointers {
            bytes.appendVarint(7); bytes.appendVarint(UInt64(level)); bytes.appendLengthPrefixed(key)
        }
        return bytes
    }

    static func decode(_ payload: UnsafeRawBufferPointer) throws(StorageError) -> VersionEdit {
        var reader = ByteReader(payload, context: "manifest version edit")
        var edit = VersionEdit()
        func level(_ reader: inout ByteReader) throws(StorageError) -> Int {
            let value = try reader.readLength(limit: VersionSet.levelCount - 1)
            return value
        }
        while !reader.isAtEnd {
            let tag = try reader.readVarint()
            switch tag {
            case 1: edit.nextFileNumber = try reader.readVarint()
            case 2: edit.flushedLSN = try reader.readVarint()
            case 3: edit.lastLSN = try reader.readVarint()
            case 4: edit.epoch = try reader.readVarint()
            case 5: edit.deleted.append((try level(&reader), try reader.readVarint()))
            case 6:
                let table = NewTable(
                    level: try level(&reader), number: try reader.readVarint(), size: Int64(try reader.readLength(limit: Int.max)),
                    smallest: try reader.readLengthPrefixed(), largest: try reader.readLengthPrefixed(),
                    minLSN: try reader.readVarint(), maxLSN: try reader.readVarint(), entries: try reader.readVarint())
                guard table.smallest.count >= 8, table.largest.count >= 8 else {
                    throw .corruption("manifest: table \(table.number) has a key shorter than 8 bytes")
                }
                edit.added.append(table)
            case 7: edit.compactionPointers.append((try level(&reader), try reader.readLengthPrefixed()))
            default: throw .corruption("manifest: unknown version edit tag \(tag) at byte \(reader.position)")
            }
        }
        return edit
    }
}

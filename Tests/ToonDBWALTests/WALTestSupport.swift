#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
import ToonDBFormat
import ToonDBIO
import ToonDBTestSupport
import ToonDBWAL

/// The batch the tests store at `lsn`: its content is a function of the LSN (and `size`), so
/// any record can be checked after recovery without keeping copies.
func testBatch(_ lsn: LSN, size: Int = 40) -> WriteBatch {
    var batch = WriteBatch()
    let key = Array("key-\(lsn)".utf8)
    let value = (0..<size).map { UInt8(truncatingIfNeeded: Int(lsn) &* 31 &+ $0) }
    batch.put(key, value)
    if lsn % 5 == 0 { batch.delete(Array("gone-\(lsn)".utf8)) }
    if lsn % 7 == 0 { batch.put(Array("empty-\(lsn)".utf8), []) }
    return batch
}

func testEpoch(_ lsn: LSN) -> UInt64 { lsn / 10 }

func expectedRecord(_ lsn: LSN, size: Int = 40) -> WALRecord {
    WALRecord(lsn: lsn, epoch: testEpoch(lsn), batch: testBatch(lsn, size: size))
}

/// Encoded records for `lsns`.
func encodeRecords(_ lsns: ClosedRange<LSN>, size: Int = 40) -> [UInt8] {
    var bytes: [UInt8] = []
    for lsn in lsns { WALFormat.appendRecord(lsn: lsn, epoch: testEpoch(lsn), batch: testBatch(lsn, size: size), to: &bytes) }
    return bytes
}

/// The size of the record `encodeRecords` produces for `lsn`.
func recordSize(_ lsn: LSN, size: Int = 40) -> Int { encodeRecords(lsn...lsn, size: size).count }

/// What a recovery pass returned: the outcome or the error, and the records it handed over.
struct Replayed {
    var outcome: WALRecoveryOutcome?
    var error: StorageError?
    var records: [WALRecord] = []
    var lsns: [LSN] { records.map(\.lsn) }
}

func replay(_ directory: String, backend: any IOBackend = POSIXBackend(), after: LSN = 0, repair: Bool = true) -> Replayed {
    var result = Replayed()
    var collected: [WALRecord] = []
    do throws(StorageError) {
        result.outcome = try WALRecovery.replay(directory: directory, backend: backend, after: after, repair: repair) { (raw) throws(StorageError) in
            collected.append(WALRecord(lsn: raw.lsn, epoch: raw.epoch, batch: try WriteBatch.decode(raw.payload)))
        }
    } catch {
        result.error = error
    }
    result.records = collected
    return result
}

/// Recovers `directory` and opens a writer after it (what the engine does at open). `mapped`:
/// small appends are stored into the mapped segment (the default) instead of written through
/// `backend`, whose write faults then never fire.
func openWriter(_ directory: String, backend: any IOBackend = POSIXBackend(), segmentSize: Int64 = 64 << 20,
                mapped: Bool = true) throws -> (WALWriter, WALRecoveryOutcome) {
    let outcome = try WALRecovery.replay(directory: directory, backend: backend, after: 0) { (_) throws(StorageError) in }
    let writer = try WALWriter(directory: directory, backend: backend, lastLSN: outcome.lastLSN, tail: outcome.tail,
                               options: WALWriter.Options(segmentSize: segmentSize, mappedAppends: mapped))
    return (writer, outcome)
}

/// Appends records `lsns` as one group.
func append(_ writer: WALWriter, _ lsns: ClosedRange<LSN>, sync: Bool = false, size: Int = 40) throws(StorageError) {
    try writer.append(encodeRecords(lsns, size: size), firstLSN: lsns.lowerBound, lastLSN: lsns.upperBound, sync: sync)
}

/// Appends `count` records one at a time from `first`.
func appendEach(_ writer: WALWriter, from first: LSN, count: Int, sync: Bool = false) throws(StorageError) {
    for lsn in first..<(first + LSN(count)) { try append(writer, lsn...lsn, sync: sync) }
}

/// The error of a throwing call, or nil when it succeeded.
func failure(_ body: () throws(StorageError) -> Void) -> StorageError? {
    do throws(StorageError) {
        try body()
        return nil
    } catch {
        return error
    }
}

func segments(_ directory: String) throws -> [WALSegmentInfo] { try WALDirectory.segments(in: directory) }


/// Writes through the POSIX backend, except that while armed a write to a path containing
/// `filter` lands only its first half and then fails with ENOSPC (a torn write on a full disk).
final class TornWriteBackend: IOBackend {
    private let base = POSIXBackend()
    private let armed = Mutex(false)
    let filter: String
    init(filter: String) { self.filter = filter }

    var kind: IOBackendKind { .posix }
    func arm() { armed.withLock { $0 = true } }
    var isArmed: Bool { armed.withLock { $0 } }

    private func tear(_ file: borrowing File, _ buffer: UnsafeRawBufferPointer, at offset: Int64) throws(IOError) -> Bool {
        guard file.path.contains(filter), armed.withLock({ let was = $0; $0 = false; return was }) else { return false }
        try base.write(file, UnsafeRawBufferPointer(rebasing: buffer[0..<(buffer.count / 2)]), at: offset)
        throw IOError(errno: ENOSPC, operation: "pwrite (torn, injected)", path: file.path)
    }

    func read(_ file: borrowing File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(IOError) -> Int {
        try base.read(file, into: buffer, at: offset)
    }
    func write(_ file: borrowing File, _ buffer: UnsafeRawBufferPointer, at offset: Int64) throws(IOError) {
        if try tear(file, buffer, at: offset) { return }
        try base.write(file, buffer, at: offset)
    }
    func sync(_ file: borrowing File, dataOnly: Bool) throws(IOError) { try base.sync(file, dataOnly: dataOnly) }
    func writeAndSync(_ file: borrowing File, _ buffer: UnsafeRawBufferPointer, at offset: Int64) throws(IOError) {
        if try tear(file, buffer, at: offset) { return }
        try base.writeAndSync(file, buffer, at: offset)
    }
    func makeStreamWriter(for file: borrowing File, startingAt offset: Int64, depth: Int) throws(IOError) -> any StreamWriter {
        try base.makeStreamWriter(for: file, startingAt: offset, depth: depth)
    }
}

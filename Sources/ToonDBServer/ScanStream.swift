import NIOCore
import ToonDBEngine
import ToonDBFormat
import ToonDBProtocol

/// A SCAN_STREAM reply in progress: ROW frames of about ``batchBytes`` each, produced only
/// while the connection can take them, then END_STREAM.
final class ScanStream {
    /// Where the pairs come from: the engine's lazy iterator (no transaction), or a
    /// transaction's merged view (already materialised by the engine).
    enum Source {
        case iterator(ScanIterator)
        case pairs([(key: [UInt8], value: [UInt8])], next: Int)
    }

    static let batchBytes = 256 << 10

    private var source: Source
    private var remaining: UInt64
    private(set) var total: UInt64 = 0
    private(set) var finished = false

    init(source: Source, limit: UInt32) {
        self.source = source
        self.remaining = limit == 0 ? .max : UInt64(limit)
    }

    /// Writes the next ROW frame (or END_STREAM, once the range is exhausted) to `out`.
    func writeNext(into out: inout ByteBuffer) throws(StorageError) {
        precondition(!finished)
        var count: UInt32 = 0
        let countIndex = out.writerIndex + Frame.headerSize
        var failure: StorageError?
        var stoppedEarly = false  // the batch filled up before the source ran out
        out.writeFrame(.row) { row in
            row.writeInteger(UInt32(0), endianness: .little)
            let start = row.writerIndex
            func append(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Bool {
                row.writeInteger(UInt32(key.count), endianness: .little)
                row.writeBytes(key)
                row.writeInteger(UInt32(value.count), endianness: .little)
                row.writeBytes(value)
                count += 1
                remaining -= 1
                stoppedEarly = remaining > 0 && row.writerIndex - start >= Self.batchBytes
                return remaining > 0 && !stoppedEarly
            }
            do throws(StorageError) {
                switch source {
                case .iterator(let iterator):
                    guard remaining > 0 else { break }
                    try iterator.forEach { key, value in append(key, value) }
                case .pairs(let pairs, var next):
                    while next < pairs.count, remaining > 0 {
                        let keepGoing = pairs[next].key.withUnsafeBytes { key in
                            pairs[next].value.withUnsafeBytes { value in append(key, value) }
                        }
                        next += 1
                        if !keepGoing { break }
                    }
                    source = .pairs(pairs, next: next)
                }
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        out.setInteger(count, at: countIndex, endianness: .little)
        total += UInt64(count)
        if !stoppedEarly {
            if count == 0 { out.moveWriterIndex(to: countIndex - Frame.headerSize) }  // no empty ROW
            out.writeUInt64Frame(.endStream, total)
            finished = true
        }
    }
}

import ToonDBTestSupport
import ToonDBFormat

/// What decoding some bytes with a ``ByteReader`` produced: the value or the error, and the
/// reader's position afterwards. Decoding runs inside `withUnsafeBytes`; the tests assert on
/// the returned value outside any closure.
struct Decoded<Value> {
    var result: Result<Value, StorageError>
    var position: Int

    var value: Value? { try? result.get() }
    var error: StorageError? {
        if case .failure(let error) = result { return error }
        return nil
    }
}

/// Runs `body` over a fresh reader on `bytes`.
func decode<Value>(_ bytes: [UInt8], context: String = "test input",
                   _ body: (inout ByteReader) throws(StorageError) -> Value) -> Decoded<Value> {
    bytes.withUnsafeBytes { raw in
        var reader = ByteReader(raw, context: context)
        do throws(StorageError) {
            let value = try body(&reader)
            return Decoded(result: .success(value), position: reader.position)
        } catch {
            return Decoded(result: .failure(error), position: reader.position)
        }
    }
}

/// Decodes a write batch from `bytes`.
func decodeBatch(_ bytes: [UInt8]) -> Result<WriteBatch, StorageError> {
    bytes.withUnsafeBytes { raw in
        do throws(StorageError) { return .success(try WriteBatch.decode(raw)) } catch { return .failure(error) }
    }
}

func encoded(_ batch: WriteBatch) -> [UInt8] {
    var bytes: [UInt8] = []
    batch.encode(into: &bytes)
    return bytes
}

/// ToonDBTestSupport's deterministic generator, so randomized cases are reproducible.
typealias TestRandom = SeededRandom

/// A bit-at-a-time CRC-32C (reflected polynomial 0x82F63B78): the reference the library's
/// (hardware or table-driven) implementation is checked against.
func referenceCRC32C(_ bytes: [UInt8], extending start: UInt32 = 0) -> UInt32 {
    var crc = ~start
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = (crc >> 1) ^ (0x82F6_3B78 & (0 &- (crc & 1))) }
    }
    return ~crc
}

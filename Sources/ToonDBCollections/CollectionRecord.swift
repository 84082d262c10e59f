import ToonDBTOON
import ToonDBVector

/// The value stored for one item (docs/vector-collections.md):
///
///     u8   format version (1)
///     u8   flags (0)
///     u16  reserved (0)
///     u32  dimension, little-endian
///     f32 × dimension, little-endian
///     metadata: a UTF-8 JSON object, or nothing
public enum CollectionRecord {
    static let version: UInt8 = 1
    static let headerSize = 8

    /// Encodes a vector read from `vector` and its (already validated) metadata.
    public static func encode(_ vector: UnsafeBufferPointer<Float>, metadata: [UInt8]) -> [UInt8] {
        let dimension = vector.count
        var bytes = [UInt8](repeating: 0, count: headerSize + 4 * dimension + metadata.count)
        bytes.withUnsafeMutableBytes { raw in
            raw[0] = version
            raw.storeBytes(of: UInt32(dimension).littleEndian, toByteOffset: 4, as: UInt32.self)
            for i in 0..<dimension {
                raw.storeBytes(of: vector[i].bitPattern.littleEndian, toByteOffset: headerSize + 4 * i, as: UInt32.self)
            }
            if !metadata.isEmpty {
                metadata.withUnsafeBytes { raw.baseAddress!.advanced(by: headerSize + 4 * dimension).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
        }
        return bytes
    }

    /// The dimension the record claims, after checking the header and length; nil when malformed.
    static func dimension(of record: UnsafeRawBufferPointer) -> Int? {
        guard record.count >= headerSize, record[0] == version else { return nil }
        let dimension = Int(UInt32(littleEndian: record.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
        guard record.count >= headerSize + 4 * dimension else { return nil }
        return dimension
    }

    /// Copies the record's vector to `out` (which holds `dimension` floats).
    static func copyVector(of record: UnsafeRawBufferPointer, dimension: Int, to out: UnsafeMutablePointer<Float>) {
        for i in 0..<dimension {
            out[i] = Float(bitPattern: UInt32(littleEndian: record.loadUnaligned(fromByteOffset: headerSize + 4 * i, as: UInt32.self)))
        }
    }

    static func vector(of record: [UInt8], dimension: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: dimension) { buffer, count in
            record.withUnsafeBytes { copyVector(of: $0, dimension: dimension, to: buffer.baseAddress!) }
            count = dimension
        }
    }

    /// The metadata bytes (JSON text, empty when there is none).
    static func metadata(of record: UnsafeRawBufferPointer, dimension: Int) -> [UInt8] {
        Array(record[(headerSize + 4 * dimension)...])
    }
}

/// Checks client metadata: empty (none) or one JSON object. Returns the parsed value.
@discardableResult
func validateMetadata(_ bytes: [UInt8], id: UInt64) throws(CollectionError) -> TOONObject? {
    if bytes.isEmpty { return nil }
    let value: TOONValue
    do { value = try JSONReader.parse(bytes) } catch {
        throw CollectionError(.invalidMetadata, "metadata of id \(id): \(error.message)")
    }
    guard case .object(let object) = value else {
        throw CollectionError(.invalidMetadata, "metadata of id \(id) must be a JSON object")
    }
    return object
}

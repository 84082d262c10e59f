import ToonDBTestSupport
import Testing
import ToonDBFormat
import ToonDBIO
@testable import ToonDBTable

/// Pins the bytes described in docs/sstable-format.md.
@Suite("SSTable format")
struct TableFormatTests {
    @Test("hash test vectors")
    func hashVectors() {
        func hash(_ text: String) -> UInt64 { Array(text.utf8).withUnsafeBytes { tableHash64($0) } }
        #expect(hash("") == 0x323d_ef08_7127_3387)
        #expect(hash("a") == 0x10a8_16fc_eed6_9cb8)
        #expect(hash("toondb") == 0xac9e_7f91_acb8_3552)
        #expect(hash("0123456789abcdef") == 0x1905_5c9c_a1f6_5af4)
    }

    @Test("a two-entry table, byte by byte")
    func goldenLayout() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let path = dir.file("golden.sst")
        let builder = try TableBuilder(path: path, backend: POSIXBackend())
        try builder.add(InternalKey.encode(Array("ab".utf8), 1, .value), Array("x".utf8))
        try builder.add(InternalKey.encode(Array("ac".utf8), 2, .deletion), [])
        let properties = try builder.finish()
        let bytes = try FileDamage.read(path)
        #expect(Int64(bytes.count) == properties.fileSize)

        // Data block: two entries, the second sharing "a" with the first, one restart.
        var block: [UInt8] = [0, 10, 1] + Array("ab".utf8) + [0x01, 1, 0, 0, 0, 0, 0, 0] + Array("x".utf8)
        block += [1, 9, 0] + Array("c".utf8) + [0x00, 2, 0, 0, 0, 0, 0, 0]
        block += [0, 0, 0, 0, 1, 0, 0, 0]
        #expect(Array(bytes[0..<block.count]) == block)
        let crc = CRC32C.checksum(block + [0])
        var trailer: [UInt8] = [0]
        trailer.appendFixed32(CRC32C.mask(crc))
        #expect(Array(bytes[block.count..<(block.count + 5)]) == trailer)
        #expect(properties.dataSize == UInt64(block.count + 5))

        // Footer.
        let footer = Array(bytes.suffix(64))
        #expect(Array(footer[56..<64]) == Array("TOONSST1".utf8))
        #expect(loadFixed32(footer, 48) == 1)
        #expect(CRC32C.unmask(loadFixed32(footer, 52)) == CRC32C.checksum(Array(footer[0..<52])))
        let filterOffset = loadFixed64(footer, 0), filterSize = loadFixed64(footer, 8)
        let propertiesOffset = loadFixed64(footer, 16), propertiesSize = loadFixed64(footer, 24)
        let indexOffset = loadFixed64(footer, 32), indexSize = loadFixed64(footer, 40)
        #expect(filterOffset == UInt64(block.count + 5))
        #expect(filterSize == 64 + 1 && bytes[Int(filterOffset) + 64] == 7)
        #expect(propertiesOffset == filterOffset + filterSize + 5)
        #expect(indexOffset == propertiesOffset + propertiesSize + 5)
        #expect(indexOffset + indexSize + 5 + 64 == UInt64(bytes.count))

        // Index: one entry, key = the last key (no next key to shorten against), value = handle 0/size.
        let lastKey = InternalKey.encode(Array("ac".utf8), 2, .deletion)
        var index: [UInt8] = [0, UInt8(lastKey.count), 2] + lastKey + [0, UInt8(block.count)]
        index += [0, 0, 0, 0, 1, 0, 0, 0]
        #expect(Array(bytes[Int(indexOffset)..<Int(indexOffset + indexSize)]) == index)

        // Properties: tag/length/value fields, starting with the version.
        #expect(Array(bytes[Int(propertiesOffset)..<Int(propertiesOffset + 6)]) == [1, 1, 1, 2, 1, 2])
    }

    @Test("separators: shortened between different user keys, the full key otherwise")
    func separators() {
        func separator(_ last: [UInt8], _ next: [UInt8]) -> [UInt8] {
            var out: [UInt8] = []
            last.withUnsafeBytes { l in next.withUnsafeBytes { n in shortSeparator(l, n, into: &out) } }
            return out
        }
        let a = InternalKey.encode(Array("apple123".utf8), 5, .value)
        let b = InternalKey.encode(Array("banana".utf8), 9, .value)
        var short = Array("b".utf8)
        short.appendFixed64(.max)
        let s = separator(InternalKey.encode(Array("apple123".utf8), 5, .value), InternalKey.encode(Array("cherry".utf8), 9, .value))
        #expect(s == short)
        // Adjacent bytes cannot be shortened; the same user key keeps the full key.
        #expect(separator(a, b) == a)
        let sameUser = InternalKey.encode(Array("apple123".utf8), 4, .value)
        #expect(separator(a, sameUser) == a)
        for (last, next) in [(a, b), (a, sameUser)] {
            let sep = separator(last, next)
            sep.withUnsafeBytes { s in
                last.withUnsafeBytes { l in #expect(InternalKey.compare(l, s) <= 0) }
                next.withUnsafeBytes { n in #expect(InternalKey.compare(s, n) < 0) }
            }
        }
    }
}

private func loadFixed32(_ bytes: [UInt8], _ offset: Int) -> UInt32 { bytes.withUnsafeBytes { ToonDBFormat.loadFixed32($0.baseAddress!, offset) } }
private func loadFixed64(_ bytes: [UInt8], _ offset: Int) -> UInt64 { bytes.withUnsafeBytes { ToonDBFormat.loadFixed64($0.baseAddress!, offset) } }

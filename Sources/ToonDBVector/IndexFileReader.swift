#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only private mapping (`mmap(PROT_READ, MAP_PRIVATE)`) of a whole file. Owned by
/// whoever unmaps it: the loader until the index is built, then the index's ``GraphStorage``.
struct FileMapping {
    let base: UnsafeMutableRawPointer
    let length: Int

    func unmap() { munmap(base, length) }
}

extension HNSWIndex {
    /// Loads an index written by ``write(to:)``.
    ///
    /// The file is memory-mapped read-only (`MAP_PRIVATE`) and checked completely before
    /// anything in it is used: magic, version, header checksum, the file size, every header
    /// field's range, the section table, every section's CRC-32C, the zero padding, and the
    /// graph's consistency (neighbour slots in range and on a layer their node has, levels,
    /// tombstone count, unique live ids, finite vectors). The graph, ids, levels and
    /// tombstones are then copied to the heap; the vectors are used in place from the mapping
    /// (until the first insert grows the storage, which copies them and unmaps the file).
    ///
    /// The loaded index is a normal index: it can be searched, added to and removed from, and
    /// single-threaded inserts continue exactly as they would have in the index that was
    /// written (same level draws, same links).
    ///
    /// While the loaded index uses the mapping, the file must not be modified in place or
    /// truncated (replacing it, as ``write(to:)`` does with a rename, is fine).
    ///
    /// - Throws: ``VectorIndexError`` with code `io` (missing or unreadable file),
    ///   `unsupportedVersion`, or `corruptFile` (naming the file, the section and the offset).
    public static func load(path: String) throws(VectorIndexError) -> HNSWIndex {
        #if _endian(big)
        throw VectorIndexError(.io, "\(path): index files are little-endian; big-endian hosts are not supported")
        #else
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw VectorIndexError(.io, "\(path): cannot open: \(errnoDescription(errno))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw VectorIndexError(.io, "\(path): fstat failed: \(errnoDescription(errno))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw VectorIndexError(.io, "\(path): not a regular file")
        }
        let size = Int(info.st_size)
        guard size >= IndexFileFormat.headerSize else {
            // Too short to map usefully; read what is there to tell "not an index" from "truncated".
            var prefix = [UInt8](repeating: 0, count: 8)
            let got = prefix.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, 8, 0) }
            if got == 8 && prefix != IndexFileFormat.magic {
                throw VectorIndexError(.corruptFile, "\(path): bad magic at offset 0: not a ToonDB vector index file")
            }
            throw VectorIndexError(.corruptFile,
                                   "\(path): truncated: the file is \(size) bytes, shorter than the \(IndexFileFormat.headerSize)-byte header")
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw VectorIndexError(.io, "\(path): mmap of \(size) bytes failed: \(errnoDescription(errno))")
        }
        let mapping = FileMapping(base: base, length: size)
        do {
            return try IndexFileReader(path: path, mapping: mapping).makeIndex()
        } catch {
            mapping.unmap()
            throw error
        }
        #endif
    }
}

/// Validates a mapped index file and builds the index from it.
private struct IndexFileReader {
    typealias Format = IndexFileFormat
    typealias Section = IndexFileFormat.Section

    let path: String
    let mapping: FileMapping
    let bytes: UnsafeRawBufferPointer

    init(path: String, mapping: FileMapping) {
        self.path = path
        self.mapping = mapping
        bytes = UnsafeRawBufferPointer(start: mapping.base, count: mapping.length)
    }

    private func u32(_ offset: Int) -> UInt32 {
        UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    private func u64(_ offset: Int) -> UInt64 {
        UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    private func corrupt(_ message: String) -> VectorIndexError {
        VectorIndexError(.corruptFile, "\(path): \(message)")
    }

    private func corrupt(_ section: Section, at offset: Int, _ message: String) -> VectorIndexError {
        VectorIndexError(.corruptFile, "\(path): section '\(section.name)' at offset \(offset): \(message)")
    }

    func makeIndex() throws(VectorIndexError) -> HNSWIndex {
        // 1. Identity, version, header checksum.
        guard Array(bytes[0..<8]) == Format.magic else {
            throw corrupt("bad magic at offset 0: not a ToonDB vector index file")
        }
        let version = u32(8)
        guard version == 1 || version == Format.version else {
            throw VectorIndexError(.unsupportedVersion,
                                   "\(path): format version \(version) at offset 8 is not supported (this reader knows versions 1 and \(Format.version))")
        }
        let storedHeaderCRC = u32(Format.headerCRCOffset)
        let headerCRC = IndexCRC32C.mask(IndexCRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<Format.headerCRCOffset])))
        guard storedHeaderCRC == headerCRC else {
            throw corrupt("header checksum mismatch at offset \(Format.headerCRCOffset) (stored \(hex(storedHeaderCRC)), computed \(hex(headerCRC)))")
        }
        guard u32(12) == UInt32(Format.headerSize) else {
            throw corrupt("header size \(u32(12)) at offset 12, expected \(Format.headerSize)")
        }
        let declaredSize = u64(16)
        guard declaredSize == UInt64(bytes.count) else {
            throw corrupt(declaredSize > UInt64(bytes.count)
                ? "truncated: the file is \(bytes.count) bytes, the header (offset 16) says \(declaredSize)"
                : "the file is \(bytes.count) bytes, the header (offset 16) says \(declaredSize): \(UInt64(bytes.count) - declaredSize) unexpected trailing bytes")
        }

        // 2. Header fields.
        let dimension = Int(u32(24))
        guard (1...Format.maxDimension).contains(dimension) else {
            throw corrupt("dimension \(dimension) at offset 24 is out of range 1...\(Format.maxDimension)")
        }
        let stride = Int(u32(28))
        guard stride == (dimension + 15) & ~15 else {
            throw corrupt("stride \(stride) at offset 28 is not the dimension \(dimension) rounded up to 16")
        }
        guard let metric = Format.metric(code: u32(32)) else {
            throw corrupt("unknown metric code \(u32(32)) at offset 32")
        }
        let m = Int(u32(36))
        guard (2...255).contains(m) else { throw corrupt("M = \(m) at offset 36 is out of range 2...255") }
        let efConstruction = Int(u32(40))
        guard efConstruction >= m && efConstruction <= Int(Int32.max) else {
            throw corrupt("efConstruction \(efConstruction) at offset 40 is below M = \(m) or too large")
        }
        let maxLevelField = u32(44)
        let seed = u64(48)
        let countField = u64(56)
        guard countField <= UInt64(Format.maxCount) else {
            throw corrupt("node count \(countField) at offset 56 is too large")
        }
        let count = Int(countField)
        let tombstonesField = u64(64)
        guard tombstonesField <= countField else {
            throw corrupt("tombstone count \(tombstonesField) at offset 64 exceeds the node count \(count)")
        }
        let tombstones = Int(tombstonesField)
        let entryField = u32(72)
        if count == 0 {
            guard entryField == Format.none, maxLevelField == Format.none else {
                throw corrupt("an empty index must have entry point and max level 0xFFFFFFFF (offsets 72 and 44)")
            }
        } else {
            guard Int(entryField) < count else {
                throw corrupt("entry point \(entryField) at offset 72 is not a node slot (count \(count))")
            }
            guard maxLevelField <= UInt32(Format.maxLevel) else {
                throw corrupt("max level \(maxLevelField) at offset 44 is above \(Format.maxLevel)")
            }
        }
        guard u32(76) == UInt32(Section.allCases.count) else {
            throw corrupt("section count \(u32(76)) at offset 76, expected \(Section.allCases.count)")
        }
        // Version 2 adds the encoding and the int8 scale; version 1 is always f32.
        var encoding = VectorEncoding.float32
        var int8Scale: Float = 0
        if version >= 2 {
            guard let e = VectorEncoding(fileCode: u32(Format.encodingOffset)) else {
                throw corrupt("unknown encoding code \(u32(Format.encodingOffset)) at offset \(Format.encodingOffset)")
            }
            encoding = e
            int8Scale = Float(bitPattern: u32(Format.int8ScaleOffset))
            if encoding == .int8 {
                guard dimension <= VectorEncoding.maxInt8Dimension else {
                    throw corrupt("dimension \(dimension) at offset 24 is above the int8 encoding's limit \(VectorEncoding.maxInt8Dimension)")
                }
                guard count == 0 ? int8Scale == 0 : (int8Scale.isFinite && int8Scale > 0) else {
                    throw corrupt("int8 scale \(int8Scale) at offset \(Format.int8ScaleOffset) must be positive and finite (0 when the index is empty)")
                }
            } else if u32(Format.int8ScaleOffset) != 0 {
                throw corrupt("int8 scale at offset \(Format.int8ScaleOffset) is not zero for encoding \(encoding.rawValue)")
            }
        }
        let reservedStart = version >= 2 ? Format.int8ScaleOffset + 4
            : Format.sectionTableOffset + Section.allCases.count * Format.sectionEntrySize
        for offset in reservedStart..<Format.headerCRCOffset where bytes[offset] != 0 {
            throw corrupt("reserved header byte at offset \(offset) is not zero")
        }

        // 3. Section table: kinds, offsets and lengths exactly as the layout rule gives.
        let upperEntry = Format.sectionTableOffset + 5 * Format.sectionEntrySize
        let upperLength = u64(upperEntry + 16)
        let listBytes = UInt64((1 + m) * 4)
        guard upperLength % listBytes == 0, upperLength / listBytes <= UInt64(count) * UInt64(Format.maxLevel) else {
            throw corrupt("section table entry at offset \(upperEntry): upper-layer length \(upperLength) is not a whole number of lists")
        }
        let layout = Format.layout(count: count, stride: stride, m: m, upperLists: Int(upperLength / listBytes))
        var sections: [(offset: Int, length: Int, crc: UInt32)] = []
        for (i, section) in Section.allCases.enumerated() {
            let entry = Format.sectionTableOffset + i * Format.sectionEntrySize
            let expected = layout.sections[i]
            guard u32(entry) == section.rawValue else {
                throw corrupt("section table entry \(i) at offset \(entry) has kind \(u32(entry)), expected \(section.rawValue) (\(section.name))")
            }
            guard u64(entry + 8) == UInt64(expected.offset), u64(entry + 16) == UInt64(expected.length) else {
                throw corrupt("section table entry \(i) (\(section.name)) at offset \(entry): offset \(u64(entry + 8)) length \(u64(entry + 16)), expected offset \(expected.offset) length \(expected.length)")
            }
            sections.append((expected.offset, expected.length, u32(entry + 4)))
        }
        guard layout.fileSize == bytes.count else {
            throw corrupt("the sections end at \(layout.fileSize) but the file is \(bytes.count) bytes")
        }

        // 4. Padding and checksums, before any section is interpreted.
        var end = Format.headerSize
        for (i, section) in Section.allCases.enumerated() {
            let (offset, length, stored) = sections[i]
            for p in end..<offset where bytes[p] != 0 {
                throw corrupt("padding byte at offset \(p) before section '\(section.name)' is not zero")
            }
            let crc = IndexCRC32C.mask(IndexCRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)])))
            guard crc == stored else {
                throw corrupt(section, at: offset, "checksum mismatch over \(length) bytes (stored \(hex(stored)), computed \(hex(crc)))")
            }
            end = offset + length
        }

        // 5. Contents.
        let base = bytes.baseAddress!
        let idsAt = sections[0].offset, levelsAt = sections[1].offset, deadAt = sections[2].offset
        let vectorsAt = sections[3].offset, layer0At = sections[4].offset, upperAt = sections[5].offset
        let maxLevel = count == 0 ? -1 : Int(maxLevelField)

        var upperLists = 0
        var highest = -1
        for n in 0..<count {
            let level = Int(bytes[levelsAt + n])
            guard level <= maxLevel else {
                throw corrupt(.levels, at: levelsAt + n, "node \(n) has level \(level), above the max level \(maxLevel)")
            }
            highest = max(highest, level)
            upperLists += level
        }
        guard highest == maxLevel else {
            throw corrupt(.levels, at: levelsAt, "the highest node level is \(highest), the header says \(maxLevel)")
        }
        if count > 0 && Int(bytes[levelsAt + Int(entryField)]) != maxLevel {
            throw corrupt(.levels, at: levelsAt + Int(entryField), "the entry point \(entryField) is not on the top layer \(maxLevel)")
        }
        guard upperLists == sections[5].length / Int(listBytes) else {
            throw corrupt(.upper, at: upperAt, "holds \(sections[5].length / Int(listBytes)) lists, the levels need \(upperLists)")
        }

        var removed = 0
        for n in 0..<count {
            switch bytes[deadAt + n] {
            case 0: break
            case 1: removed += 1
            default: throw corrupt(.tombstones, at: deadAt + n, "node \(n) has tombstone byte \(bytes[deadAt + n]), expected 0 or 1")
            }
        }
        guard removed == tombstones else {
            throw corrupt(.tombstones, at: deadAt, "\(removed) tombstones, the header (offset 64) says \(tombstones)")
        }

        var idToNode: [UInt64: UInt32] = [:]
        idToNode.reserveCapacity(count - tombstones)
        for n in 0..<count where bytes[deadAt + n] == 0 {
            let id = u64(idsAt + 8 * n)
            guard idToNode.updateValue(UInt32(n), forKey: id) == nil else {
                throw corrupt(.ids, at: idsAt + 8 * n, "id \(id) of node \(n) is live twice")
            }
        }

        let components = (base + vectorsAt).assumingMemoryBound(to: UInt32.self)
        for n in 0..<count {
            let row = components + n * stride
            for j in 0..<stride {
                let bits = row[j]
                if j < dimension {
                    guard bits & 0x7F80_0000 != 0x7F80_0000 else {
                        throw corrupt(.vectors, at: vectorsAt + 4 * (n * stride + j), "component \(j) of node \(n) is not finite")
                    }
                } else if bits != 0 {
                    throw corrupt(.vectors, at: vectorsAt + 4 * (n * stride + j), "padding component \(j) of node \(n) is not zero")
                }
            }
        }

        let levels = (base + levelsAt).assumingMemoryBound(to: UInt8.self)
        func checkList(_ section: Section, at offset: Int, node: Int, layer: Int, limit: Int) throws(VectorIndexError) {
            let list = (base + offset).assumingMemoryBound(to: UInt32.self)
            guard Int(list[0]) <= limit else {
                throw corrupt(section, at: offset, "node \(node) has \(list[0]) neighbours on layer \(layer), at most \(limit) allowed")
            }
            for i in 1..<(Int(list[0]) + 1) {
                let neighbour = Int(list[i])
                guard neighbour < count else {
                    throw corrupt(section, at: offset + 4 * i, "neighbour \(neighbour) of node \(node) on layer \(layer) is not a node slot (count \(count))")
                }
                guard Int(levels[neighbour]) >= layer else {
                    throw corrupt(section, at: offset + 4 * i, "neighbour \(neighbour) of node \(node) on layer \(layer) has level \(levels[neighbour])")
                }
            }
        }
        let width0 = 1 + 2 * m
        for n in 0..<count {
            try checkList(.layer0, at: layer0At + 4 * width0 * n, node: n, layer: 0, limit: 2 * m)
        }
        var upperOffset = upperAt
        for n in 0..<count {
            for layer in 1..<(Int(levels[n]) + 1) {
                try checkList(.upper, at: upperOffset, node: n, layer: layer, limit: m)
                upperOffset += 4 * (1 + m)
            }
        }

        // 6. Build. Everything below is trusted.
        if count == 0 {
            let index = try HNSWIndex(dimension: dimension, metric: metric, m: m, efConstruction: efConstruction, seed: seed,
                                      encoding: encoding)
            mapping.unmap()  // after the last throwing call: the caller unmaps on error
            return index
        }
        let storage = GraphStorage(dimension: dimension, metric: metric, m: m, encoding: encoding, int8Scale: int8Scale, count: count,
                                   mappedVectors: (mapping.base + vectorsAt).assumingMemoryBound(to: Float.self),
                                   mapping: mapping)
        UnsafeMutableRawPointer(storage.ids).copyMemory(from: base + idsAt, byteCount: 8 * count)
        UnsafeMutableRawPointer(storage.levels).copyMemory(from: base + levelsAt, byteCount: count)
        UnsafeMutableRawPointer(storage.deleted).copyMemory(from: base + deadAt, byteCount: count)
        UnsafeMutableRawPointer(storage.links0).copyMemory(from: base + layer0At, byteCount: 4 * width0 * count)
        upperOffset = upperAt
        for n in 0..<count where storage.levels[n] > 0 {
            let words = Int(storage.levels[n]) * (1 + m)
            let block = UnsafeMutablePointer<UInt32>.allocate(capacity: words)
            UnsafeMutableRawPointer(block).copyMemory(from: base + upperOffset, byteCount: 4 * words)
            storage.upper[n] = block
            upperOffset += 4 * words
        }
        return HNSWIndex(loadedDimension: dimension, metric: metric, m: m, efConstruction: efConstruction, seed: seed,
                         storage: storage, nodeCount: count, tombstones: tombstones, idToNode: idToNode,
                         entryNode: UInt32(entryField), topLayer: maxLevel)
    }

    private func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}

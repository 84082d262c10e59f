#if canImport(Glibc)
import Glibc
#endif

/// Why a file of vectors could not be read.
public struct VectorFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The file cannot be opened, sized or mapped.
        case io
        /// Not a `.npy` file, or a header that does not parse.
        case badHeader = "bad_header"
        /// A dtype other than little-endian float32, or Fortran order.
        case wrongType = "wrong_type"
        /// Not a 2-D array (or 1-D where one vector is allowed), or not the expected dimension.
        case wrongShape = "wrong_shape"
        /// Fewer bytes than the header (or the dimension) promises.
        case truncated
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// The layouts `toondb-bulk` reads (ToonDB's `--format` names).
public enum VectorFileFormat: String, Sendable, CaseIterable {
    /// Row-major `rows × dimension` little-endian float32, no header (the dimension is given).
    case rawF32 = "raw_f32"
    /// NumPy's `.npy`: a 2-D float32 array in C order.
    case npy
}

/// A `rows × dimension` float32 matrix read from a file by memory-mapping it (no copy): the
/// input of an index build or of a batch of queries. The mapping lives as long as this object.
public final class VectorMatrix: @unchecked Sendable {  // immutable after init; the mapping is read-only
    public let path: String
    public let rows: Int
    public let dimension: Int
    /// The first element of row 0; rows follow each other without padding.
    public let elements: UnsafePointer<Float>
    private let mapping: UnsafeMutableRawPointer?
    private let mappedLength: Int

    /// Reads `path` as `format` (nil: `.npy` when the file starts with NumPy's magic, else raw).
    /// Raw files need `dimension`; for `.npy` a given `dimension` must match the file's.
    /// `allowSingleVector` accepts a 1-D array (or a raw file of one row) as one row.
    public init(path: String, format: VectorFileFormat? = nil, dimension: Int? = nil,
                allowSingleVector: Bool = false) throws(VectorFileError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw VectorFileError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw VectorFileError(.io, "cannot stat \(path): \(String(cString: strerror(errno)))") }
        let size = Int(info.st_size)
        var base: UnsafeMutableRawPointer?
        if size > 0 {
            let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
            guard let mapped, mapped != MAP_FAILED else {
                throw VectorFileError(.io, "cannot map \(path): \(String(cString: strerror(errno)))")
            }
            base = mapped
        }
        let bytes = UnsafeRawBufferPointer(start: base, count: size)
        do throws(VectorFileError) {
            let isNpy = bytes.count >= 6 && bytes.prefix(6).elementsEqual(NpyHeader.magic)
            let layout: (rows: Int, dimension: Int, offset: Int)
            switch format ?? (isNpy ? .npy : .rawF32) {
            case .npy:
                guard isNpy else { throw VectorFileError(.badHeader, "\(path) is not a .npy file (no \\x93NUMPY magic)") }
                let header = try NpyHeader(bytes, path: path)
                guard header.descr == "<f4" || header.descr == "=f4" || header.descr == "f4" else {
                    throw VectorFileError(.wrongType, "\(path) holds dtype \(header.descr), not float32 (<f4); convert it with numpy: array.astype(numpy.float32)")
                }
                guard !header.fortranOrder else {
                    throw VectorFileError(.wrongType, "\(path) is in Fortran order; save a C-ordered array (numpy.ascontiguousarray)")
                }
                switch header.shape.count {
                case 2: layout = (header.shape[0], header.shape[1], header.dataOffset)
                case 1 where allowSingleVector: layout = (1, header.shape[0], header.dataOffset)
                default:
                    throw VectorFileError(.wrongShape, "\(path) holds a \(header.shape.count)-D array of shape \(header.shape); expected 2-D (vectors × dimension)")
                }
                if let dimension, dimension != layout.dimension {
                    throw VectorFileError(.wrongShape, "\(path) has dimension \(layout.dimension), expected \(dimension)")
                }
            case .rawF32:
                guard let dimension, dimension > 0 else {
                    throw VectorFileError(.wrongShape, "\(path) is raw float32: its dimension must be given (--dimension)")
                }
                let rowBytes = dimension * 4
                guard size % rowBytes == 0 else {
                    throw VectorFileError(.truncated, "\(path) has \(size) bytes, not a whole number of \(dimension)-d float32 rows (\(rowBytes) bytes each): truncated, or the wrong dimension")
                }
                layout = (size / rowBytes, dimension, 0)
            }
            guard layout.dimension > 0 else { throw VectorFileError(.wrongShape, "\(path) has dimension 0") }
            let (product, overflow) = layout.rows.multipliedReportingOverflow(by: layout.dimension * 4)
            guard !overflow, layout.offset + product <= size else {
                throw VectorFileError(.truncated, "\(path) is truncated: \(layout.rows) × \(layout.dimension) float32 need \(product) bytes after offset \(layout.offset), the file has \(size - layout.offset)")
            }
            self.rows = layout.rows
            self.dimension = layout.dimension
            // An empty raw file has no mapping and zero rows: the pointer is never read.
            let start = base.map { UnsafeRawPointer($0) + layout.offset } ?? UnsafeRawPointer(bitPattern: MemoryLayout<Float>.alignment)!
            self.elements = start.assumingMemoryBound(to: Float.self)
        } catch {
            if let base { munmap(base, size) }
            throw error
        }
        self.path = path
        self.mapping = base
        self.mappedLength = size
    }

    deinit {
        if let mapping { munmap(mapping, mappedLength) }
    }

    /// Row `index` (valid while this matrix lives).
    public func row(_ index: Int) -> UnsafeBufferPointer<Float> {
        precondition(index >= 0 && index < rows, "row \(index) of \(rows)")
        return UnsafeBufferPointer(start: elements + index * dimension, count: dimension)
    }
}

/// The header of a `.npy` file (format versions 1, 2 and 3): `\x93NUMPY`, major, minor, a
/// little-endian header length (u16 in version 1, u32 after), then a Python dict literal such
/// as `{'descr': '<f4', 'fortran_order': False, 'shape': (20000, 384), }`.
struct NpyHeader {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]

    var descr: String
    var fortranOrder: Bool
    var shape: [Int]
    var dataOffset: Int

    init(_ bytes: UnsafeRawBufferPointer, path: String) throws(VectorFileError) {
        guard bytes.count >= 10 else { throw VectorFileError(.truncated, "\(path) ends inside the .npy preamble") }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw VectorFileError(.truncated, "\(path) ends inside the .npy preamble") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default:
            throw VectorFileError(.badHeader, "\(path) is .npy format version \(major), which is not supported (1 to 3 are)")
        }
        guard headerStart + headerLength <= bytes.count else {
            throw VectorFileError(.truncated, "\(path) ends inside its .npy header (\(headerLength) bytes declared)")
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[headerStart..<(headerStart + headerLength)]), as: UTF8.self)
        func value(of key: String) throws(VectorFileError) -> Substring {
            guard let keyRange = text.firstRange(of: "'\(key)'") ?? text.firstRange(of: "\"\(key)\""),
                  let colon = text[keyRange.upperBound...].firstIndex(of: ":") else {
                throw VectorFileError(.badHeader, "\(path): the .npy header has no '\(key)' entry: \(text)")
            }
            return text[text.index(after: colon)...].drop { $0 == " " }
        }
        let descrValue = try value(of: "descr")
        guard let quote = descrValue.first, quote == "'" || quote == "\"",
              let end = descrValue.dropFirst().firstIndex(of: quote) else {
            throw VectorFileError(.badHeader, "\(path): cannot read the .npy descr in \(text)")
        }
        descr = String(descrValue[descrValue.index(after: descrValue.startIndex)..<end])
        let fortranValue = try value(of: "fortran_order")
        if fortranValue.hasPrefix("True") { fortranOrder = true } else if fortranValue.hasPrefix("False") { fortranOrder = false } else {
            throw VectorFileError(.badHeader, "\(path): cannot read fortran_order in \(text)")
        }
        let shapeValue = try value(of: "shape")
        guard shapeValue.first == "(", let close = shapeValue.firstIndex(of: ")") else {
            throw VectorFileError(.badHeader, "\(path): cannot read the .npy shape in \(text)")
        }
        var dims: [Int] = []
        for part in shapeValue[shapeValue.index(after: shapeValue.startIndex)..<close].split(separator: ",") {
            let trimmed = part.trimmingCharacters(in: " ")
            if trimmed.isEmpty { continue }
            guard let dim = Int(trimmed), dim >= 0 else {
                throw VectorFileError(.badHeader, "\(path): bad dimension '\(trimmed)' in the .npy shape \(text)")
            }
            dims.append(dim)
        }
        shape = dims
        dataOffset = headerStart + headerLength
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> Substring {
        var result = self
        while result.first == set { result = result.dropFirst() }
        while result.last == set { result = result.dropLast() }
        return result
    }
}

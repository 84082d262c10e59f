#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import ToonDBVector

/// `.npy` bytes as NumPy writes them (magic, version, little-endian header length, a dict
/// padded with spaces to a 64-byte boundary and ended by a newline, then the data).
private func npy(descr: String = "<f4", shape: [Int], fortran: Bool = false, values: [Float], version: UInt8 = 1) -> [UInt8] {
    let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    var dict = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shapeText), }"
    let preamble = version == 1 ? 10 : 12
    while (preamble + dict.utf8.count + 1) % 64 != 0 { dict += " " }
    dict += "\n"
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
    let length = dict.utf8.count
    if version == 1 {
        bytes += [UInt8(length & 0xFF), UInt8(length >> 8)]
    } else {
        bytes += (0..<4).map { UInt8((length >> (8 * $0)) & 0xFF) }
    }
    bytes += Array(dict.utf8)
    for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
    return bytes
}

private final class Scratch {
    let directory: String
    init() {
        var template = Array("/tmp/toondb-npy-XXXXXX".utf8CString)
        directory = String(cString: mkdtemp(&template)!)
    }
    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let path = directory + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }
    deinit { try? FileManager.default.removeItem(atPath: directory) }
}

@Suite struct NumpyArrayTests {
    @Test(arguments: [UInt8(1), 2, 3])
    func readsFloat32Matrices(version: UInt8) throws {
        let scratch = Scratch()
        let values = (0..<12).map { Float($0) * 0.5 - 1 }
        let path = scratch.write("m.npy", npy(shape: [3, 4], values: values, version: version))
        let matrix = try VectorMatrix(path: path)
        #expect(matrix.rows == 3 && matrix.dimension == 4)
        #expect(Array(matrix.row(2)) == Array(values[8..<12]))
        #expect(try VectorMatrix(path: path, format: .npy, dimension: 4).rows == 3)
    }

    @Test func readsTheRawVectorSlice() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../testdata/vectors/minilm384_base_5k.f32").standardized.path
        let matrix = try VectorMatrix(path: path, format: .rawF32, dimension: 384)
        #expect(matrix.rows == 5000 && matrix.dimension == 384)
        // MiniLM embeddings are unit length.
        let norm = matrix.row(4999).reduce(0) { $0 + $1 * $1 }
        #expect(abs(norm - 1) < 1e-3)
    }

    @Test func rejectsWhatItCannotUse() throws {
        let scratch = Scratch()
        func error(_ bytes: [UInt8], format: VectorFileFormat? = nil, dimension: Int? = nil, single: Bool = false) -> VectorFileError? {
            let path = scratch.write("x", bytes)
            do {
                _ = try VectorMatrix(path: path, format: format, dimension: dimension, allowSingleVector: single)
                return nil
            } catch {
                return error
            }
        }
        #expect(error(npy(descr: "<f8", shape: [2, 2], values: []))?.code == .wrongType)
        #expect(error(npy(descr: "<f8", shape: [2, 2], values: []))?.message.contains("not float32 (<f4); convert it with numpy: array.astype(numpy.float32)") == true)
        #expect(error(npy(shape: [2, 2], fortran: true, values: [1, 2, 3, 4]))?.code == .wrongType)
        #expect(error(npy(shape: [2, 2, 2], values: Array(repeating: 0, count: 8)))?.code == .wrongShape)
        #expect(error(npy(shape: [4], values: [1, 2, 3, 4]))?.code == .wrongShape)
        #expect(error(npy(shape: [4], values: [1, 2, 3, 4]), single: true) == nil)
        #expect(error(npy(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]), dimension: 4)?.code == .wrongShape)
        #expect(error(npy(shape: [3, 4], values: Array(repeating: 1, count: 11)))?.code == .truncated)
        #expect(error(Array(npy(shape: [3, 4], values: []).prefix(20)))?.code == .truncated)
        #expect(error(Array("not numpy".utf8), format: .npy)?.code == .badHeader)
        #expect(error([UInt8](repeating: 0, count: 10), format: .rawF32)?.code == .wrongShape)  // no dimension
        #expect(error([UInt8](repeating: 0, count: 10), format: .rawF32, dimension: 2)?.code == .truncated)
        #expect(error([0x93] + Array("NUMPY".utf8) + [9, 0, 0, 0])?.code == .badHeader)
        do {
            _ = try VectorMatrix(path: scratch.directory + "/missing.npy")
            Issue.record("a missing file was read")
        } catch {
            #expect(error.code == .io && error.message.contains("No such file"))
        }
    }
}

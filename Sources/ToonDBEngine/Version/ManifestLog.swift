import ToonDBFormat
import ToonDBIO

/// The manifest file: a log of version edits, each framed as
/// `payload length u32 | masked CRC32C u32 (over the length bytes and the payload) | payload`.
/// `CURRENT` names the live manifest and is replaced atomically (write, fsync, rename, fsync dir).
enum ManifestLog {
    static func frame(_ payload: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(payload.count + 8)
        bytes.appendFixed32(UInt32(payload.count))
        let crc = CRC32C.checksum(payload, extending: CRC32C.checksum(bytes))
        bytes.appendFixed32(CRC32C.mask(crc))
        bytes.append(contentsOf: payload)
        return bytes
    }

    /// Every edit in `path`. A bad record that reaches the end of the file is an unfinished
    /// write (the edit was never acknowledged) and is ignored; anything else bad is corruption.
    static func read(_ path: String, backend: any IOBackend) throws(StorageError) -> [VersionEdit] {
        let data: [UInt8]
        do { data = try FileSystem.readAll(path, backend: backend) } catch { throw StorageError(error, context: "reading the manifest") }
        return try data.withBytes { (raw) throws(StorageError) -> [VersionEdit] in
            var edits: [VersionEdit] = []
            var offset = 0
            while offset < raw.count {
                guard raw.count - offset >= 8 else { break }  // torn header at the end
                let length = Int(loadFixed32(raw.baseAddress!, offset))
                let end = offset + 8 + length
                guard end <= raw.count else { break }  // torn record at the end
                let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(offset + 8)..<end]),
                                          extending: CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + 4)])))
                guard CRC32C.unmask(loadFixed32(raw.baseAddress!, offset + 4)) == crc else {
                    if end == raw.count { break }
                    throw .corruption("manifest record checksum mismatch", path: path, offset: Int64(offset))
                }
                do throws(StorageError) {
                    edits.append(try VersionEdit.decode(UnsafeRawBufferPointer(rebasing: raw[(offset + 8)..<end])))
                } catch {
                    throw .corruption("\(error.message)", path: path, offset: Int64(offset))
                }
                offset = end
            }
            return edits
        }
    }

    static func manifestName(_ number: UInt64) -> String { "MANIFEST-" + padded(number) }

    static func padded(_ number: UInt64) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }
}

import Synchronization
import ToonDBEngine
import ToonDBIO

/// ToonDB's per-table index policy (`toondb_set_table_index_policy`).
///
/// ToonDB chooses a different index structure per policy. Here every table is stored in the
/// same sorted LSM tree, which already gives O(log N) writes and O(log N + K) ordered scans, so
/// the policy changes nothing physical; it is validated, kept and persisted so clients that set
/// and read it see what they wrote.
enum IndexPolicy: UInt8, CaseIterable, Sendable {
    case writeOptimized = 0
    case balanced = 1
    case scanOptimized = 2
    case appendOnly = 3

    var name: String {
        switch self {
        case .writeOptimized: "write_optimized"
        case .balanced: "balanced"
        case .scanOptimized: "scan_optimized"
        case .appendOnly: "append_only"
        }
    }
}

/// The policies set per table, persisted in `<db>/INDEX_POLICIES` (format in docs/c-abi.md):
/// `count u32, {name_len u32, name, policy u8}*, crc32c u32` (masked CRC of everything before
/// it), replaced atomically on each change.
final class IndexPolicyStore: Sendable {
    static let fileName = "INDEX_POLICIES"
    let defaultPolicy: IndexPolicy
    private let path: String
    private let policies: Mutex<[String: IndexPolicy]>

    init(directory: String, defaultPolicy: IndexPolicy) throws(StorageError) {
        self.defaultPolicy = defaultPolicy
        path = directory + "/" + Self.fileName
        policies = Mutex(try Self.load(path))
    }

    func policy(for table: String) -> IndexPolicy {
        policies.withLock { $0[table] } ?? defaultPolicy
    }

    func set(_ policy: IndexPolicy, for table: String) throws(StorageError) {
        guard !table.isEmpty else { throw .invalidArgument("table name must not be empty") }
        try policies.withLock { (current) throws(StorageError) in
            var next = current
            next[table] = policy
            do throws(IOError) { try FileSystem.writeAtomically(path, Self.encode(next), backend: POSIXBackend()) } catch {
                throw StorageError(error, context: "saving \(Self.fileName)")
            }
            current = next
        }
    }

    static func encode(_ policies: [String: IndexPolicy]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendFixed32(UInt32(policies.count))
        for (name, policy) in policies.sorted(by: { $0.key < $1.key }) {
            bytes.appendFixed32(UInt32(name.utf8.count))
            bytes.append(contentsOf: name.utf8)
            bytes.append(policy.rawValue)
        }
        bytes.appendFixed32(CRC32C.mask(CRC32C.checksum(bytes)))
        return bytes
    }

    static func load(_ path: String) throws(StorageError) -> [String: IndexPolicy] {
        guard FileSystem.exists(path) else { return [:] }
        let bytes: [UInt8]
        do { bytes = try FileSystem.readAll(path, backend: POSIXBackend()) } catch { throw StorageError(error, context: "reading \(fileName)") }
        return try decode(bytes, path: path)
    }

    static func decode(_ bytes: [UInt8], path: String) throws(StorageError) -> [String: IndexPolicy] {
        guard bytes.count >= 8 else { throw .corruption("index policy file is truncated", path: path) }
        return try bytes.withBytes { (raw) throws(StorageError) -> [String: IndexPolicy] in
            let body = UnsafeRawBufferPointer(rebasing: raw.dropLast(4))
            guard CRC32C.mask(CRC32C.checksum(body)) == loadFixed32(raw.baseAddress!, body.count) else {
                throw .corruption("index policy file checksum mismatch", path: path)
            }
            var reader = ByteReader(body, context: path)
            var result: [String: IndexPolicy] = [:]
            for _ in 0..<(try reader.readFixed32()) {
                let name = String(decoding: try reader.readSlice(Int(try reader.readFixed32())), as: UTF8.self)
                guard let policy = IndexPolicy(rawValue: try reader.readByte()) else { throw .corruption("unknown index policy", path: path) }
                result[name] = policy
            }
            return result
        }
    }
}

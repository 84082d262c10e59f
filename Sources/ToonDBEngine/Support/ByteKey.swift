/// A byte string as a dictionary key. `[UInt8]` hashes itself one byte at a time (a hasher
/// call per byte: 3% of a batched fill's profile); this hashes the bytes in one call.
struct ByteKey: Hashable, Sendable {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    static func == (a: ByteKey, b: ByteKey) -> Bool { a.bytes == b.bytes }
}

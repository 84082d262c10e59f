import ToonDBEngine

/// Where collections live in the key space (docs/vector-collections.md):
///
///     _toondb/collections/<name>            the descriptor (JSON)
///     _toondb/collections/<name>/<id:8>     one item: the id as 8 bytes big-endian
///
/// A name is 1–128 bytes of `[A-Za-z0-9_.-]`, so it never contains `/` and the two shapes
/// cannot be confused; items of a collection sort by id.
public enum CollectionKeys {
    /// Every collection key starts with this.
    public static let prefix: [UInt8] = Array("_toondb/collections/".utf8)
    static let slash = UInt8(ascii: "/")

    /// Throws unless `name` is a valid collection name.
    public static func validate(name: String) throws(CollectionError) {
        let bytes = Array(name.utf8)
        guard (1...128).contains(bytes.count) else {
            throw CollectionError(.invalidArgument, "invalid collection name \"\(name)\": must be 1 to 128 bytes")
        }
        for byte in bytes {
            let ok = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
            guard ok else {
                throw CollectionError(.invalidArgument, "invalid collection name \"\(name)\": only letters, digits, '_', '-' and '.' are allowed")
            }
        }
    }

    public static func descriptor(_ name: String) -> [UInt8] {
        prefix + Array(name.utf8)
    }

    /// The prefix of every item key of `name`.
    public static func items(_ name: String) -> [UInt8] {
        prefix + Array(name.utf8) + [slash]
    }

    public static func item(_ name: String, id: UInt64) -> [UInt8] {
        var key = items(name)
        withUnsafeBytes(of: id.bigEndian) { key.append(contentsOf: $0) }
        return key
    }

    /// What a key under ``prefix`` names.
    enum Parsed: Equatable {
        case descriptor(name: String)
        case item(name: String, id: UInt64)
    }

    /// Parses a key under ``prefix``; nil for anything else (keys written by hand).
    static func parse(_ key: [UInt8]) -> Parsed? {
        guard key.count > prefix.count, key.starts(with: prefix) else { return nil }
        let rest = key[prefix.count...]
        guard let slashIndex = rest.firstIndex(of: slash) else {
            return String(validating: rest, as: UTF8.self).map { .descriptor(name: $0) }
        }
        let idBytes = key[(slashIndex + 1)...]
        guard idBytes.count == 8, let name = String(validating: rest[..<slashIndex], as: UTF8.self) else { return nil }
        let id = idBytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return .item(name: name, id: id)
    }
}

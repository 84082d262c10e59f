import ToonDBFormat

/// The hierarchical path API's key encoding: a path is its UTF-8 segments joined by `/`.
///
/// Segments must be non-empty and free of NUL; so `users//x`, `/users`, `users/` and
/// `a\0b` are rejected. A path scan of `users/1` covers `users/1/...` only, never `users/10/...`.
public enum PathKeys {
    public static func key(_ path: String) throws(StorageError) -> [UInt8] {
        try key(segments: path.split(separator: "/", omittingEmptySubsequences: false).map(String.init), original: path)
    }

    public static func key(segments: [String], original: String? = nil) throws(StorageError) -> [UInt8] {
        let shown = original ?? segments.joined(separator: "/")
        guard !segments.isEmpty else { throw .invalidArgument("invalid path \"\(shown)\": no segments") }
        for (index, segment) in segments.enumerated() {
            if segment.isEmpty { throw .invalidArgument("invalid path \"\(shown)\": segment \(index + 1) is empty") }
            if segment.utf8.contains(0) { throw .invalidArgument("invalid path \"\(shown)\": segment \(index + 1) contains NUL") }
            if original == nil && segment.contains("/") {
                throw .invalidArgument("invalid path segment \"\(segment)\": segments cannot contain '/'")
            }
        }
        return Array(segments.joined(separator: "/").utf8)
    }

    /// The key prefix of everything strictly below `path`.
    public static func scanPrefix(_ path: String) throws(StorageError) -> [UInt8] {
        try key(path) + [UInt8(ascii: "/")]
    }
}

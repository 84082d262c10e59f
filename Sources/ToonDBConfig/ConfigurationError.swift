/// A configuration file that cannot be used: unreadable, not TOML, an unknown section or key,
/// a value of the wrong type, a malformed size or a value out of range.
///
/// The message names the file, the key and the problem, e.g.
/// `config/node.toml: storage.sync_mode: expected one of off, normal, full, got "fast"`.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file (or other source) the configuration came from.
    public var source: String
    /// The dotted key (`storage.sync_mode`) or section (`[cache]`), when the problem has one.
    public var key: String?
    /// What is wrong.
    public var problem: String

    public init(source: String, key: String? = nil, problem: String) {
        self.source = source
        self.key = key
        self.problem = problem
    }

    /// `<source>: <key>: <problem>`.
    public var message: String {
        if let key { return "\(source): \(key): \(problem)" }
        return "\(source): \(problem)"
    }

    public var description: String { message }
}

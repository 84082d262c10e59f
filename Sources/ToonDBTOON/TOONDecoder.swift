/// Decodes TOON text (spec v4) into a `TOONValue`.
///
/// Accepted: every form the encoder writes, plus the spec's decoder-side latitude: `key[0]:` and
/// `- []` for empty arrays, full-line `#` comments, CRLF line endings, spaces around delimiters,
/// exponent and trailing-zero number forms, and any literal key before the first colon.
///
/// Strict mode (the default) rejects what §14 lists: indentation that is not a multiple of
/// `indent` or uses tabs, blank lines inside arrays, counts that differ from the declared
/// lengths, duplicate keys, malformed headers. With `strict = false` the decoder instead
/// computes depth as `floor(spaces / indent)` (a tab in the indentation counts as `indent`
/// spaces), skips blank lines inside arrays, accepts any count, resolves duplicate keys last
/// write wins (the key keeps its first position), and reads a malformed header such as
/// `foo[x]: 1` as the literal key `foo[x]`. Some errors hold in both modes: a row whose cell
/// count differs from its header (no object could be built), content deeper than any open
/// scope, and content after a root array.
///
/// Objects keep the document's key order; a tabular or keyed row's keys follow its header.
///
/// Numbers: a token matching §4's grammar becomes a `Double` (`-0` reads as 0); one that
/// overflows a `Double` stays a string, so nothing is lost. Tokens outside the grammar (`05`,
/// `+1`, `.5`, `1.`, `NaN`) are strings.
///
/// ```swift
/// let value = try TOONDecoder().decode("users[2]{id,name}:\n  1,Ada\n  2,Bob")
/// ```
public struct TOONDecoder: Sendable {
    /// Spaces per indentation level (at least 1).
    public var indent: Int = 2
    /// Whether to enforce the §14 strict-mode checks.
    public var strict: Bool = true
    /// The deepest indentation level accepted, so hostile input cannot exhaust the stack.
    public var maxDepth: Int = 256

    public init() {}

    public init(indent: Int = 2, strict: Bool = true) {
        self.indent = indent
        self.strict = strict
    }

    /// The value `text` encodes. An empty document (or one of blank and comment lines only)
    /// decodes to an empty object.
    public func decode(_ text: String) throws(TOONError) -> TOONValue {
        let bytes = Array(text.utf8)
        let scan = try TOONLineScanner.scan(bytes, indent: max(1, indent), strict: strict, maxDepth: maxDepth)
        var parser = TOONParser(bytes: bytes, lines: scan.lines, blankLines: scan.blankLines,
                                strict: strict, maxDepth: maxDepth)
        return try parser.parseDocument()
    }
}

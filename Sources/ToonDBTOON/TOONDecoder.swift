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

/// One content line: its number, depth, and the byte range of its text after the indentation
/// (trailing spaces and the CR of a CRLF already trimmed).
struct TOONLine {
    var number: Int
    var depth: Int
    /// The first byte of the raw line (for columns).
    var lineStart: Int
    var start: Int
    var end: Int
}

/// Splits the input into content lines, dropping comment lines and recording blank ones (§5.1,
/// §12). Indentation is checked here, once per line.
enum TOONLineScanner {
    struct Result {
        var lines: [TOONLine]
        /// Numbers of the blank lines, ascending: strict mode rejects one inside an array.
        var blankLines: [Int]
    }

    static func scan(_ b: [UInt8], indent: Int, strict: Bool, maxDepth: Int) throws(TOONError) -> Result {
        let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t")
        var result = Result(lines: [], blankLines: [])
        var lineStart = 0
        // A UTF-8 byte-order mark is not content.
        if b.count >= 3, b[0] == 0xEF, b[1] == 0xBB, b[2] == 0xBF { lineStart = 3 }
        var number = 0
        while lineStart <= b.count {
            number += 1
            var lineEnd = lineStart
            while lineEnd < b.count, b[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            defer { lineStart = lineEnd + 1 }
            var end = lineEnd
            if end > lineStart, b[end - 1] == UInt8(ascii: "\r") { end -= 1 }

            var p = lineStart
            while p < end, b[p] == space { p += 1 }
            if p == end {
                result.blankLines.append(number)
                continue
            }
            // A comment: only spaces before the `#`. Exempt from the indentation rules.
            if b[p] == UInt8(ascii: "#") { continue }
            var width = p - lineStart
            if b[p] == tab {
                var q = p
                while q < end, b[q] == space || b[q] == tab { q += 1 }
                if q == end {
                    result.blankLines.append(number)
                    continue
                }
                if strict {
                    throw TOONError(.tabIndentation, line: number, column: p - lineStart + 1,
                                    "tabs are not allowed in indentation")
                }
                // Lenient: a tab counts as one indentation level.
                width = 0
                for byte in b[lineStart..<q] { width += byte == tab ? indent : 1 }
                p = q
            }
            if strict, width % indent != 0 {
                throw TOONError(.invalidIndentation, line: number,
                                "indentation must be a multiple of \(indent) spaces, found \(width)")
            }
            let depth = width / indent
            if depth > maxDepth {
                throw TOONError(.nestingTooDeep, line: number, "nesting deeper than \(maxDepth) levels")
            }
            while end > p, b[end - 1] == space { end -= 1 }
            result.lines.append(TOONLine(number: number, depth: depth, lineStart: lineStart, start: p, end: end))
        }
        return result
    }
}

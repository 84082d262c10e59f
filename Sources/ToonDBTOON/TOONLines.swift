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

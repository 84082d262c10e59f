/// A TOON document the decoder rejects: what is wrong (`code`) and where (`line`, `column`).
///
/// `message` names the place, e.g. `line 3: tabular array 'items' declares 2 rows, found 1`.
public struct TOONError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kinds of error.
    public enum Code: String, Sendable, Equatable, Hashable, CaseIterable {
        /// Leading spaces that are not a multiple of the indent size (strict mode).
        case invalidIndentation
        /// A tab in a line's indentation (strict mode).
        case tabIndentation
        /// A line indented deeper than any open scope allows (a skipped level, or content under
        /// a line that opens nothing).
        case unexpectedIndentation
        /// A blank line between the items or rows of an array or keyed table (strict mode).
        case blankLineInArray
        /// A key without a colon after it, or a line that is neither a field nor an item.
        case missingColon
        /// A backslash escape other than `\\ \" \n \r \t \uXXXX`, or a lone surrogate.
        case invalidEscape
        /// A quoted string or key without its closing quote.
        case unterminatedString
        /// Characters after a quoted token's closing quote.
        case unexpectedCharacters
        /// A malformed array header: bracket segment, fields segment or keyed marker.
        case invalidHeader
        /// An array header in a position that does not allow it (a keyless header in an object,
        /// a fields-bearing header as a list item) or with inline values it may not carry.
        case misplacedHeader
        /// A declared length that differs from the items, rows or entries found (strict mode).
        case lengthMismatch
        /// A tabular row or keyed entry whose cell count differs from the header's fields.
        case widthMismatch
        /// A key that occurs twice in one object (strict mode).
        case duplicateKey
        /// A list array line that is not a `- ` item.
        case expectedListItem
        /// Content after a root array or root primitive.
        case trailingContent
        /// Nesting deeper than `TOONDecoder.maxDepth`.
        case nestingTooDeep
    }

    /// What is wrong.
    public var code: Code
    /// The 1-based line the error is on, when there is one.
    public var line: Int?
    /// The 1-based column (in characters) on that line, when it is meaningful.
    public var column: Int?
    /// The human-readable message, starting with the place: `line 3, column 7: …`.
    public var message: String

    /// An error; `detail` is the message without its place, which is prefixed here.
    public init(_ code: Code, line: Int? = nil, column: Int? = nil, _ detail: String) {
        self.code = code
        self.line = line
        self.column = column
        switch (line, column) {
        case (let l?, let c?): message = "line \(l), column \(c): \(detail)"
        case (let l?, nil): message = "line \(l): \(detail)"
        default: message = detail
        }
    }

    public var description: String { message }
}

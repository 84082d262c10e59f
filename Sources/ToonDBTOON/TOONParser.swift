/// The structural decoder: root form (§5), objects (§8), arrays (§9), keyed tabular objects
/// (§9.5), list items (§10), over content lines a cursor walks once, top to bottom.
///
/// Depth rules: a scope at depth `d` owns the lines at depth `d` that follow it; a line deeper
/// than the scope it lands in belongs to nothing and is an error (it must not be dropped
/// silently). A list item's first field sits on the hyphen line but lives one level deeper, so
/// its children are two levels below the hyphen and its sibling fields one level below.
struct TOONParser {
    let b: [UInt8]
    let lines: [TOONLine]
    let blankLines: [Int]
    let strict: Bool
    let maxDepth: Int
    /// The next unconsumed line.
    var i = 0

    init(bytes: [UInt8], lines: [TOONLine], blankLines: [Int], strict: Bool, maxDepth: Int) {
        self.b = bytes
        self.lines = lines
        self.blankLines = blankLines
        self.strict = strict
        self.maxDepth = maxDepth
    }

    // MARK: Root (§5)

    mutating func parseDocument() throws(TOONError) -> TOONValue {
        guard let first = lines.first else { return .object(TOONObject()) }
        guard first.depth == 0 else {
            throw error(.unexpectedIndentation, first, "the first line must not be indented")
        }
        let (lo, hi) = (first.start, first.end)
        if matches(lo, hi, "[]") {
            i = 1
            try expectEnd(after: "the root array")
            return .array([])
        }
        if b[lo] == UInt8(ascii: "[") {
            switch try parseHeader(at: lo, limit: hi, line: first) {
            case .header(let header, let rest):
                i = 1
                let value = try parseHeaderBody(header, owner: .root, rest: rest, line: first, childDepth: 1)
                try expectEnd(after: header.keyed ? "the root keyed table" : "the root array")
                return value
            case .malformed(let reason):
                if strict { throw error(.invalidHeader, first, at: lo, "invalid array header: \(reason)") }
            }
        }
        if lines.count == 1, try !isFieldLine(lo, hi, line: first) {
            i = 1
            return try parsePrimitive(lo, hi, line: first)
        }
        var object = ObjectBuilder()
        try parseFields(depth: 0, into: &object)
        try expectEnd(after: "the root object")
        return .object(object.object)
    }

    private func expectEnd(after what: String) throws(TOONError) {
        guard i < lines.count else { return }
        throw error(.trailingContent, lines[i], "unexpected content after \(what)")
    }

    /// Whether a list item or lone root line is a field (`key: …`, `key[N]…:`) rather than a
    /// primitive: it has an unquoted colon, or a quoted key directly followed by `:` or `[`.
    private func isFieldLine(_ lo: Int, _ hi: Int, line: TOONLine) throws(TOONError) -> Bool {
        if b[lo] == Self.quote {
            let (_, after) = try parseQuoted(at: lo, limit: hi, line: line)
            var q = after
            while q < hi, b[q] == Self.space { q += 1 }
            return q < hi && (b[q] == Self.colon || b[q] == UInt8(ascii: "["))
        }
        return firstUnquoted(Self.colon, lo, hi) != nil
    }

    // MARK: Objects (§8)

    /// Parses the fields at `depth` into `object`, until a line at a lesser depth.
    mutating func parseFields(depth: Int, into object: inout ObjectBuilder) throws(TOONError) {
        while i < lines.count {
            let line = lines[i]
            if line.depth < depth { return }
            guard line.depth == depth else {
                throw error(.unexpectedIndentation, line, "unexpected indentation: no open scope at depth \(line.depth)")
            }
            i += 1
            let head = try parseFieldHead(line.start, line.end, line: line)
            let (key, value) = try parseFieldValue(head, line: line, depth: depth)
            try object.add(key, value, strict: strict) { () throws(TOONError) in
                throw error(.duplicateKey, line, "duplicate key '\(key)'")
            }
        }
    }

    /// The value of a field whose line (already consumed) is at `depth`; nested content sits at
    /// `depth + 1`.
    mutating func parseFieldValue(_ head: TOONFieldHead, line: TOONLine, depth: Int)
        throws(TOONError) -> (String, TOONValue)
    {
        switch head {
        case .keyValue(let key, let rest):
            let (lo, hi) = trimmed(rest, line.end)
            if lo < hi {
                // `key: []` is the canonical empty array (§9.1).
                if matches(lo, hi, "[]") { return (key, .array([])) }
                return (key, try parsePrimitive(lo, hi, line: line))
            }
            // `key:` opens an object; with no deeper lines it is empty.
            guard i < lines.count, lines[i].depth > depth else { return (key, .object(TOONObject())) }
            guard lines[i].depth == depth + 1 else {
                throw error(.unexpectedIndentation, lines[i],
                            "unexpected indentation: expected depth \(depth + 1) under '\(key)', found \(lines[i].depth)")
            }
            var object = ObjectBuilder()
            try parseFields(depth: depth + 1, into: &object)
            return (key, .object(object.object))
        case .header(let key?, let header, let rest):
            return (key, try parseHeaderBody(header, owner: .key(key), rest: rest, line: line, childDepth: depth + 1))
        case .header(nil, _, _):
            throw error(.misplacedHeader, line, at: line.start,
                        "an array header without a key is valid only at the document root or as a list item")
        }
    }

    // MARK: Arrays and keyed tables (§9)

    /// What follows a header: inline values, tabular rows, keyed entries or list items (these
    /// at `childDepth`).
    mutating func parseHeaderBody(_ header: TOONHeader, owner: Owner, rest: Int, line: TOONLine, childDepth: Int)
        throws(TOONError) -> TOONValue
    {
        let (lo, hi) = trimmed(rest, line.end)
        if header.keyed {
            guard let fields = header.fields else {
                throw error(.invalidHeader, line, "\(owner.naming("keyed table")) needs a fields segment in its header")
            }
            guard lo == hi else {
                throw error(.misplacedHeader, line, at: lo, "the header of \(owner.naming("keyed table")) carries no inline values")
            }
            return .object(try parseKeyedEntries(header, fields: fields, owner: owner, line: line, depth: childDepth))
        }
        if let fields = header.fields {
            guard lo == hi else {
                throw error(.misplacedHeader, line, at: lo, "the header of \(owner.naming("tabular array")) carries no inline values")
            }
            return .array(try parseRows(header, fields: fields, owner: owner, line: line, depth: childDepth))
        }
        if lo < hi {
            let values = try splitValues(lo, hi, delimiter: header.delimiter, line: line)
            if strict, values.count != header.length {
                throw error(.lengthMismatch, line,
                            "expected \(counted(header.length, "value")) in \(owner.naming("array")), found \(values.count)")
            }
            return .array(values)
        }
        return .array(try parseListItems(header, owner: owner, line: line, depth: childDepth))
    }

    /// List items (`- …`) at `depth` (§9.4).
    private mutating func parseListItems(_ header: TOONHeader, owner: Owner, line: TOONLine, depth: Int)
        throws(TOONError) -> [TOONValue]
    {
        var items: [TOONValue] = []
        var firstLine: Int?
        while i < lines.count {
            let item = lines[i]
            if item.depth < depth { break }
            guard item.depth == depth else {
                throw error(.unexpectedIndentation, item, "unexpected indentation: no open scope at depth \(item.depth)")
            }
            guard b[item.start] == UInt8(ascii: "-"), item.end == item.start + 1 || b[item.start + 1] == Self.space else {
                throw error(.expectedListItem, item, at: item.start, "expected a list item ('- ') in \(owner.naming("array"))")
            }
            i += 1
            if firstLine == nil { firstLine = item.number }
            items.append(try parseListItem(item, depth: depth))
        }
        try checkNoBlankLines(from: firstLine, owner.naming("array"))
        if strict, items.count != header.length {
            throw error(.lengthMismatch, line,
                        "expected \(counted(header.length, "list item")) in \(owner.naming("array")), found \(items.count)")
        }
        return items
    }

    /// One list item, its line consumed (§10).
    private mutating func parseListItem(_ line: TOONLine, depth: Int) throws(TOONError) -> TOONValue {
        let (lo, hi) = trimmed(line.start + 1, line.end)
        if lo == hi { return .object(TOONObject()) }  // bare hyphen: an empty object
        if matches(lo, hi, "[]") { return .array([]) }
        if b[lo] == UInt8(ascii: "[") {
            switch try parseHeader(at: lo, limit: hi, line: line) {
            case .header(let header, let rest):
                guard !header.keyed, header.fields == nil else {
                    throw error(.misplacedHeader, line, at: lo,
                                "a keyless \(header.keyed ? "keyed" : "tabular") header is valid only at the document root")
                }
                return try parseHeaderBody(header, owner: .listItem, rest: rest, line: line, childDepth: depth + 1)
            case .malformed(let reason):
                if strict { throw error(.invalidHeader, line, at: lo, "invalid array header: \(reason)") }
            }
        }
        guard try isFieldLine(lo, hi, line: line) else { return try parsePrimitive(lo, hi, line: line) }
        var object = ObjectBuilder()
        let head = try parseFieldHead(lo, hi, line: line)
        let (key, value) = try parseFieldValue(head, line: line, depth: depth + 1)
        try object.add(key, value, strict: strict) { () throws(TOONError) in }
        try parseFields(depth: depth + 1, into: &object)
        return .object(object.object)
    }

    /// Tabular rows at `depth` (§9.3). A line whose first unquoted colon comes before its first
    /// unquoted delimiter is a `key: value` line, not a row, and ends the rows.
    private mutating func parseRows(_ header: TOONHeader, fields: [TOONField], owner: Owner, line: TOONLine, depth: Int)
        throws(TOONError) -> [TOONValue]
    {
        let width = TOONField.leafCount(fields)
        var rows: [TOONValue] = []
        rows.reserveCapacity(min(header.length, 1 << 16))
        var firstLine: Int?
        while i < lines.count {
            let row = lines[i]
            if row.depth < depth { break }
            guard row.depth == depth else {
                throw error(.unexpectedIndentation, row, "unexpected indentation: no open scope at depth \(row.depth)")
            }
            if let colon = firstUnquoted(Self.colon, row.start, row.end) {
                let delimiter = firstUnquoted(header.delimiter, row.start, row.end)
                if delimiter.map({ colon < $0 }) ?? true { break }
            }
            i += 1
            if firstLine == nil { firstLine = row.number }
            let cells = try splitValues(row.start, row.end, delimiter: header.delimiter, line: row)
            guard cells.count == width else {
                throw error(.widthMismatch, row,
                            "expected \(counted(width, "value")) in a row of \(owner.naming("tabular array")), found \(cells.count)")
            }
            var next = 0
            rows.append(.object(assemble(fields, cells: cells, next: &next, dedupe: header.hasDuplicateFields)))
        }
        try checkNoBlankLines(from: firstLine, owner.naming("tabular array"))
        if strict, rows.count != header.length {
            throw error(.lengthMismatch, line,
                        "expected \(counted(header.length, "row")) in \(owner.naming("tabular array")), found \(rows.count)")
        }
        return rows
    }

    /// Keyed entries `key: cells` at `depth` (§9.5): every line at that depth is an entry.
    private mutating func parseKeyedEntries(_ header: TOONHeader, fields: [TOONField], owner: Owner,
                                            line: TOONLine, depth: Int) throws(TOONError) -> TOONObject
    {
        let width = TOONField.leafCount(fields)
        var object = ObjectBuilder()
        var entries = 0
        var firstLine: Int?
        while i < lines.count {
            let entry = lines[i]
            if entry.depth < depth { break }
            guard entry.depth == depth else {
                throw error(.unexpectedIndentation, entry, "unexpected indentation: no open scope at depth \(entry.depth)")
            }
            i += 1
            if firstLine == nil { firstLine = entry.number }
            guard let colon = firstUnquoted(Self.colon, entry.start, entry.end) else {
                throw error(.missingColon, entry, at: entry.start,
                            "expected 'key: values' in \(owner.naming("keyed table"))")
            }
            let (keyLo, keyHi) = trimmed(entry.start, colon)
            var key = text(keyLo, keyHi)
            if keyLo < keyHi, b[keyLo] == Self.quote {
                let (unquoted, after) = try parseQuoted(at: keyLo, limit: keyHi, line: entry)
                guard after == keyHi else {
                    throw error(.unexpectedCharacters, entry, at: after, "unexpected characters after closing quote")
                }
                key = unquoted
            }
            let (lo, hi) = trimmed(colon + 1, entry.end)
            let cells = lo == hi ? [] : try splitValues(lo, hi, delimiter: header.delimiter, line: entry)
            guard cells.count == width else {
                throw error(.widthMismatch, entry,
                            "expected \(counted(width, "value")) in entry '\(key)' of \(owner.naming("keyed table")), found \(cells.count)")
            }
            var next = 0
            let value = TOONValue.object(assemble(fields, cells: cells, next: &next, dedupe: header.hasDuplicateFields))
            try object.add(key, value, strict: strict) { () throws(TOONError) in
                throw error(.duplicateKey, entry, "duplicate key '\(key)' in \(owner.naming("keyed table"))")
            }
            entries += 1
        }
        try checkNoBlankLines(from: firstLine, owner.naming("keyed table"))
        if strict, entries != header.length {
            throw error(.lengthMismatch, line,
                        "expected \(counted(header.length, "entry", "entries")) in \(owner.naming("keyed table")), found \(entries)")
        }
        return object.object
    }

    /// A row's object: cells assigned to the fields depth-first through field groups.
    private func assemble(_ fields: [TOONField], cells: [TOONValue], next: inout Int, dedupe: Bool) -> TOONObject {
        var object = TOONObject()
        object.reserveCapacity(fields.count)
        for field in fields {
            let value: TOONValue
            if let children = field.children {
                value = .object(assemble(children, cells: cells, next: &next, dedupe: dedupe))
            } else {
                value = cells[next]
                next += 1
            }
            // Duplicate names survive only in non-strict mode: last write wins.
            if dedupe, let existing = object.entries.firstIndex(where: { $0.key == field.name }) {
                object.replaceValue(at: existing, with: value)
            } else {
                object.append(field.name, value)
            }
        }
        return object
    }

    /// Strict mode: no blank line between an array's first item and the last line of its
    /// content (§12), which is the last line consumed so far.
    private func checkNoBlankLines(from firstLine: Int?, _ scope: String) throws(TOONError) {
        guard strict, let firstLine, i > 0 else { return }
        let lastLine = lines[i - 1].number
        // The first blank line after `firstLine`, by binary search.
        var lo = 0, hi = blankLines.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if blankLines[mid] <= firstLine { lo = mid + 1 } else { hi = mid }
        }
        if lo < blankLines.count, blankLines[lo] < lastLine {
            throw TOONError(.blankLineInArray, line: blankLines[lo], "blank line inside \(scope)")
        }
    }

    /// Whose array a message is about.
    enum Owner {
        case key(String), root, listItem

        /// `tabular array 'items'`, `root tabular array`, `tabular array in a list item`.
        func naming(_ kind: String) -> String {
            switch self {
            case .key(let key): return "\(kind) '\(key)'"
            case .root: return "root \(kind)"
            case .listItem: return "\(kind) in a list item"
            }
        }
    }

    /// `1 row`, `2 rows`.
    private func counted(_ n: Int, _ singular: String, _ plural: String? = nil) -> String {
        "\(n) \(n == 1 ? singular : plural ?? singular + "s")"
    }
}

/// An object under construction, with duplicate-key detection that stays cheap for large objects.
struct ObjectBuilder {
    var object = TOONObject()
    /// Key positions, built once the object outgrows a linear scan.
    private var index: [String: Int]?

    /// Adds an entry. A duplicate key calls `onDuplicate` (which throws) in strict mode, and
    /// otherwise replaces the earlier value in place (last write wins).
    mutating func add(_ key: String, _ value: TOONValue, strict: Bool,
                      onDuplicate: () throws(TOONError) -> Void) throws(TOONError)
    {
        if let existing = position(of: key) {
            if strict { try onDuplicate() }
            object.replaceValue(at: existing, with: value)
            return
        }
        object.append(key, value)
        if index != nil {
            index![key] = object.count - 1
        } else if object.count > 12 {
            var built: [String: Int] = [:]
            built.reserveCapacity(object.count * 2)
            for (k, entry) in object.entries.enumerated() where built[entry.key] == nil { built[entry.key] = k }
            index = built
        }
    }

    private func position(of key: String) -> Int? {
        if let index { return index[key] }
        return object.entries.firstIndex { $0.key == key }
    }
}

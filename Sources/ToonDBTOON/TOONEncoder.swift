/// Encodes a `TOONValue` as a TOON document (spec v4).
///
/// The form follows from each value's shape and position:
/// - primitives: `key: value`, strings quoted only when §7.2 requires it;
/// - arrays of primitives: inline, `key[3]: a,b,c`; empty arrays `key: []` (`[]` at the root);
/// - arrays of objects sharing one schema: tabular, `key[2]{id,name}:` then one row per object,
///   with uniform nested objects as field groups, `{id,customer{name,country}}` (§9.3);
/// - objects whose values are two or more objects sharing one schema: keyed tabular,
///   `key[2:]{host,port}:` then `entry: cells` rows (§9.5);
/// - anything else: list items, `- …`, with an object's first field on the hyphen line (§10).
///
/// Every header declares the encoder's delimiter, which is also the one quoting decisions use.
/// The output has LF line endings, no trailing spaces and no trailing newline. Numbers are
/// canonical decimals, never with an exponent; NaN and the infinities encode as `null`.
///
/// Keys are expected to be distinct within an object (a duplicate is written twice, and a strict
/// decoder rejects it). Encoding recurses once per nesting level, so values nested thousands
/// of levels deep need a thread with a large stack.
///
/// ```swift
/// let text = TOONEncoder().encode(["users": [["id": 1, "name": "Ada"], ["id": 2, "name": "Bob"]]])
/// // users[2]{id,name}:
/// //   1,Ada
/// //   2,Bob
/// ```
public struct TOONEncoder: Sendable {
    /// Spaces per indentation level (at least 1).
    public var indent: Int = 2
    /// The delimiter for inline arrays and tabular rows, declared in every header.
    public var delimiter: TOONDelimiter = .comma

    public init() {}

    public init(indent: Int = 2, delimiter: TOONDelimiter = .comma) {
        self.indent = indent
        self.delimiter = delimiter
    }

    /// The TOON text for `value`. An empty root object encodes as the empty string.
    public func encode(_ value: TOONValue) -> String {
        var writer = Writer(indent: max(1, indent), delimiter: delimiter)
        writer.encodeRoot(value)
        return String(decoding: writer.out, as: UTF8.self)
    }

    /// The TOON text for `value`, as UTF-8 bytes (what a socket wants, without a `String`).
    public func encodeToBytes(_ value: TOONValue) -> [UInt8] {
        var writer = Writer(indent: max(1, indent), delimiter: delimiter)
        writer.encodeRoot(value)
        return writer.out
    }
}

/// The encoder's state: one output buffer, appended to line by line.
private struct Writer {
    var out: [UInt8] = []
    let indent: Int
    let delimiter: TOONDelimiter
    let delimiterByte: UInt8

    init(indent: Int, delimiter: TOONDelimiter) {
        self.indent = indent
        self.delimiter = delimiter
        self.delimiterByte = delimiter.byte
        out.reserveCapacity(256)
    }

    // MARK: Lines

    /// Starts a line at `depth` (the first line of the document gets no newline before it).
    mutating func startLine(depth: Int) {
        if !out.isEmpty { out.append(UInt8(ascii: "\n")) }
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: depth * indent))
    }

    // MARK: Root (§5)

    mutating func encodeRoot(_ value: TOONValue) {
        switch value {
        case .null, .bool, .number, .string:
            appendPrimitive(value)
        case .array(let elements):
            if elements.isEmpty {
                out.append(contentsOf: "[]".utf8)
            } else {
                encodeArray(key: nil, elements, depth: 0, tabularAllowed: true)
            }
        case .object(let object):
            if let fields = TOONTabular.keyedSchema(of: object) {
                encodeKeyed(key: nil, object, fields: fields, depth: 0)
            } else {
                encodeFields(of: object, depth: 0)
            }
        }
    }

    // MARK: Objects (§8)

    /// Each field on its own line at `depth`.
    mutating func encodeFields(of object: TOONObject, depth: Int) {
        for entry in object.entries {
            startLine(depth: depth)
            encodeField(key: entry.key, entry.value, depth: depth)
        }
    }

    /// One field, its line already started: `key: value`, `key:` with children at `depth + 1`,
    /// or an array or keyed header with its rows or items at `depth + 1`.
    mutating func encodeField(key: String, _ value: TOONValue, depth: Int) {
        switch value {
        case .null, .bool, .number, .string:
            TOONScalars.appendKey(key, to: &out)
            out.append(UInt8(ascii: ":"))
            out.append(UInt8(ascii: " "))
            appendPrimitive(value)
        case .array(let elements):
            if elements.isEmpty {
                TOONScalars.appendKey(key, to: &out)
                out.append(contentsOf: ": []".utf8)
            } else {
                encodeArray(key: key, elements, depth: depth, tabularAllowed: true)
            }
        case .object(let object):
            if let fields = TOONTabular.keyedSchema(of: object) {
                encodeKeyed(key: key, object, fields: fields, depth: depth)
            } else {
                TOONScalars.appendKey(key, to: &out)
                out.append(UInt8(ascii: ":"))
                encodeFields(of: object, depth: depth + 1)
            }
        }
    }

    // MARK: Arrays (§9)

    /// A non-empty array whose header line is already started (after `- ` for a list item).
    /// `tabularAllowed` is false for anonymous arrays in list items: a keyless fields-bearing
    /// header is only valid at the root.
    mutating func encodeArray(key: String?, _ elements: [TOONValue], depth: Int, tabularAllowed: Bool) {
        if elements.allSatisfy(\.isPrimitive) {
            appendHeader(key: key, count: elements.count, keyed: false, fields: nil)
            out.append(UInt8(ascii: " "))
            for (i, element) in elements.enumerated() {
                if i > 0 { out.append(delimiterByte) }
                appendPrimitive(element)
            }
            return
        }
        if tabularAllowed, let fields = TOONTabular.schema(ofElements: elements) {
            appendHeader(key: key, count: elements.count, keyed: false, fields: fields)
            for element in elements {
                guard case .object(let row) = element else { continue }
                startLine(depth: depth + 1)
                appendCells(of: row, fields: fields, first: true)
            }
            return
        }
        appendHeader(key: key, count: elements.count, keyed: false, fields: nil)
        for element in elements {
            startLine(depth: depth + 1)
            encodeListItem(element, depth: depth + 1)
        }
    }

    /// One list item at `depth`, its line started but the hyphen not yet written (§9.4, §10).
    mutating func encodeListItem(_ value: TOONValue, depth: Int) {
        switch value {
        case .null, .bool, .number, .string:
            out.append(contentsOf: "- ".utf8)
            appendPrimitive(value)
        case .array(let elements):
            out.append(contentsOf: "- ".utf8)
            if elements.isEmpty {
                // `- []` would also decode, but inner arrays keep the explicit header.
                appendHeader(key: nil, count: 0, keyed: false, fields: nil)
            } else {
                encodeArray(key: nil, elements, depth: depth, tabularAllowed: false)
            }
        case .object(let object):
            guard let first = object.entries.first else {
                out.append(UInt8(ascii: "-"))  // an empty object is a bare hyphen
                return
            }
            // The first field sits on the hyphen line but belongs one level deeper: its children
            // (nested fields, rows, items) go to depth + 2, its siblings to depth + 1.
            out.append(contentsOf: "- ".utf8)
            encodeField(key: first.key, first.value, depth: depth + 1)
            for entry in object.entries.dropFirst() {
                startLine(depth: depth + 1)
                encodeField(key: entry.key, entry.value, depth: depth + 1)
            }
        }
    }

    // MARK: Keyed tabular objects (§9.5)

    mutating func encodeKeyed(key: String?, _ object: TOONObject, fields: [TOONField], depth: Int) {
        appendHeader(key: key, count: object.count, keyed: true, fields: fields)
        for entry in object.entries {
            guard case .object(let row) = entry.value else { continue }
            startLine(depth: depth + 1)
            TOONScalars.appendKey(entry.key, to: &out)
            out.append(UInt8(ascii: ":"))
            out.append(UInt8(ascii: " "))
            appendCells(of: row, fields: fields, first: true)
        }
    }

    // MARK: Pieces

    /// `key[N]`, `key[N:]` (keyed), with the delimiter symbol, the fields segment and the colon.
    mutating func appendHeader(key: String?, count: Int, keyed: Bool, fields: [TOONField]?) {
        if let key { TOONScalars.appendKey(key, to: &out) }
        out.append(UInt8(ascii: "["))
        TOONScalars.appendInteger(Int64(count), to: &out)
        if keyed { out.append(UInt8(ascii: ":")) }
        if delimiter != .comma { out.append(delimiterByte) }
        out.append(UInt8(ascii: "]"))
        if let fields { appendFieldList(fields) }
        out.append(UInt8(ascii: ":"))
    }

    mutating func appendFieldList(_ fields: [TOONField]) {
        out.append(UInt8(ascii: "{"))
        for (i, field) in fields.enumerated() {
            if i > 0 { out.append(delimiterByte) }
            TOONScalars.appendKey(field.name, to: &out)
            if let children = field.children { appendFieldList(children) }
        }
        out.append(UInt8(ascii: "}"))
    }

    /// A row's cells, depth-first through field groups, joined by the delimiter.
    mutating func appendCells(of row: TOONObject, fields: [TOONField], first: Bool) {
        var first = first
        for (column, field) in fields.enumerated() {
            let value = TOONTabular.value(in: row, key: field.name, column: column) ?? .null
            if let children = field.children {
                guard case .object(let group) = value else { continue }  // detection guarantees it
                if !first { out.append(delimiterByte) }
                appendCells(of: group, fields: children, first: true)
            } else {
                if !first { out.append(delimiterByte) }
                appendPrimitive(value)
            }
            first = false
        }
    }

    mutating func appendPrimitive(_ value: TOONValue) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let n): TOONScalars.appendNumber(n, to: &out)
        case .string(let s): TOONScalars.appendString(s, delimiter: delimiterByte, to: &out)
        case .array, .object: break  // callers only pass primitives
        }
    }
}

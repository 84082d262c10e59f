/// A decoded array header (§6): `key[N<delim?>]{fields}:` or, keyed, `key[N:<delim?>]{fields}:`.
struct TOONHeader {
    var length: Int
    /// `[N:]`: a keyed tabular object (§9.5), not an array.
    var keyed: Bool
    var delimiter: UInt8
    var fields: [TOONField]?
    /// Whether some fields share a name at one level (possible only in non-strict mode).
    var hasDuplicateFields: Bool
}

/// The start of a field line: `key: value` or `key[…]…:` (the key is `nil` for a keyless header).
enum TOONFieldHead {
    case keyValue(key: String, rest: Int)
    case header(key: String?, TOONHeader, rest: Int)
}

/// Header and key parsing (§6, §7.4).
extension TOONParser {
    enum HeaderParse {
        case header(TOONHeader, rest: Int)
        /// Not a header: non-strict mode reads the text as a literal key instead.
        case malformed(String)
    }

    /// Parses the header whose `[` is at `p`. The bracket segment is strict: a canonical length
    /// (no sign, no leading zero), then the keyed marker `:`, then the delimiter symbol, then
    /// `]`, with nothing in between; then an optional fields segment and the colon, directly.
    func parseHeader(at p: Int, limit hi: Int, line: TOONLine) throws(TOONError) -> HeaderParse {
        var q = p + 1
        let digitsStart = q
        while q < hi, b[q] >= 0x30, b[q] <= 0x39 { q += 1 }
        guard q > digitsStart else { return .malformed("the bracket segment has no length") }
        guard q - digitsStart == 1 || b[digitsStart] != UInt8(ascii: "0") else {
            return .malformed("the length has a leading zero")
        }
        guard q - digitsStart <= 15 else { return .malformed("the length is too large") }
        var length = 0
        for k in digitsStart..<q { length = length * 10 + Int(b[k] - 0x30) }
        var keyed = false
        if q < hi, b[q] == Self.colon {
            keyed = true
            q += 1
        }
        var delimiter = UInt8(ascii: ",")
        if q < hi, b[q] == UInt8(ascii: "\t") || b[q] == UInt8(ascii: "|") {
            delimiter = b[q]
            q += 1
        }
        guard q < hi, b[q] == UInt8(ascii: "]") else {
            return .malformed("unexpected character in the bracket segment")
        }
        q += 1
        var fields: [TOONField]? = nil
        var duplicates = false
        if q < hi, b[q] == UInt8(ascii: "{") {
            let parsed = try parseFieldList(at: q, limit: hi, delimiter: delimiter, line: line, level: 0)
            fields = parsed.fields
            duplicates = parsed.duplicates
            q = parsed.end
        }
        guard q < hi else { throw error(.missingColon, line, at: q, "array header must end with ':'") }
        guard b[q] == Self.colon else { return .malformed("content between the bracket segment and the colon") }
        let header = TOONHeader(length: length, keyed: keyed, delimiter: delimiter, fields: fields,
                                hasDuplicateFields: duplicates)
        return .header(header, rest: q + 1)
    }

    /// Parses `{f1<d>f2{a<d>b}…}` at `p`; names are keys (quoted or not), split only on the
    /// header's delimiter. Returns the fields and the position after the closing brace.
    func parseFieldList(at p: Int, limit hi: Int, delimiter: UInt8, line: TOONLine, level: Int)
        throws(TOONError) -> (fields: [TOONField], duplicates: Bool, end: Int)
    {
        guard level < maxDepth else { throw error(.nestingTooDeep, line, at: p, "field groups nested too deeply") }
        var fields: [TOONField] = []
        var names = Set<String>()
        var duplicates = false
        var q = p + 1
        while true {
            while q < hi, b[q] == Self.space { q += 1 }
            guard q < hi else { throw error(.invalidHeader, line, at: p, "unmatched '{' in fields segment") }
            let name: String
            if b[q] == Self.quote {
                (name, q) = try parseQuoted(at: q, limit: hi, line: line)
            } else {
                let start = q
                while q < hi, b[q] != delimiter, b[q] != UInt8(ascii: "{"), b[q] != UInt8(ascii: "}") { q += 1 }
                let (lo, end) = trimmed(start, q)
                guard lo < end else {
                    throw error(.invalidHeader, line, at: start,
                                fields.isEmpty && q < hi && b[q] == UInt8(ascii: "}")
                                    ? "empty fields segment" : "empty field name")
                }
                if strict {
                    // Another delimiter in a bare name: the fields use a different delimiter
                    // than the bracket declares (§6).
                    for k in lo..<end where b[k] != delimiter && TOONDelimiter(byte: b[k]) != nil {
                        throw error(.invalidHeader, line, at: k,
                                    "fields segment delimiter does not match the bracket segment")
                    }
                }
                name = text(lo, end)
            }
            while q < hi, b[q] == Self.space { q += 1 }
            var children: [TOONField]? = nil
            if q < hi, b[q] == UInt8(ascii: "{") {
                let group = try parseFieldList(at: q, limit: hi, delimiter: delimiter, line: line, level: level + 1)
                children = group.fields
                duplicates = duplicates || group.duplicates
                q = group.end
                while q < hi, b[q] == Self.space { q += 1 }
            }
            if !names.insert(name).inserted {
                if strict { throw error(.duplicateKey, line, at: q, "duplicate field name '\(name)'") }
                duplicates = true
            }
            fields.append(TOONField(name: name, children: children))
            guard q < hi else { throw error(.invalidHeader, line, at: p, "unmatched '{' in fields segment") }
            if b[q] == delimiter {
                q += 1
            } else if b[q] == UInt8(ascii: "}") {
                return (fields, duplicates, q + 1)
            } else {
                throw error(.invalidHeader, line, at: q, "unexpected character in fields segment")
            }
        }
    }

    /// Reads the key of a field line at `lo..<hi` and classifies the line. An unquoted key runs to
    /// the first colon, unless a `[` comes first: then the line must be an array header (strict
    /// mode), or the text up to the colon is a literal key (non-strict).
    func parseFieldHead(_ lo: Int, _ hi: Int, line: TOONLine) throws(TOONError) -> TOONFieldHead {
        if b[lo] == Self.quote {
            let (key, after) = try parseQuoted(at: lo, limit: hi, line: line)
            if after < hi, b[after] == UInt8(ascii: "[") {
                switch try parseHeader(at: after, limit: hi, line: line) {
                case .header(let header, let rest): return .header(key: key, header, rest: rest)
                case .malformed(let reason): throw error(.invalidHeader, line, at: after, "invalid array header: \(reason)")
                }
            }
            var q = after
            while q < hi, b[q] == Self.space { q += 1 }
            guard q < hi, b[q] == Self.colon else {
                throw error(.missingColon, line, at: q, "missing colon after key")
            }
            return .keyValue(key: key, rest: q + 1)
        }
        var q = lo
        while q < hi, b[q] != Self.colon, b[q] != UInt8(ascii: "[") { q += 1 }
        guard q < hi else {
            throw error(.missingColon, line, at: lo, "missing colon after key '\(text(lo, hi))'")
        }
        let (keyLo, keyHi) = trimmed(lo, q)
        if b[q] == Self.colon { return .keyValue(key: text(keyLo, keyHi), rest: q + 1) }
        switch try parseHeader(at: q, limit: hi, line: line) {
        case .header(let header, let rest):
            return .header(key: keyLo == keyHi ? nil : text(keyLo, keyHi), header, rest: rest)
        case .malformed(let reason):
            if strict { throw error(.invalidHeader, line, at: q, "invalid array header: \(reason)") }
            guard let colon = b[q..<hi].firstIndex(of: Self.colon) else {
                throw error(.missingColon, line, at: lo, "missing colon after key")
            }
            let (literalLo, literalHi) = trimmed(lo, colon)
            return .keyValue(key: text(literalLo, literalHi), rest: colon + 1)
        }
    }
}

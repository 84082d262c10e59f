/// Token-level decoding: quoted strings and their escapes (§7.1), primitive tokens and the
/// number grammar (§4), and splitting delimited values (§11.2). All positions are byte offsets
/// into the parser's UTF-8 buffer; every structural character is ASCII, so byte scanning never
/// splits a multi-byte character.
extension TOONParser {
    static let space = UInt8(ascii: " ")
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let colon = UInt8(ascii: ":")

    // MARK: Helpers

    func text(_ lo: Int, _ hi: Int) -> String {
        String(decoding: b[lo..<hi], as: UTF8.self)
    }

    /// `lo..<hi` without surrounding U+0020 spaces (only those: §12 trims nothing else).
    func trimmed(_ lo: Int, _ hi: Int) -> (Int, Int) {
        var lo = lo, hi = hi
        while lo < hi, b[lo] == Self.space { lo += 1 }
        while hi > lo, b[hi - 1] == Self.space { hi -= 1 }
        return (lo, hi)
    }

    func matches(_ lo: Int, _ hi: Int, _ literal: StaticString) -> Bool {
        guard hi - lo == literal.utf8CodeUnitCount else { return false }
        return literal.withUTF8Buffer { lit in
            for k in 0..<lit.count where b[lo + k] != lit[k] { return false }
            return true
        }
    }

    /// The 1-based character column of byte `position` on `line`.
    func column(_ line: TOONLine, _ position: Int) -> Int {
        String(decoding: b[line.lineStart..<min(position, b.count)], as: UTF8.self).count + 1
    }

    func error(_ code: TOONError.Code, _ line: TOONLine, at position: Int? = nil, _ detail: String) -> TOONError {
        TOONError(code, line: line.number, column: position.map { column(line, $0) }, detail)
    }

    /// The first `target` byte in `lo..<hi` outside double quotes.
    func firstUnquoted(_ target: UInt8, _ lo: Int, _ hi: Int) -> Int? {
        var q = lo
        var inQuotes = false
        while q < hi {
            let c = b[q]
            if inQuotes {
                if c == Self.backslash { q += 2; continue }
                if c == Self.quote { inQuotes = false }
            } else if c == Self.quote {
                inQuotes = true
            } else if c == target {
                return q
            }
            q += 1
        }
        return nil
    }

    // MARK: Quoted strings (§7.1)

    /// Parses the quoted token whose opening quote is at `p`; returns the unescaped string and
    /// the position after the closing quote. Only `\\ \" \n \r \t \uXXXX` are valid escapes;
    /// `\u` takes exactly four hex digits, and a surrogate only as a high-low pair.
    func parseQuoted(at p: Int, limit: Int, line: TOONLine) throws(TOONError) -> (String, Int) {
        var q = p + 1
        // Fast path: no escapes, the string is a slice of the input.
        while q < limit {
            let c = b[q]
            if c == Self.quote { return (text(p + 1, q), q + 1) }
            if c == Self.backslash { break }
            q += 1
        }
        guard q < limit else {
            throw error(.unterminatedString, line, at: p, "unterminated string: missing closing quote")
        }
        var buffer = Array(b[(p + 1)..<q])
        while q < limit {
            let c = b[q]
            if c == Self.quote { return (String(decoding: buffer, as: UTF8.self), q + 1) }
            guard c == Self.backslash else {
                buffer.append(c)
                q += 1
                continue
            }
            guard q + 1 < limit else { break }
            switch b[q + 1] {
            case Self.backslash: buffer.append(Self.backslash)
            case Self.quote: buffer.append(Self.quote)
            case UInt8(ascii: "n"): buffer.append(UInt8(ascii: "\n"))
            case UInt8(ascii: "r"): buffer.append(UInt8(ascii: "\r"))
            case UInt8(ascii: "t"): buffer.append(UInt8(ascii: "\t"))
            case UInt8(ascii: "u"):
                guard let unit = hex4(at: q + 2, limit: limit) else {
                    throw error(.invalidEscape, line, at: q, "invalid escape: \\u needs four hex digits")
                }
                var scalarValue = UInt32(unit)
                var length = 6
                if (0xD800...0xDBFF).contains(unit) {
                    guard q + 7 < limit, b[q + 6] == Self.backslash, b[q + 7] == UInt8(ascii: "u"),
                          let low = hex4(at: q + 8, limit: limit), (0xDC00...0xDFFF).contains(low)
                    else {
                        throw error(.invalidEscape, line, at: q, "invalid escape: lone surrogate \\u\(hexText(unit))")
                    }
                    scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                    length = 12
                } else if (0xDC00...0xDFFF).contains(unit) {
                    throw error(.invalidEscape, line, at: q, "invalid escape: lone surrogate \\u\(hexText(unit))")
                }
                // Every non-surrogate value up to 0x10FFFF is a scalar.
                buffer.append(contentsOf: String(Character(Unicode.Scalar(scalarValue)!)).utf8)
                q += length
                continue
            default:
                let escape = String(decoding: b[q..<min(q + 2, limit)], as: UTF8.self)
                throw error(.invalidEscape, line, at: q, "invalid escape sequence: \(escape)")
            }
            q += 2
        }
        throw error(.unterminatedString, line, at: p, "unterminated string: missing closing quote")
    }

    private func hex4(at p: Int, limit: Int) -> UInt16? {
        guard p + 4 <= limit else { return nil }
        var value: UInt16 = 0
        for k in p..<(p + 4) {
            let c = b[k]
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt16(digit)
        }
        return value
    }

    private func hexText(_ unit: UInt16) -> String {
        let digits = String(unit, radix: 16, uppercase: true)
        return String(repeating: "0", count: 4 - digits.count) + digits
    }

    // MARK: Primitives (§4)

    /// A value token (already trimmed): a quoted string, which must end the token, or an
    /// unquoted `true`/`false`/`null`, number, or string.
    func parsePrimitive(_ lo: Int, _ hi: Int, line: TOONLine) throws(TOONError) -> TOONValue {
        guard lo < hi else { return .string("") }
        if b[lo] == Self.quote {
            let (string, after) = try parseQuoted(at: lo, limit: hi, line: line)
            guard after == hi else {
                throw error(.unexpectedCharacters, line, at: after, "unexpected characters after closing quote")
            }
            return .string(string)
        }
        switch b[lo] {
        case UInt8(ascii: "t") where matches(lo, hi, "true"): return .bool(true)
        case UInt8(ascii: "f") where matches(lo, hi, "false"): return .bool(false)
        case UInt8(ascii: "n") where matches(lo, hi, "null"): return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            if let number = parseNumber(lo, hi) { return .number(number) }
        default: break
        }
        return .string(text(lo, hi))
    }

    /// The token as a number if it matches `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    /// and is finite as a `Double`; `nil` (a string) otherwise.
    func parseNumber(_ lo: Int, _ hi: Int) -> Double? {
        func isDigit(_ p: Int) -> Bool { p < hi && b[p] >= 0x30 && b[p] <= 0x39 }
        var p = lo
        let negative = b[p] == UInt8(ascii: "-")
        if negative { p += 1 }
        guard isDigit(p) else { return nil }
        let integerStart = p
        if b[p] == UInt8(ascii: "0") {
            p += 1
            if isDigit(p) { return nil }  // forbidden leading zero: 05, -007
        } else {
            while isDigit(p) { p += 1 }
        }
        let integerEnd = p
        var isInteger = true
        if p < hi, b[p] == UInt8(ascii: ".") {
            p += 1
            guard isDigit(p) else { return nil }
            while isDigit(p) { p += 1 }
            isInteger = false
        }
        if p < hi, b[p] == UInt8(ascii: "e") || b[p] == UInt8(ascii: "E") {
            p += 1
            if p < hi, b[p] == UInt8(ascii: "+") || b[p] == UInt8(ascii: "-") { p += 1 }
            guard isDigit(p) else { return nil }
            while isDigit(p) { p += 1 }
            isInteger = false
        }
        guard p == hi else { return nil }
        // Up to 15 digits is exact in a Double: no need for the general conversion.
        if isInteger, integerEnd - integerStart <= 15 {
            var value: Int64 = 0
            for k in integerStart..<integerEnd { value = value * 10 + Int64(b[k] - 0x30) }
            return value == 0 ? 0 : Double(negative ? -value : value)
        }
        guard let value = Double(text(lo, hi)), value.isFinite else { return nil }
        return value == 0 ? 0 : value  // -0 reads as 0
    }

    // MARK: Delimited values (§9.1, §11.2)

    /// Splits `lo..<hi` on the unquoted `delimiter` and parses each trimmed token; empty tokens
    /// are empty strings.
    func splitValues(_ lo: Int, _ hi: Int, delimiter: UInt8, line: TOONLine) throws(TOONError) -> [TOONValue] {
        var values: [TOONValue] = []
        var tokenStart = lo
        while let end = firstUnquoted(delimiter, tokenStart, hi) {
            let (tlo, thi) = trimmed(tokenStart, end)
            values.append(try parsePrimitive(tlo, thi, line: line))
            tokenStart = end + 1
        }
        let (tlo, thi) = trimmed(tokenStart, hi)
        values.append(try parsePrimitive(tlo, thi, line: line))
        return values
    }
}

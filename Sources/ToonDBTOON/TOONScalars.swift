/// Scalar formatting for the encoder: numbers in canonical form, string quoting and escaping,
/// key encoding (spec §2, §7.1–§7.3). Everything appends UTF-8 bytes to one buffer, so encoding
/// a document is a single pass with no intermediate strings.
enum TOONScalars {
    // MARK: Numbers (§2)

    /// Appends `value` in canonical decimal form: no exponent, no trailing fractional zeros,
    /// integers without a fraction, -0 as 0, and NaN or ±infinity as `null` (§3).
    ///
    /// The digits are the shortest that round-trip (Swift's `description`), re-laid out as plain
    /// decimal. The spec allows an exponent outside 1e-6 ≤ |n| < 1e21; this encoder never uses
    /// one, so a number always reads as a number to any decoder.
    static func appendNumber(_ value: Double, to out: inout [UInt8]) {
        guard value.isFinite else {
            out.append(contentsOf: "null".utf8)
            return
        }
        if value == 0 {
            out.append(UInt8(ascii: "0"))  // also -0
            return
        }
        // Integers below 2^53 are exact in an Int64: the common case, without `description`.
        if value.magnitude < 9_007_199_254_740_992, value == value.rounded(.towardZero) {
            appendInteger(Int64(value), to: &out)
            return
        }
        appendDecimalLayout(of: value.description, to: &out)
    }

    static func appendInteger(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 20 digits
        withUnsafeMutableBytes(of: &scratch) { digits in
            var i = digits.count
            repeat {
                i -= 1
                digits[i] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            out.append(contentsOf: digits[i...])
        }
    }

    /// Re-lays out Swift's shortest representation (`123.45`, `1e-06`, `1.5e+20`) as plain decimal.
    private static func appendDecimalLayout(of text: String, to out: inout [UInt8]) {
        var digits: [UInt8] = []
        digits.reserveCapacity(24)
        var negative = false
        var pointPosition: Int? = nil  // digits before the decimal point in the mantissa
        var exponent = 0
        var exponentNegative = false
        var inExponent = false
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "-"):
                if inExponent { exponentNegative = true } else { negative = true }
            case UInt8(ascii: "+"):
                break
            case UInt8(ascii: "."):
                pointPosition = digits.count
            case UInt8(ascii: "e"), UInt8(ascii: "E"):
                inExponent = true
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if inExponent {
                    exponent = exponent * 10 + Int(byte - UInt8(ascii: "0"))
                } else {
                    digits.append(byte)
                }
            default:
                break
            }
        }
        // Position of the decimal point relative to the start of `digits`.
        var point = (pointPosition ?? digits.count) + (exponentNegative ? -exponent : exponent)
        // Drop leading zeros (each moves the point left) and trailing zeros (no effect).
        var start = 0
        while start < digits.count, digits[start] == UInt8(ascii: "0") {
            start += 1
            point -= 1
        }
        var end = digits.count
        while end > start, digits[end - 1] == UInt8(ascii: "0") { end -= 1 }
        guard start < end else {
            out.append(UInt8(ascii: "0"))
            return
        }
        let significant = digits[start..<end]
        if negative { out.append(UInt8(ascii: "-")) }
        if point <= 0 {
            out.append(UInt8(ascii: "0"))
            out.append(UInt8(ascii: "."))
            out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: -point))
            out.append(contentsOf: significant)
        } else if point >= significant.count {
            out.append(contentsOf: significant)
            out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: point - significant.count))
        } else {
            let split = significant.startIndex + point
            out.append(contentsOf: significant[..<split])
            out.append(UInt8(ascii: "."))
            out.append(contentsOf: significant[split...])
        }
    }

    // MARK: Strings (§7.1, §7.2)

    /// Appends a string value, quoted if §7.2 requires it given the active `delimiter`.
    static func appendString(_ string: String, delimiter: UInt8, to out: inout [UInt8]) {
        if needsQuotes(string, delimiter: delimiter) {
            appendQuoted(string, to: &out)
        } else {
            out.append(contentsOf: string.utf8)
        }
    }

    /// Appends `"…"` with the §7.1 escapes: `\\ \" \n \r \t`, and `\u00XX` for the other
    /// C0 control characters (which have no short escape).
    static func appendQuoted(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        let handled: Void? = string.utf8.withContiguousStorageIfAvailable { appendEscaped($0, to: &out) }
        if handled == nil {
            let bytes = Array(string.utf8)
            appendEscaped(bytes[...], to: &out)
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func appendEscaped<C: Collection>(_ bytes: C, to out: inout [UInt8])
    where C.Element == UInt8, C.Index == Int {
        var runStart = bytes.startIndex
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let byte = bytes[i]
            if byte >= 0x20, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
                i += 1
                continue
            }
            out.append(contentsOf: bytes[runStart..<i])
            out.append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "\n"): out.append(UInt8(ascii: "n"))
            case UInt8(ascii: "\r"): out.append(UInt8(ascii: "r"))
            case UInt8(ascii: "\t"): out.append(UInt8(ascii: "t"))
            default:
                out.append(contentsOf: "u00".utf8)
                out.append(hexDigit(byte >> 4))
                out.append(hexDigit(byte & 0x0F))
            }
            i += 1
            runStart = i
        }
        out.append(contentsOf: bytes[runStart..<bytes.endIndex])
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }

    /// Whether a string value must be quoted (§7.2): empty; leading or trailing whitespace;
    /// `true`/`false`/`null`; numeric-like (including a leading `+`, and leading zeros); a
    /// colon, quote, backslash, bracket, brace, control character or the active delimiter;
    /// a leading `-` (list-item ambiguity), `#` (a comment line when decoded) or U+FEFF.
    static func needsQuotes(_ string: String, delimiter: UInt8) -> Bool {
        let utf8 = string.utf8
        guard let first = utf8.first, let last = utf8.last else { return true }
        if first == UInt8(ascii: " ") || last == UInt8(ascii: " ") { return true }
        if first == UInt8(ascii: "-") || first == UInt8(ascii: "#") { return true }
        // U+FEFF first: a decoder drops it as a byte-order mark at the start of a document.
        if first == 0xEF, string.unicodeScalars.first == "\u{FEFF}" { return true }
        for byte in utf8 {
            switch byte {
            case 0..<0x20, UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: ":"),
                UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "{"), UInt8(ascii: "}"):
                return true
            default:
                if byte == delimiter { return true }
            }
        }
        // Other Unicode whitespace at either end (NBSP, ideographic space…): quoting keeps it
        // visibly part of the value.
        if first >= 0x80 || last >= 0x80 {
            let scalars = string.unicodeScalars
            if let f = scalars.first, f.properties.isWhitespace { return true }
            if let l = scalars.last, l.properties.isWhitespace { return true }
        }
        switch string {
        case "true", "false", "null": return true
        default: break
        }
        return isNumericLike(utf8)
    }

    /// `/^[+-]?\d+(\.\d+)?(e[+-]?\d+)?$/i`: what a decoder (this one, or a laxer host parser
    /// for the `+` form) would read as a number. Covers the leading-zero form `05` too.
    static func isNumericLike(_ utf8: String.UTF8View) -> Bool {
        var it = utf8.makeIterator()
        var byte = it.next()
        if byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") { byte = it.next() }
        func isDigit(_ b: UInt8?) -> Bool { b.map { $0 >= 0x30 && $0 <= 0x39 } ?? false }
        guard isDigit(byte) else { return false }
        while isDigit(byte) { byte = it.next() }
        if byte == UInt8(ascii: ".") {
            byte = it.next()
            guard isDigit(byte) else { return false }
            while isDigit(byte) { byte = it.next() }
        }
        if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            byte = it.next()
            if byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") { byte = it.next() }
            guard isDigit(byte) else { return false }
            while isDigit(byte) { byte = it.next() }
        }
        return byte == nil
    }

    // MARK: Keys (§7.3)

    /// Appends a key or field name: bare if it matches `^[A-Za-z_][A-Za-z0-9_.]*$`, quoted otherwise.
    static func appendKey(_ key: String, to out: inout [UInt8]) {
        if isBareKey(key) {
            out.append(contentsOf: key.utf8)
        } else {
            appendQuoted(key, to: &out)
        }
    }

    static func isBareKey(_ key: String) -> Bool {
        var first = true
        for byte in key.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "_"):
                break
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."):
                if first { return false }
            default:
                return false
            }
            first = false
        }
        return !first
    }
}

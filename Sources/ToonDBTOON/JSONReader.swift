/// JSON text that ``JSONReader`` rejects: where (`offset`, in bytes) and why.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The byte offset of the problem.
    public var offset: Int
    /// What is wrong there.
    public var reason: String
    /// `invalid JSON at byte N: reason`.
    public var message: String { "invalid JSON at byte \(offset): \(reason)" }
    public var description: String { message }

    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }
}

/// A JSON (RFC 8259) reader that keeps object key order and produces `TOONValue` directly, so
/// JSON from clients (collection metadata, the conformance fixtures) becomes TOON without
/// Foundation. `JSONSerialization` would lose key order and blur Booleans with numbers.
/// Numbers become `Double` via `Double(String)`, the conversion the TOON decoder uses.
public struct JSONReader {
    typealias ParseError = JSONError

    private let b: [UInt8]
    private var p = 0

    /// The value `data` holds; throws on anything but exactly one JSON value (and whitespace).
    public static func parse(_ data: [UInt8]) throws(JSONError) -> TOONValue {
        var parser = JSONReader(b: data)
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.p == data.count else { throw ParseError(offset: parser.p, reason: "trailing content") }
        return value
    }

    private init(b: [UInt8]) { self.b = b }

    private mutating func skipWhitespace() {
        while p < b.count, b[p] == 0x20 || b[p] == 0x0A || b[p] == 0x0D || b[p] == 0x09 { p += 1 }
    }

    private func fail(_ reason: String) -> ParseError { ParseError(offset: p, reason: reason) }

    private mutating func value(depth: Int) throws(JSONError) -> TOONValue {
        guard depth < 512 else { throw fail("nesting too deep") }
        skipWhitespace()
        guard p < b.count else { throw fail("unexpected end") }
        switch b[p] {
        case UInt8(ascii: "{"):
            p += 1
            var object = TOONObject()
            skipWhitespace()
            if p < b.count, b[p] == UInt8(ascii: "}") { p += 1; return .object(object) }
            while true {
                skipWhitespace()
                guard p < b.count, b[p] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                let key = try string()
                skipWhitespace()
                guard p < b.count, b[p] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                p += 1
                object.append(key, try value(depth: depth + 1))
                skipWhitespace()
                guard p < b.count else { throw fail("unterminated object") }
                if b[p] == UInt8(ascii: ",") { p += 1; continue }
                if b[p] == UInt8(ascii: "}") { p += 1; return .object(object) }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            p += 1
            var elements: [TOONValue] = []
            skipWhitespace()
            if p < b.count, b[p] == UInt8(ascii: "]") { p += 1; return .array(elements) }
            while true {
                elements.append(try value(depth: depth + 1))
                skipWhitespace()
                guard p < b.count else { throw fail("unterminated array") }
                if b[p] == UInt8(ascii: ",") { p += 1; continue }
                if b[p] == UInt8(ascii: "]") { p += 1; return .array(elements) }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        default:
            return .number(try number())
        }
    }

    private mutating func literal(_ word: String, _ value: TOONValue) throws(JSONError) -> TOONValue {
        let bytes = Array(word.utf8)
        guard p + bytes.count <= b.count, Array(b[p..<(p + bytes.count)]) == bytes else {
            throw fail("expected \(word)")
        }
        p += bytes.count
        return value
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, strictly.
    private mutating func number() throws(JSONError) -> Double {
        let start = p
        func digits() -> Int {
            let from = p
            while p < b.count, b[p] >= 0x30 && b[p] <= 0x39 { p += 1 }
            return p - from
        }
        if p < b.count, b[p] == UInt8(ascii: "-") { p += 1 }
        let integerStart = p
        let integerDigits = digits()
        var valid = integerDigits > 0 && !(integerDigits > 1 && b[integerStart] == UInt8(ascii: "0"))
        if valid, p < b.count, b[p] == UInt8(ascii: ".") {
            p += 1
            valid = digits() > 0
        }
        if valid, p < b.count, b[p] == UInt8(ascii: "e") || b[p] == UInt8(ascii: "E") {
            p += 1
            if p < b.count, b[p] == UInt8(ascii: "+") || b[p] == UInt8(ascii: "-") { p += 1 }
            valid = digits() > 0
        }
        guard valid, let value = Double(String(decoding: b[start..<p], as: UTF8.self)) else {
            throw ParseError(offset: start, reason: "invalid number")
        }
        return value
    }

    private mutating func string() throws(JSONError) -> String {
        p += 1  // opening quote
        var out: [UInt8] = []
        while p < b.count {
            let c = b[p]
            if c == UInt8(ascii: "\"") {
                guard let text = String(validating: out, as: UTF8.self) else { throw fail("a string that is not UTF-8") }
                p += 1
                return text
            }
            guard c == UInt8(ascii: "\\") else {
                guard c >= 0x20 else { throw fail("control character in a string") }
                out.append(c)
                p += 1
                continue
            }
            guard p + 1 < b.count else { break }
            let e = b[p + 1]
            p += 2
            switch e {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): out.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = UInt32(try hex4())
                if (0xD800...0xDBFF).contains(scalar), p + 1 < b.count, b[p] == UInt8(ascii: "\\"), b[p + 1] == UInt8(ascii: "u") {
                    p += 2
                    let low = UInt32(try hex4())
                    guard (0xDC00...0xDFFF).contains(low) else { throw fail("invalid surrogate pair") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                out.append(contentsOf: String(Character(unicode)).utf8)
            default:
                throw fail("invalid escape")
            }
        }
        throw fail("unterminated string")
    }

    private mutating func hex4() throws(JSONError) -> UInt16 {
        guard p + 4 <= b.count, let value = UInt16(String(decoding: b[p..<(p + 4)], as: UTF8.self), radix: 16) else {
            throw fail("invalid \\u escape")
        }
        p += 4
        return value
    }
}


import Foundation
import Testing
import ToonDBTOON

/// A small JSON parser that keeps object key order and produces `TOONValue` directly.
///
/// Foundation's `JSONSerialization` loses key order (and the encode fixtures depend on it) and
/// blurs Booleans with numbers in `NSNumber`; this parser has neither problem. Numbers become
/// `Double` via `Double(String)`, the same conversion the decoder uses.
struct JSONParser {
    struct ParseError: Error, CustomStringConvertible {
        var offset: Int
        var reason: String
        var description: String { "JSON parse error at byte \(offset): \(reason)" }
    }

    private let b: [UInt8]
    private var p = 0

    static func parse(_ data: [UInt8]) throws -> TOONValue {
        var parser = JSONParser(b: data)
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

    private mutating func value(depth: Int) throws -> TOONValue {
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

    private mutating func literal(_ word: String, _ value: TOONValue) throws -> TOONValue {
        let bytes = Array(word.utf8)
        guard p + bytes.count <= b.count, Array(b[p..<(p + bytes.count)]) == bytes else {
            throw fail("expected \(word)")
        }
        p += bytes.count
        return value
    }

    private mutating func number() throws -> Double {
        let start = p
        while p < b.count, b[p] == UInt8(ascii: "-") || b[p] == UInt8(ascii: "+") || b[p] == UInt8(ascii: ".")
            || b[p] == UInt8(ascii: "e") || b[p] == UInt8(ascii: "E") || (b[p] >= 0x30 && b[p] <= 0x39)
        {
            p += 1
        }
        guard p > start, let value = Double(String(decoding: b[start..<p], as: UTF8.self)) else {
            throw ParseError(offset: start, reason: "invalid number")
        }
        return value
    }

    private mutating func string() throws -> String {
        p += 1  // opening quote
        var out: [UInt8] = []
        while p < b.count {
            let c = b[p]
            if c == UInt8(ascii: "\"") {
                p += 1
                return String(decoding: out, as: UTF8.self)
            }
            guard c == UInt8(ascii: "\\") else {
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

    private mutating func hex4() throws -> UInt16 {
        guard p + 4 <= b.count, let value = UInt16(String(decoding: b[p..<(p + 4)], as: UTF8.self), radix: 16) else {
            throw fail("invalid \\u escape")
        }
        p += 4
        return value
    }
}

/// One conformance test case from the spec's fixtures.
struct FixtureCase: Sendable, CustomTestStringConvertible {
    var file: String
    var name: String
    var specSection: String?
    /// Encode: the JSON value. Decode: the TOON text, as a string.
    var input: TOONValue
    /// Encode: the TOON text, as a string. Decode: the JSON value.
    var expected: TOONValue
    var shouldError: Bool
    var delimiter: TOONDelimiter
    var indent: Int
    var strict: Bool

    var testDescription: String { "\(file): \(name)" }

    /// `file: name [§x]`, for failure messages.
    var label: String { "\(file): \(name)" + (specSection.map { " [§\($0)]" } ?? "") }

    var encoder: TOONEncoder { TOONEncoder(indent: indent, delimiter: delimiter) }
    var decoder: TOONDecoder { TOONDecoder(indent: indent, strict: strict) }
}

/// The fixtures under `testdata/toon-spec-v4.0.0/fixtures`, found relative to this file.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // ToonDBTOONTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // the package
        .appendingPathComponent("testdata/toon-spec-v4.0.0/fixtures")

    static let encode: [FixtureCase] = load("encode")
    static let decode: [FixtureCase] = load("decode")

    /// Files that failed to load or parse: a failing test rather than silently fewer cases.
    static let problems: [String] = {
        var problems: [String] = []
        for category in ["encode", "decode"] {
            let folder = directory.appendingPathComponent(category)
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else {
                problems.append("cannot list \(folder.path)")
                continue
            }
            for name in names where name.hasSuffix(".json") {
                do {
                    _ = try cases(in: folder.appendingPathComponent(name), category: category)
                } catch {
                    problems.append("\(category)/\(name): \(error)")
                }
            }
        }
        return problems
    }()

    private static func load(_ category: String) -> [FixtureCase] {
        let folder = directory.appendingPathComponent(category)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
            .filter { $0.hasSuffix(".json") }
            .sorted()
        return names.flatMap { (try? cases(in: folder.appendingPathComponent($0), category: category)) ?? [] }
    }

    struct FixtureError: Error, CustomStringConvertible {
        var description: String
    }

    private static func cases(in url: URL, category: String) throws -> [FixtureCase] {
        let data = try Data(contentsOf: url)
        let root = try JSONParser.parse([UInt8](data))
        guard root["category"]?.stringValue == category, let tests = root["tests"]?.arrayValue else {
            throw FixtureError(description: "not a \(category) fixture file")
        }
        return try tests.map { test in
            guard let name = test["name"]?.stringValue, let input = test["input"], let expected = test["expected"] else {
                throw FixtureError(description: "a test without name, input or expected")
            }
            let options = test["options"]
            let delimiter = options?["delimiter"]?.stringValue.flatMap(TOONDelimiter.init(rawValue:)) ?? .comma
            return FixtureCase(
                file: url.lastPathComponent,
                name: name,
                specSection: test["specSection"]?.stringValue,
                input: input,
                expected: expected,
                shouldError: test["shouldError"]?.boolValue ?? false,
                delimiter: delimiter,
                indent: options?["indentSize"]?.numberValue.map { Int($0) } ?? 2,
                strict: options?["strict"]?.boolValue ?? true)
        }
    }
}

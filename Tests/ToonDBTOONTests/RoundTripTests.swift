import Testing
import ToonDBTOON

/// decode(encode(x)) == x for strings that need quoting, escaping or care, in every position a
/// string can take (value, cell, list item, key, field name, entry key), every delimiter and two
/// indent sizes.
@Suite("TOON round trips")
struct RoundTripTests {
    static let trickyStrings: [String] = [
        "", " ", "  ", " lead", "trail ", " both ", "x y",
        ",", "a,b", "a:b", ":", "a: b, c", "http://example.com?q=a:b",
        "\"", "say \"hi\"", "\"quoted\"", "\\", "C:\\Users\\path", "trailing\\", "\\u0041", "\\n",
        "true", "false", "null", "True", "NULL",
        "42", "-1.5e3", "1e6", "1E+6", "-0", "0", "05", "007", "-05", "+1", "+1.5", ".5", "1.", "0x10", "1_000",
        "Infinity", "-Infinity", "NaN",
        "-", "- x", "-x", "--", "- item", "#", "#tag", "# comment", "a#b",
        "[1]", "[]", "{a}", "{}", "key[2]: v", "[2]{a}:", "[2:]{v}:", "a[b]", "x{y}",
        "a|b", "|", "a\tb", "\t", "line1\nline2", "\n", "a\r\nb", "\r", "end\n",
        "\u{0}", "\u{1}", "\u{1F}", "\u{7F}", "bell\u{7}",
        "café", "你好", "🚀 launch", "👋", "e\u{301}", "\u{00A0}nbsp", "nbsp\u{00A0}", "\u{2028}", "\u{FEFF}bom",
    ]

    static var shapes: [(String, (String) -> TOONValue)] { [
        ("root", { .string($0) }),
        ("object value", { ["k": .string($0), "after": 1] }),
        ("inline array", { ["k": [.string($0), "x", .string($0)]] }),
        ("root inline array", { [.string($0)] }),
        ("tabular cell", { ["rows": [["a": .string($0), "b": 1], ["a": "x", "b": .string($0)]]] }),
        ("nested group cell", { ["rows": [["id": 1, "g": ["s": .string($0)]], ["id": 2, "g": ["s": "y"]]]] }),
        ("list item", { ["k": [.string($0), ["a": .string($0)], [.string($0)]]] }),
        ("list-item first field", { ["k": [[$0: .string($0), "z": 1], 5]] }),
        ("key", { [$0: .string($0), "other": 1] }),
        ("key of an array", { [$0: [1, 2], "x": [[.string($0)]]] }),
        ("tabular field name", { ["rows": [[$0: 1, "b": 2], [$0: 3, "b": 4]]] }),
        ("nested field name", { ["rows": [["g": [$0: 1]], ["g": [$0: 2]]]] }),
        ("keyed entry key", { ["m": [$0: ["v": .string($0)], "other": ["v": 2]]] }),
        ("root keyed entry key", { [$0: ["v": 1], "other": ["v": .string($0)]] }),
    ] }

    struct Case: Sendable, CustomTestStringConvertible {
        var string: String
        var testDescription: String { String(reflecting: string) }
    }

    @Test("tricky strings survive every position", arguments: trickyStrings.map(Case.init))
    func trickyString(_ testCase: Case) throws {
        for (shape, build) in Self.shapes {
            let value = build(testCase.string)
            for delimiter in TOONDelimiter.allCases {
                for indent in [2, 4] {
                    let text = TOONEncoder(indent: indent, delimiter: delimiter).encode(value)
                    let decoded = try TOONDecoder(indent: indent).decode(text)
                    #expect(decoded == value, "\(shape), delimiter \(String(reflecting: delimiter.rawValue)), indent \(indent)\ntext:\n\(text)")
                    #expect(!text.hasSuffix("\n"), "trailing newline (\(shape))")
                    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                        #expect(!line.hasSuffix(" "), "trailing space in \(String(reflecting: line)) (\(shape))")
                    }
                }
            }
        }
    }

    @Test("strings that need no quotes are written bare")
    func bareStrings() {
        for string in ["hello", "Ada_99", "café", "hello 👋 world", "a-b", "1a", "x.y", "e5", "truex", "a\u{00A0}b"] {
            #expect(TOONEncoder().encode(.string(string)) == string)
        }
        // A comma is quoted only when it is the delimiter.
        #expect(TOONEncoder(delimiter: .pipe).encode(["t": ["a,b"]]) == "t[1|]: a,b")
        #expect(TOONEncoder(delimiter: .pipe).encode(["t": ["a|b"]]) == "t[1|]: \"a|b\"")
    }

    @Test("control characters are escaped")
    func escapes() {
        #expect(TOONEncoder().encode("a\u{0}b\u{1F}c\td\ne\rf\\g\"h") == #""a\u0000b\u001fc\td\ne\rf\\g\"h""#)
    }

    @Test("numbers round-trip through their canonical form", arguments: [
        0.0, -0.0, 1, -1, 0.1, 0.2, 0.1 + 0.2, 1.0 / 3, 2.0 / 3, 123.456, -7.25, 1e-6, 1e-7, 1.5e-10, 5e-324,
        2.2250738585072014e-308, 1e15, 1e16, 1e20, 1e21, 1e22, 1.7976931348623157e308, -1.7976931348623157e308,
        9_007_199_254_740_991, 9_007_199_254_740_992, 9_007_199_254_740_994, 123_456_789.123_456_78, 6.02214076e23,
    ])
    func numberRoundTrip(_ number: Double) throws {
        let text = TOONEncoder().encode(.number(number))
        #expect(!text.contains("e") && !text.contains("E"), "exponent in \(text)")
        #expect(try TOONDecoder().decode(text) == .number(number), "\(number) → \(text)")
    }

    @Test("random doubles round-trip")
    func randomDoubles() throws {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var values: [TOONValue] = []
        while values.count < 2000 {
            // xorshift64*: deterministic, any bit pattern.
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            let bits = state &* 0x2545_F491_4F6C_DD1D
            let d = Double(bitPattern: bits)
            if d.isFinite { values.append(.number(d)) }
        }
        let value = TOONValue.object(["nums": .array(values)])
        let decoded = try TOONDecoder().decode(TOONEncoder().encode(value))
        #expect(decoded == value)
    }

    @Test("canonical number text")
    func canonicalNumbers() {
        let cases: [(Double, String)] = [
            (1e6, "1000000"), (1e-6, "0.000001"), (1e-7, "0.0000001"), (1.5, "1.5"), (100.0, "100"),
            (-0.0, "0"), (0.1 + 0.2, "0.30000000000000004"), (1e21, "1000000000000000000000"),
            (-1.25e-3, "-0.00125"), (9_007_199_254_740_993, "9007199254740992"),
            (.nan, "null"), (.infinity, "null"), (-.infinity, "null"),
        ]
        for (number, text) in cases {
            #expect(TOONEncoder().encode(.number(number)) == text, "\(number)")
        }
    }

    @Test("a large query-shaped table round-trips")
    func largeTable() throws {
        var rows: [TOONValue] = []
        for i in 0..<20_000 {
            rows.append([
                "id": .number(Double(i)),
                "name": .string(i % 7 == 0 ? "Name, \(i)" : "name\(i)"),
                "score": i % 5 == 0 ? .null : .number(Double(i) / 8),
                "flag": .bool(i % 2 == 0),
            ])
        }
        let value: TOONValue = ["result": .array(rows)]
        let text = TOONEncoder().encode(value)
        #expect(text.hasPrefix("result[20000]{id,name,score,flag}:\n  0,\"Name, 0\",null,true\n  1,name1,0.125,false"))
        #expect(try TOONDecoder().decode(text) == value)
    }

    @Test("deeply nested mixed structures round-trip")
    func nested() throws {
        var value: TOONValue = ["leaf": [1, "two", nil, true]]
        for depth in 0..<40 {
            switch depth % 4 {
            case 0: value = ["k\(depth)": value, "n": .number(Double(depth))]
            case 1: value = [value, "x", [1, 2]]
            case 2: value = ["list": [value, ["a": 1]], "empty": [], "obj": [:]]
            default: value = [["only": value]]
            }
        }
        for delimiter in TOONDelimiter.allCases {
            let text = TOONEncoder(delimiter: delimiter).encode(value)
            #expect(try TOONDecoder().decode(text) == value)
        }
    }
}

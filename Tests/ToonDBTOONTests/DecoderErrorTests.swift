import Testing
import ToonDBTOON

/// What a rejected document reports: the kind of error, and a message that names the line (and
/// the column where one character is to blame).
@Suite("TOON decoder errors")
struct DecoderErrorTests {
    func error(_ text: String, strict: Bool = true, indent: Int = 2) -> TOONError? {
        do {
            let value = try TOONDecoder(indent: indent, strict: strict).decode(text)
            Issue.record("decoded \(value) from \(String(reflecting: text))")
            return nil
        } catch {
            return error
        }
    }

    @Test("length mismatches name the array and the header line")
    func lengths() {
        let rows = error("a: 1\nitems[2]{id,name}:\n  1,Ada")
        #expect(rows?.code == .lengthMismatch)
        #expect(rows?.line == 2)
        #expect(rows?.message == "line 2: expected 2 rows in tabular array 'items', found 1")

        #expect(error("tags[3]: a,b")?.message == "line 1: expected 3 values in array 'tags', found 2")
        #expect(error("items[1]:\n  - a\n  - b")?.message == "line 1: expected 1 list item in array 'items', found 2")
        #expect(error("[1]{id}:\n  1\n  2")?.message == "line 1: expected 1 row in root tabular array, found 2")
        #expect(error("m[2:]{v}:\n  a: 1")?.message == "line 1: expected 2 entries in keyed table 'm', found 1")
        #expect(error("p[1]:\n  - [3]: 1,2")?.message == "line 2: expected 3 values in array in a list item, found 2")
    }

    @Test("row width mismatches name the row's line")
    func widths() {
        let e = error("t[2]{a,b}:\n  1,2\n  3")
        #expect(e?.code == .widthMismatch)
        #expect(e?.message == "line 3: expected 2 values in a row of tabular array 't', found 1")
        #expect(error("m[1:]{a,b}:\n  k: 1")?.message == "line 2: expected 2 values in entry 'k' of keyed table 'm', found 1")
    }

    @Test("indentation errors")
    func indentation() {
        let odd = error("a:\n   b: 1")
        #expect(odd?.code == .invalidIndentation)
        #expect(odd?.message == "line 2: indentation must be a multiple of 2 spaces, found 3")
        #expect(error("a:\n   b: 1", indent: 4)?.message == "line 2: indentation must be a multiple of 4 spaces, found 3")

        let tab = error("a:\n \tb: 1")
        #expect(tab?.code == .tabIndentation)
        #expect(tab?.message == "line 2, column 2: tabs are not allowed in indentation")

        let jump = error("a:\n    b: 1")
        #expect(jump?.code == .unexpectedIndentation)
        #expect(jump?.line == 2)
        #expect(error("a: 1\n  b: 2")?.code == .unexpectedIndentation)
    }

    @Test("string errors carry a column in characters")
    func strings() {
        let escape = error(#"name: "bad\xescape""#)
        #expect(escape?.code == .invalidEscape)
        #expect(escape?.message == #"line 1, column 11: invalid escape sequence: \x"#)
        // Columns count characters, not bytes: é is two bytes.
        #expect(error(#"k: "é\q""#)?.column == 6)

        let open = error("a: 1\nx: \"open")
        #expect(open?.code == .unterminatedString)
        #expect(open?.message == "line 2, column 4: unterminated string: missing closing quote")

        #expect(error(#"v: "\uD800x""#)?.code == .invalidEscape)
        #expect(error(#"v: "\u12""#)?.code == .invalidEscape)
        #expect(error(#"v: "ab" c"#)?.code == .unexpectedCharacters)
    }

    @Test("structure errors")
    func structure() {
        let colon = error("a:\n  user")
        #expect(colon?.code == .missingColon)
        #expect(colon?.message == "line 2, column 3: missing colon after key 'user'")

        let duplicate = error("a: 1\nb: 2\na: 3")
        #expect(duplicate?.code == .duplicateKey)
        #expect(duplicate?.message == "line 3: duplicate key 'a'")

        let blank = error("items[2]:\n  - a\n\n  - b")
        #expect(blank?.code == .blankLineInArray)
        #expect(blank?.message == "line 3: blank line inside array 'items'")

        #expect(error("items[2]{id}\n  1\n  2")?.code == .missingColon)
        #expect(error("x[03]: 1,2,3")?.code == .invalidHeader)
        #expect(error("a:\n  [2]: 1,2")?.code == .misplacedHeader)
        #expect(error("t[1]{a}: 1")?.code == .misplacedHeader)
        #expect(error("[2]: 1,2\nx: 1")?.code == .trailingContent)
        #expect(error("items[1]:\n  x: 1")?.code == .expectedListItem)
    }

    @Test("non-strict mode relaxes counts, blank lines, duplicates and indentation")
    func lenient() throws {
        let decoder = TOONDecoder(strict: false)
        #expect(try decoder.decode("tags[5]: a,b") == ["tags": ["a", "b"]])
        #expect(try decoder.decode("items[2]:\n  - a\n\n  - b\n  - c") == ["items": ["a", "b", "c"]])
        #expect(try decoder.decode("a: 1\nb: 2\na: 3") == ["a": 3, "b": 2])
        #expect(try decoder.decode("a:\n\tb: 1") == ["a": ["b": 1]])
        #expect(try decoder.decode("foo[x]: 1") == ["foo[x]": 1])
        // Row width still has to match: no object could be built otherwise.
        #expect(throws: TOONError.self) { try decoder.decode("t[1]{a,b}:\n  1") }
    }

    @Test("nesting deeper than maxDepth is an error, not a stack overflow")
    func depthLimit() {
        var text = ""
        for depth in 0..<300 {
            text += String(repeating: " ", count: depth * 2) + "k:\n"
        }
        #expect(error(text)?.code == .nestingTooDeep)
        var decoder = TOONDecoder()
        decoder.maxDepth = 1000
        #expect(throws: Never.self) { try decoder.decode(text) }
    }

    @Test("the error's description is its message; errors compare by value")
    func description() {
        let e = TOONError(.duplicateKey, line: 4, "duplicate key 'x'")
        #expect(e.description == "line 4: duplicate key 'x'")
        #expect("\(e)" == e.message)
        #expect(e == TOONError(.duplicateKey, line: 4, "duplicate key 'x'"))
        #expect(TOONError(.invalidEscape, line: 1, column: 3, "x").message == "line 1, column 3: x")
        #expect(TOONError(.trailingContent, "x").message == "x")
    }
}

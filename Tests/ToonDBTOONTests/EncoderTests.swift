import Testing
import ToonDBTOON

/// Encoder behaviour beyond the fixtures: the forms chosen for shapes the fixtures leave out.
@Suite("TOON encoder")
struct EncoderTests {
    @Test("a query result is a tabular array with null cells")
    func queryResult() {
        let value: TOONValue = ["result": [
            ["email": "alice@example.com", "name": "Alice"],
            ["email": "bob@example.com", "name": "Bob, Jr."],
            ["email": nil, "name": " spaced"],
        ]]
        #expect(TOONEncoder().encode(value) == """
            result[3]{email,name}:
              alice@example.com,Alice
              bob@example.com,"Bob, Jr."
              null," spaced"
            """)
        #expect(TOONEncoder().encode(["result": []]) == "result: []")
    }

    @Test("uniform objects inside an anonymous list-item array use the list form")
    func noKeylessTabularInListItems() throws {
        let value: TOONValue = [[["id": 1], ["id": 2]], "x"]
        let text = TOONEncoder().encode(value)
        #expect(text == "[2]:\n  - [2]:\n    - id: 1\n    - id: 2\n  - x")
        #expect(try TOONDecoder().decode(text) == value)
    }

    @Test("a list-item object's first field keeps its children two levels down with indent 4")
    func listItemIndent4() throws {
        let value: TOONValue = ["items": [["a": ["b": 1], "c": [["x": 1], ["x": 2]]], ["m": [[1, 2]]]]]
        let text = TOONEncoder(indent: 4).encode(value)
        // Hyphen at depth 1 (4 spaces); siblings at depth 2 (8); the first field's children at depth 3 (12).
        #expect(text == """
            items[2]:
                - a:
                        b: 1
                    c[2]{x}:
                        1
                        2
                - m[1]:
                        - [2]: 1,2
            """)
        #expect(try TOONDecoder(indent: 4).decode(text) == value)
    }

    @Test("encodeToBytes is the UTF-8 of encode")
    func bytes() {
        let value: TOONValue = ["k": ["é", "🚀"], "n": 1.5]
        let encoder = TOONEncoder(delimiter: .tab)
        #expect(encoder.encodeToBytes(value) == Array(encoder.encode(value).utf8))
    }

    @Test("indent below 1 is treated as 1")
    func tinyIndent() {
        #expect(TOONEncoder(indent: 0).encode(["a": ["b": 1]]) == "a:\n b: 1")
    }
}

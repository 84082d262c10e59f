import Testing
import ToonDBEngine
import ToonDBTOON
import ToonDBTestSupport
@testable import ToonDBQuery

@Suite struct RowQueryTests {
    /// users/<name>/<column> rows, plus keys that belong to no row.
    static func database(_ directory: TemporaryDirectory) throws -> Database {
        let db = try Database.open(path: directory.child("db"), options: testOptions())
        let rows: [(String, [(String, String)])] = [
            ("carol", [("name", "Carol"), ("tags/first", "x")]),
            ("alice", [("name", "Alice"), ("email", "alice@example.com")]),
            ("bob", [("name", "Bob"), ("age", "42")]),
            ("bob!", [("name", "Bang")]),
        ]
        for (user, cells) in rows {
            for (column, value) in cells { _ = try db.put(bytes("users/\(user)/\(column)"), bytes(value)) }
        }
        _ = try db.put(bytes("users/loose"), bytes("no column"))
        _ = try db.put(bytes("users/trailing/"), bytes("empty column"))
        _ = try db.put(bytes("other/x/y"), bytes("elsewhere"))
        return db
    }

    @Test func groupsKeysIntoRowsInKeyOrder() throws {
        let directory = TemporaryDirectory()
        let db = try Self.database(directory)
        defer { try? db.close() }
        let result = try RowQuery(prefix: bytes("users/")).run(in: db)
        #expect(result.columns == ["age", "email", "name", "tags/first"])
        // Rows in the order of their keys' `row/` prefixes: "users/bob!/" sorts before "users/bob/".
        #expect(result.rows == [
            [nil, "alice@example.com", "Alice", nil],
            [nil, nil, "Bang", nil],
            ["42", nil, "Bob", nil],
            [nil, nil, "Carol", "x"],
        ])
        #expect(!result.exceededBudget)
    }

    @Test func selectOrdersAndPicksColumns() throws {
        let directory = TemporaryDirectory()
        let db = try Self.database(directory)
        defer { try? db.close() }
        let result = try RowQuery(prefix: bytes("users/"), columns: ["name", "missing", "age"]).run(in: db)
        #expect(result.columns == ["name", "missing", "age"])
        #expect(result.rows.map { $0[0] } == ["Alice", "Bang", "Bob", "Carol"])
        #expect(result.rows.allSatisfy { $0[1] == nil })
        #expect(result.rows[2][2] == "42")
    }

    @Test(arguments: [(0, 0, ["Alice", "Bang", "Bob", "Carol"]), (2, 0, ["Alice", "Bang"]), (2, 1, ["Bang", "Bob"]),
                      (0, 3, ["Carol"]), (5, 4, []), (1, 10, [])])
    func paging(limit: Int, offset: Int, names: [String]) throws {
        let directory = TemporaryDirectory()
        let db = try Self.database(directory)
        defer { try? db.close() }
        let result = try RowQuery(prefix: bytes("users/"), limit: limit, offset: offset, columns: ["name"]).run(in: db)
        #expect(result.rows.map { $0[0] } == names)
    }

    @Test func budgetStopsEarly() throws {
        let directory = TemporaryDirectory()
        let db = try Self.database(directory)
        defer { try? db.close() }
        #expect(try RowQuery(prefix: bytes("users/"), byteBudget: 20).run(in: db).exceededBudget)
        #expect(try !RowQuery(prefix: bytes("users/"), byteBudget: 1000).run(in: db).exceededBudget)
    }

    @Test func rendersTabularTOON() throws {
        let directory = TemporaryDirectory()
        let db = try Self.database(directory)
        defer { try? db.close() }
        _ = try db.put(bytes("q/1/text"), bytes("a, \"quoted\"\nline"))
        _ = try db.put(bytes("q/1/n"), bytes("true"))
        _ = try db.put(bytes("q/2/n"), bytes(" padded "))
        let text = try RowQuery(prefix: bytes("q/")).run(in: db).toon
        #expect(text == "result[2]{n,text}:\n  \"true\",\"a, \\\"quoted\\\"\\nline\"\n  \" padded \",null")
        // It reads back as exactly the strings stored.
        let decoded = try TOONDecoder().decode(text)
        let expected = TOONValue.object(TOONObject([(key: "result", value: .array([
            .object(TOONObject([(key: "n", value: .string("true")), (key: "text", value: .string("a, \"quoted\"\nline"))])),
            .object(TOONObject([(key: "n", value: .string(" padded ")), (key: "text", value: .null)])),
        ]))]))
        #expect(decoded == expected)
        #expect(try RowQuery(prefix: bytes("none/")).run(in: db).toon == "result[0]:")
    }

    @Test func rowSplit() {
        func split(_ key: String) -> Int? { Array(key.utf8).withUnsafeBytes { RowQuery.rowSplit($0) } }
        #expect(split("a/b/c") == 3)
        #expect(split("a/b/c/d") == 3)
        #expect(split("a/b") == nil)
        #expect(split("a/b/") == nil)
        #expect(split("abc") == nil)
    }
}

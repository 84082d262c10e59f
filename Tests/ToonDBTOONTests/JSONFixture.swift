import Foundation
import Testing
import ToonDBTOON

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
        let root = try JSONReader.parse([UInt8](data))
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

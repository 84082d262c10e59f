import Testing
import ToonDBTOON

/// Every case of the TOON spec v4.0.0 conformance fixtures (`testdata/toon-spec-v4.0.0`).
@Suite("TOON spec v4 conformance fixtures")
struct ConformanceTests {
    @Test("the fixtures load, and there are at least 400 cases")
    func fixturesArePresent() {
        #expect(Fixtures.problems.isEmpty, "\(Fixtures.problems)")
        #expect(Fixtures.encode.count >= 100, "encode cases: \(Fixtures.encode.count)")
        #expect(Fixtures.decode.count >= 200, "decode cases: \(Fixtures.decode.count)")
        #expect(Fixtures.encode.count + Fixtures.decode.count >= 400,
                "only \(Fixtures.encode.count + Fixtures.decode.count) cases under \(Fixtures.directory.path)")
    }

    @Test("encode fixture", arguments: Fixtures.encode)
    func encode(_ fixture: FixtureCase) {
        let output = fixture.encoder.encode(fixture.input)
        #expect(.string(output) == fixture.expected,
                "\(fixture.label)\ninput: \(fixture.input)\nexpected:\n\(fixture.expected.stringValue ?? "?")\nactual:\n\(output)")
    }

    @Test("decode fixture", arguments: Fixtures.decode)
    func decode(_ fixture: FixtureCase) {
        guard let text = fixture.input.stringValue else {
            Issue.record("\(fixture.label): input is not a string")
            return
        }
        do {
            let value = try fixture.decoder.decode(text)
            if fixture.shouldError {
                Issue.record("\(fixture.label): expected an error, decoded \(value)")
            } else {
                #expect(value == fixture.expected, "\(fixture.label)\nexpected: \(fixture.expected)\nactual:   \(value)")
            }
        } catch {
            if !fixture.shouldError {
                Issue.record("\(fixture.label): unexpected error: \(error)")
            }
        }
    }

    /// decode(encode(x)) == x for every encode fixture's input: the encoder's output is
    /// faithful, not just the expected text. Key order is compared loosely: a tabular or keyed
    /// row lists its keys in the header's order (the first object's), whatever its own was.
    @Test("encode fixture input round-trips", arguments: Fixtures.encode)
    func encodeRoundTrip(_ fixture: FixtureCase) throws {
        let text = fixture.encoder.encode(fixture.input)
        let decoded = try fixture.decoder.decode(text)
        #expect(decoded.sortingKeys() == fixture.input.sortingKeys(), "\(fixture.label)\ntext:\n\(text)")
    }

    /// A decoded fixture value re-encodes to text that decodes to the same value, in every
    /// delimiter.
    @Test("decode fixture output round-trips", arguments: Fixtures.decode.filter { !$0.shouldError })
    func decodeRoundTrip(_ fixture: FixtureCase) throws {
        for delimiter in TOONDelimiter.allCases {
            let text = TOONEncoder(delimiter: delimiter).encode(fixture.expected)
            let decoded = try TOONDecoder().decode(text)
            #expect(decoded == fixture.expected, "\(fixture.label) (\(delimiter))\ntext:\n\(text)")
        }
    }
}

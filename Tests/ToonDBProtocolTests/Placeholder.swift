import Testing

@Suite struct PlaceholderProtocolTests {
    @Test func builds() { #expect(Bool(true)) }
}

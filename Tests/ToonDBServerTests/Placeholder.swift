import Testing

@Suite struct PlaceholderServerTests {
    @Test func builds() { #expect(Bool(true)) }
}

import Testing

@Suite struct PlaceholderQueryTests {
    @Test func builds() { #expect(Bool(true)) }
}

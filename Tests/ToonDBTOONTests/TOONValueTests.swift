import Testing
@testable import ToonDBTOON

@Suite struct TOONValueTests {
    @Test func objectEqualityIsOrdered() {
        let ab = TOONObject([("a", .number(1)), ("b", .null)])
        let ba = TOONObject([("b", .null), ("a", .number(1))])
        #expect(ab == ab)
        #expect(ab != ba)
    }
}

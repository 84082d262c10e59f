import Testing
@testable import ToonDBTOON

@Suite struct TOONValueTests {
    @Test func objectEqualityIsOrdered() {
        let ab = TOONObject([("a", .number(1)), ("b", .null)])
        let ba = TOONObject([("b", .null), ("a", .number(1))])
        #expect(ab == ab)
        #expect(ab != ba)
    }

    @Test func literalsAndAccessors() {
        let value: TOONValue = ["name": "Ada", "age": 36, "score": 9.5, "tags": ["x", nil, true], "meta": [:]]
        #expect(value["name"]?.stringValue == "Ada")
        #expect(value["age"]?.numberValue == 36)
        #expect(value["tags"]?[2]?.boolValue == true)
        #expect(value["tags"]?[1]?.isNull == true)
        #expect(value["tags"]?[3] == nil)
        #expect(value["meta"]?.objectValue?.isEmpty == true)
        #expect(value["missing"] == nil)
        #expect(value.objectValue?.keys == ["name", "age", "score", "tags", "meta"])
        #expect(TOONValue.string("x").isPrimitive && !TOONValue.array([]).isPrimitive)
    }

    @Test func objectSubscriptSetsInPlace() {
        var object: TOONObject = ["a": 1, "b": 2]
        object["a"] = "one"
        object["c"] = 3
        object["b"] = nil
        #expect(object == ["a": "one", "c": 3])
        object.append("d", true)
        #expect(object.count == 3)
    }

    @Test func descriptionIsJSON() {
        let value: TOONValue = ["s": "a\"b\n", "n": [1, 1.5, -0.0], "o": ["t": true, "z": nil]]
        #expect(value.description == #"{"s":"a\"b\n","n":[1,1.5,0],"o":{"t":true,"z":null}}"#)
    }

    @Test func hashable() {
        let a: TOONValue = ["x": [1, 2]]
        let b: TOONValue = ["x": [1, 2]]
        #expect(Set([a, b]).count == 1)
        #expect(a.hashValue == b.hashValue)
    }
}

/// A TOON (or JSON) value: the data model both the encoder and the decoder work on.
///
/// Objects keep their keys in insertion order, as TOON documents do.
public indirect enum TOONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// A number. TOON (like JSON) has one number type; `Double` keeps integers exact up to 2^53.
    case number(Double)
    case string(String)
    case array([TOONValue])
    case object(TOONObject)
}

/// An ordered map from keys to values (a TOON object).
public struct TOONObject: Sendable, Equatable {
    public private(set) var entries: [(key: String, value: TOONValue)]

    public init(_ entries: [(key: String, value: TOONValue)] = []) {
        self.entries = entries
    }

    public static func == (lhs: TOONObject, rhs: TOONObject) -> Bool {
        lhs.entries.count == rhs.entries.count
            && zip(lhs.entries, rhs.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

// MARK: - TOONObject conveniences

extension TOONObject {
    /// The number of entries.
    public var count: Int { entries.count }

    /// Whether the object has no entries.
    public var isEmpty: Bool { entries.isEmpty }

    /// The keys, in order.
    public var keys: [String] { entries.map(\.key) }

    /// The value stored under `key` (the first one, should a key occur twice).
    ///
    /// Setting a value replaces an existing entry in place (its position is kept), appends a new
    /// entry otherwise; setting `nil` removes the entry. Lookups are linear: objects are small.
    public subscript(key: String) -> TOONValue? {
        get { entries.first(where: { $0.key == key })?.value }
        set {
            let index = entries.firstIndex(where: { $0.key == key })
            switch (index, newValue) {
            case (let i?, let value?): entries[i].value = value
            case (let i?, nil): entries.remove(at: i)
            case (nil, let value?): entries.append((key: key, value: value))
            case (nil, nil): break
            }
        }
    }

    /// Appends an entry without looking for an existing one with the same key (the fast path for
    /// callers that know their keys are distinct, such as a row builder).
    public mutating func append(_ key: String, _ value: TOONValue) {
        entries.append((key: key, value: value))
    }

    /// Reserves room for `capacity` entries.
    public mutating func reserveCapacity(_ capacity: Int) {
        entries.reserveCapacity(capacity)
    }

    /// Replaces the value of the entry at `index` (the decoder's last-write-wins for duplicate keys).
    mutating func replaceValue(at index: Int, with value: TOONValue) {
        entries[index].value = value
    }
}

extension TOONObject: Hashable {
    public func hash(into hasher: inout Hasher) {
        hasher.combine(entries.count)
        for entry in entries {
            hasher.combine(entry.key)
            hasher.combine(entry.value)
        }
    }
}

extension TOONObject: ExpressibleByDictionaryLiteral {
    /// `["a": 1, "b": "x"]`, in the literal's order.
    public init(dictionaryLiteral elements: (String, TOONValue)...) {
        self.init(elements.map { (key: $0.0, value: $0.1) })
    }
}

extension TOONObject: CustomStringConvertible {
    /// The object as compact JSON text (keys in order).
    public var description: String { TOONValue.object(self).description }
}

// MARK: - TOONValue conveniences

extension TOONValue: Hashable {}

extension TOONValue {
    /// The string, if this is a string.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The number, if this is a number.
    public var numberValue: Double? {
        if case .number(let n) = self { return n }
        return nil
    }

    /// The Boolean, if this is a Boolean.
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The elements, if this is an array.
    public var arrayValue: [TOONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The object, if this is an object.
    public var objectValue: TOONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// Whether this is `null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// Whether this is a primitive (null, Boolean, number or string): what fits in a tabular cell.
    public var isPrimitive: Bool {
        switch self {
        case .null, .bool, .number, .string: return true
        case .array, .object: return false
        }
    }

    /// The value under `key` if this is an object holding it, `nil` otherwise.
    public subscript(key: String) -> TOONValue? {
        objectValue?[key]
    }

    /// The element at `index` if this is an array long enough, `nil` otherwise.
    public subscript(index: Int) -> TOONValue? {
        guard case .array(let a) = self, a.indices.contains(index) else { return nil }
        return a[index]
    }
}

extension TOONValue: ExpressibleByNilLiteral {
    public init(nilLiteral: ()) { self = .null }
}

extension TOONValue: ExpressibleByBooleanLiteral {
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension TOONValue: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
}

extension TOONValue: ExpressibleByFloatLiteral {
    public init(floatLiteral value: Double) { self = .number(value) }
}

extension TOONValue: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}

extension TOONValue: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: TOONValue...) { self = .array(elements) }
}

extension TOONValue: ExpressibleByDictionaryLiteral {
    /// An object, keys in the literal's order.
    public init(dictionaryLiteral elements: (String, TOONValue)...) {
        self = .object(TOONObject(elements.map { (key: $0.0, value: $0.1) }))
    }
}

extension TOONValue: CustomStringConvertible {
    /// The value as compact JSON text (keys in order; numbers in TOON's canonical form, so
    /// NaN and the infinities read `null`). Meant for diagnostics and test failures.
    public var description: String {
        var out: [UInt8] = []
        TOONValue.appendJSON(self, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private static func appendJSON(_ value: TOONValue, to out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let n): TOONScalars.appendNumber(n, to: &out)
        case .string(let s): TOONScalars.appendQuoted(s, to: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, element) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                appendJSON(element, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            for (i, entry) in o.entries.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                TOONScalars.appendQuoted(entry.key, to: &out)
                out.append(UInt8(ascii: ":"))
                appendJSON(entry.value, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }
}

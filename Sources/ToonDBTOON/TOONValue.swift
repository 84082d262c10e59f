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

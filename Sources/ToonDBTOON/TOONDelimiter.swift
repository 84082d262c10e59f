/// The delimiter that separates the values of inline arrays and the cells of tabular rows.
///
/// The encoder declares it in every array header it writes (`[N]` for comma, `[N|]` for pipe,
/// `[N<TAB>]` for tab); the decoder reads it from each header, so a document may mix them.
public enum TOONDelimiter: String, Sendable, CaseIterable, Hashable {
    case comma = ","
    case tab = "\t"
    case pipe = "|"

    /// The delimiter's single ASCII byte.
    var byte: UInt8 {
        switch self {
        case .comma: return UInt8(ascii: ",")
        case .tab: return UInt8(ascii: "\t")
        case .pipe: return UInt8(ascii: "|")
        }
    }

    /// The delimiter whose character is `byte`, if any.
    init?(byte: UInt8) {
        switch byte {
        case UInt8(ascii: ","): self = .comma
        case UInt8(ascii: "\t"): self = .tab
        case UInt8(ascii: "|"): self = .pipe
        default: return nil
        }
    }
}

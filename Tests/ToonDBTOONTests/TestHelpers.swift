import ToonDBTOON

extension TOONValue {
    /// The same value with every object's keys sorted: for comparisons where key order may
    /// legitimately differ.
    func sortingKeys() -> TOONValue {
        switch self {
        case .array(let elements):
            return .array(elements.map { $0.sortingKeys() })
        case .object(let object):
            let sorted = object.entries
                .map { (key: $0.key, value: $0.value.sortingKeys()) }
                .sorted { $0.key < $1.key }
            return .object(TOONObject(sorted))
        default:
            return self
        }
    }
}

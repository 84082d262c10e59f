import ToonDBTOON

/// A condition on item metadata, given as a JSON object: every key names a top-level metadata
/// field and every condition must hold. A value is either a literal (the field must equal it)
/// or an object of operators:
///
///     {"lang": "en", "year": {"$gte": 2020, "$lt": 2024}, "tag": {"$in": ["a", "b"]}}
///
/// Operators: `$eq`, `$ne`, `$in`, `$nin` (any JSON values) and `$gt`, `$gte`, `$lt`, `$lte`
/// (numbers with numbers, strings with strings; other pairs do not match). A missing field
/// satisfies only `$ne` and `$nin`.
public struct MetadataFilter: Sendable, Equatable {
    enum Operator: String, Sendable, CaseIterable {
        case eq = "$eq", ne = "$ne", `in` = "$in", nin = "$nin", gt = "$gt", gte = "$gte", lt = "$lt", lte = "$lte"
    }

    struct Condition: Sendable, Equatable {
        var field: String
        var op: Operator
        var operand: TOONValue
    }

    let conditions: [Condition]

    /// Parses a filter from JSON text.
    public init(json: [UInt8]) throws(CollectionError) {
        let value: TOONValue
        do { value = try JSONReader.parse(json) } catch {
            throw CollectionError(.invalidMetadata, "filter: \(error.message)")
        }
        guard case .object(let object) = value else {
            throw CollectionError(.invalidMetadata, "a filter must be a JSON object")
        }
        var conditions: [Condition] = []
        for (field, condition) in object.entries {
            guard case .object(let operators) = condition, operators.keys.contains(where: { $0.hasPrefix("$") }) else {
                conditions.append(Condition(field: field, op: .eq, operand: condition))
                continue
            }
            for (name, operand) in operators.entries {
                guard let op = Operator(rawValue: name) else {
                    throw CollectionError(.invalidMetadata, "filter on \"\(field)\": unknown operator \"\(name)\" (known: \(Operator.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                if op == .in || op == .nin, operand.arrayValue == nil {
                    throw CollectionError(.invalidMetadata, "filter on \"\(field)\": \(name) needs an array")
                }
                conditions.append(Condition(field: field, op: op, operand: operand))
            }
        }
        self.conditions = conditions
    }

    /// Whether metadata (nil: the item has none) satisfies every condition.
    public func matches(_ metadata: TOONObject?) -> Bool {
        conditions.allSatisfy { condition in
            let value = metadata?[condition.field]
            switch condition.op {
            case .eq: return value == condition.operand
            case .ne: return value != condition.operand
            case .in: return value.map { condition.operand.arrayValue!.contains($0) } ?? false
            case .nin: return !(value.map { condition.operand.arrayValue!.contains($0) } ?? false)
            case .gt, .gte, .lt, .lte:
                guard let value, let order = Self.compare(value, condition.operand) else { return false }
                switch condition.op {
                case .gt: return order > 0
                case .gte: return order >= 0
                case .lt: return order < 0
                default: return order <= 0
                }
            }
        }
    }

    /// -1, 0, 1 for two numbers or two strings; nil for anything else.
    private static func compare(_ a: TOONValue, _ b: TOONValue) -> Int? {
        switch (a, b) {
        case (.number(let x), .number(let y)): return x < y ? -1 : (x > y ? 1 : 0)
        case (.string(let x), .string(let y)): return x < y ? -1 : (x > y ? 1 : 0)
        default: return nil
        }
    }
}

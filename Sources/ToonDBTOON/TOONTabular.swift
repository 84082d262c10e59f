/// A field of a tabular or keyed header (§9.3, §9.5): a leaf, one cell per row, or a nested
/// field group `name{a,b}` whose leaves follow depth-first in the row.
struct TOONField: Sendable, Equatable {
    var name: String
    /// The group's fields; `nil` for a leaf.
    var children: [TOONField]?

    /// Cells a row needs for these fields (leaves, counted through groups).
    static func leafCount(_ fields: [TOONField]) -> Int {
        fields.reduce(0) { $0 + ($1.children.map(leafCount) ?? 1) }
    }
}

/// Tabular detection for the encoder: when a collection of objects can be written as rows.
enum TOONTabular {
    /// The header fields for an array whose elements are all objects sharing one schema, or `nil`
    /// when the array must use the list form (§9.3).
    static func schema(ofElements elements: [TOONValue]) -> [TOONField]? {
        var objects: [TOONObject] = []
        objects.reserveCapacity(elements.count)
        for element in elements {
            guard case .object(let object) = element else { return nil }
            objects.append(object)
        }
        return schema(of: objects)
    }

    /// The header fields for an object written in keyed tabular form (§9.5): at least two
    /// entries, every value an object, the values sharing one schema. `nil` otherwise.
    static func keyedSchema(of object: TOONObject) -> [TOONField]? {
        guard object.count >= 2 else { return nil }
        var values: [TOONObject] = []
        values.reserveCapacity(object.count)
        for entry in object.entries {
            guard case .object(let value) = entry.value else { return nil }
            values.append(value)
        }
        return schema(of: values)
    }

    /// The shared schema of `objects`: every object non-empty with the same key set (field
    /// order is the first object's), and every column either all primitives (a leaf) or all
    /// non-empty objects that themselves share a schema (a nested group). Arrays, and columns
    /// mixing objects with primitives (`null` included), disqualify the collection.
    /// Keys are assumed distinct within each object.
    static func schema(of objects: [TOONObject]) -> [TOONField]? {
        guard let first = objects.first, !first.isEmpty else { return nil }
        let width = first.count
        for object in objects where object.count != width { return nil }
        var fields: [TOONField] = []
        fields.reserveCapacity(width)
        for (column, entry) in first.entries.enumerated() {
            switch entry.value {
            case .null, .bool, .number, .string:
                for object in objects.dropFirst() {
                    guard let value = value(in: object, key: entry.key, column: column), value.isPrimitive else {
                        return nil
                    }
                }
                fields.append(TOONField(name: entry.key, children: nil))
            case .object(let firstChild):
                var children: [TOONObject] = [firstChild]
                children.reserveCapacity(objects.count)
                for object in objects.dropFirst() {
                    guard case .object(let child)? = value(in: object, key: entry.key, column: column) else {
                        return nil
                    }
                    children.append(child)
                }
                guard let group = schema(of: children) else { return nil }
                fields.append(TOONField(name: entry.key, children: group))
            case .array:
                return nil
            }
        }
        return fields
    }

    /// The value under `key`, looked for first at `column` (rows usually share the header's
    /// order, so this is one comparison), then by a scan.
    static func value(in object: TOONObject, key: String, column: Int) -> TOONValue? {
        let entries = object.entries
        if column < entries.count, entries[column].key == key { return entries[column].value }
        for entry in entries where entry.key == key { return entry.value }
        return nil
    }
}

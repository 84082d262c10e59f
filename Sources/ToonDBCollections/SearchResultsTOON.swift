import ToonDBTOON

extension CollectionHit {
    /// Search hits as a TOON document ready for a prompt: one row per hit under `result`, with
    /// `id`, `distance` and the hit's top-level metadata fields, in the metadata's own order.
    /// Hits with the same fields and primitive values form a table:
    ///
    ///     result[2]{id,distance,title,lang}:
    ///       7,0.0832,Intro to HNSW,en
    ///       3,0.1571,Vector search,en
    ///
    /// A metadata field named `id` or `distance` appears as `metadata_id` / `metadata_distance`.
    /// Distances are written with the shortest digits that identify the `Float`.
    public static func toon(_ hits: [CollectionHit]) -> String {
        var rows: [TOONValue] = []
        rows.reserveCapacity(hits.count)
        for hit in hits {
            var row = TOONObject()
            // Ids beyond 2^53 do not survive a Double: they are written as strings.
            row.append("id", hit.id <= 1 << 53 ? .number(Double(hit.id)) : .string(String(hit.id)))
            row.append("distance", .number(Double(String(describing: hit.distance)) ?? Double(hit.distance)))
            if !hit.metadata.isEmpty, case .object(let metadata)? = try? JSONReader.parse(hit.metadata) {
                for (key, value) in metadata.entries {
                    row.append(key == "id" || key == "distance" ? "metadata_" + key : key, value)
                }
            }
            rows.append(.object(row))
        }
        return TOONEncoder().encode(.object(["result": .array(rows)]))
    }
}

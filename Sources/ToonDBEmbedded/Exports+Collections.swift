import ToonDBCollections
import ToonDBEngine
import ToonDBVector

// Vector collections (docs/vector-collections.md). Every function returns -1 (or NULL-like)
// on failure with toondb_last_error_code() set to a CollectionError code (20-26) or, for a
// storage failure, the engine's code.

/// Reads `count` little-endian u32-length-prefixed entries (metadata of an insert).
private func lengthPrefixed(_ pointer: UnsafePointer<UInt8>?, _ length: Int, count: Int) throws(CollectionError) -> [[UInt8]] {
    if length == 0 { return [] }
    guard let pointer, length > 0 else { throw CollectionError(.invalidArgument, "metadata is NULL but its length is \(length)") }
    let raw = UnsafeRawBufferPointer(start: pointer, count: length)
    var entries: [[UInt8]] = []
    entries.reserveCapacity(count)
    var offset = 0
    while offset < length {
        guard offset + 4 <= length else { throw CollectionError(.invalidArgument, "metadata is truncated at byte \(offset)") }
        let size = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        offset += 4
        guard size <= length - offset else { throw CollectionError(.invalidArgument, "metadata entry \(entries.count) overruns the buffer") }
        entries.append(Array(raw[offset..<(offset + size)]))
        offset += size
    }
    guard entries.count == count else {
        throw CollectionError(.invalidArgument, "\(entries.count) metadata entries for \(count) items")
    }
    return entries
}

private func name(_ pointer: UnsafePointer<CChar>?) throws(CollectionError) -> String {
    do { return try Buffers.string(pointer, "collection name") } catch { throw CollectionError(error) }
}

private func give(_ bytes: [UInt8], _ out: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?,
                  _ outLen: UnsafeMutablePointer<Int>?) throws(CollectionError) {
    do { try Buffers.give(bytes, to: out, length: outLen) } catch { throw CollectionError(error) }
}

@_cdecl("toondb_collection_create")
public func toondb_collection_create(_ db: OpaquePointer?, _ collection: UnsafePointer<CChar>?, _ dimension: UInt32,
                                     _ metric: UnsafePointer<CChar>?, _ m: UInt32, _ efConstruction: UInt32,
                                     _ efSearch: UInt32) -> Int32 {
    toondb_collection_create_encoded(db, collection, dimension, metric, m, efConstruction, efSearch, nil)
}

@_cdecl("toondb_collection_create_encoded")
public func toondb_collection_create_encoded(_ db: OpaquePointer?, _ collection: UnsafePointer<CChar>?, _ dimension: UInt32,
                                             _ metric: UnsafePointer<CChar>?, _ m: UInt32, _ efConstruction: UInt32,
                                             _ efSearch: UInt32, _ encoding: UnsafePointer<CChar>?) -> Int32 {
    Embedded.collectionCall(-1) { () throws(CollectionError) -> Int32 in
        let metricName = metric.map { String(cString: $0) } ?? "cosine"
        guard let parsed = VectorMetric(rawValue: metricName) else {
            throw CollectionError(.invalidArgument, "unknown metric \"\(metricName)\": expected cosine, ip or l2")
        }
        let encodingName = encoding.map { String(cString: $0) } ?? "f32"
        guard let parsedEncoding = VectorEncoding(rawValue: encodingName) else {
            throw CollectionError(.invalidArgument, "unknown encoding \"\(encodingName)\": expected f32, f16 or int8")
        }
        let settings = CollectionSettings(dimension: Int(dimension), metric: parsed, m: Int(m),
                                          efConstruction: Int(efConstruction), efSearch: Int(efSearch),
                                          encoding: parsedEncoding)
        _ = try Embedded.collections(db).create(try name(collection), settings: settings)
        return 0
    }
}

@_cdecl("toondb_collection_drop")
public func toondb_collection_drop(_ db: OpaquePointer?, _ collection: UnsafePointer<CChar>?) -> Int32 {
    Embedded.collectionCall(-1) { () throws(CollectionError) -> Int32 in
        try Embedded.collections(db).drop(try name(collection))
        return 0
    }
}

@_cdecl("toondb_collection_list")
public func toondb_collection_list(_ db: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?,
                                   _ outLen: UnsafeMutablePointer<Int>?) -> Int32 {
    Embedded.collectionCall(-1) { () throws(CollectionError) -> Int32 in
        let entries = try Embedded.collections(db).list().map { JSON.object(CollectionSettings.jsonMembers(name: $0.name, $0.settings)) }
        try give(Array(("[" + entries.joined(separator: ", ") + "]").utf8), out, outLen)
        return 0
    }
}

@_cdecl("toondb_collection_info")
public func toondb_collection_info(_ db: OpaquePointer?, _ collection: UnsafePointer<CChar>?,
                                   _ out: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?,
                                   _ outLen: UnsafeMutablePointer<Int>?) -> Int32 {
    Embedded.collectionCall(-1) { () throws(CollectionError) -> Int32 in
        let info = try Embedded.collections(db).collection(try name(collection)).info()
        try give(Array(info.json.utf8), out, outLen)
        return 0
    }
}

@_cdecl("toondb_collection_insert")
public func toondb_collection_insert(_ db: OpaquePointer?, _ collection: UnsafePointer<CChar>?,
                                     _ ids: UnsafePointer<UInt64>?, _ count: Int, _ vectors: UnsafePointer<Float>?,
                                     _ dimension: Int, _ metadata: UnsafePointer<UInt8>?, _ metadataLen: Int) -> Int64 {
    Embedded.collectionCall(-1) { () throws(CollectionError) -> Int64 in
        let target = try Embedded.collections(db).collection(try name(collection))
        guard count >= 0, dimension >= 0 else { throw CollectionError(.invalidArgument, "count and dimension must not be negative") }
        guard dimension == target.settings.dimension else {
            throw CollectionError(.wrongDimension, "vectors of dimension \(dimension) for collection \"\(target.name)\" of dimension \(target.settings.dimension)")
        }
        if count == 0 { return Int64(bitPattern: try target.insert(ids: [], vectors: UnsafeBufferPointer(start: nil, count: 0))) }
        guard let ids, let vectors else { throw CollectionError(.invalidArgument, "ids or vectors is NULL") }
        let entries = try lengthPrefixed(metadata, metadataLen, count: count)
        let lsn = try target.insert(ids: Array(UnsafeBufferPointer(start: ids, count: count)),
                                    vectors: UnsafeBufferPointer(start: vectors, count: count * dimension), metadata: entries)
        return Int64(bitPattern: lsn)
    }
}

/// 0 deleted, 1 (TOONDB_NOT_FOUND) no such id, -1 error.
@_cdecl("toondb_collection_delete")
public func toondb_collection_delete(_ db: OpaquePointer?, _ collection: UnsafePointer<CChar>?, _ id: UInt64) -> Int32 {
    Embedded.collectionCall(-1) { () throws(CollectionError) -> Int32 in
        try Embedded.collections(db).collection(try name(collection)).delete(id: id) ? 0 : 1
    }
}

/// 0 found (`out` holds the record), 1 (TOONDB_NOT_FOUND) no such id, -1 error.
@_cdecl("toondb_collection_get")
public func toondb_collection_get(_ db: OpaquePointer?, _ collection: UnsafePointer<CChar>?, _ id: UInt64,
                                  _ out: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?,
                                  _ outLen: UnsafeMutablePointer<Int>?) -> Int32 {
    Embedded.collectionCall(-1) { () throws(CollectionError) -> Int32 in
        guard let item = try Embedded.collections(db).collection(try name(collection)).item(id: id) else { return 1 }
        try give(item.record, out, outLen)
        return 0
    }
}

/// `format` 0: the binary hit list; 1: TOON text. `ef_search` 0 uses the collection's default;
/// an empty `filter` is none.
@_cdecl("toondb_collection_search")
public func toondb_collection_search(_ db: OpaquePointer?, _ collection: UnsafePointer<CChar>?,
                                     _ query: UnsafePointer<Float>?, _ dimension: Int, _ k: UInt32, _ efSearch: UInt32,
                                     _ filter: UnsafePointer<UInt8>?, _ filterLen: Int, _ format: UInt32,
                                     _ out: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?,
                                     _ outLen: UnsafeMutablePointer<Int>?) -> Int32 {
    Embedded.collectionCall(-1) { () throws(CollectionError) -> Int32 in
        let target = try Embedded.collections(db).collection(try name(collection))
        guard let query, dimension > 0 else { throw CollectionError(.invalidArgument, "the query is NULL or empty") }
        guard format <= 1 else { throw CollectionError(.invalidArgument, "unknown result format \(format): expected 0 (binary) or 1 (TOON)") }
        let filterBytes: [UInt8]
        do throws(StorageError) { filterBytes = try Buffers.copy(filter, filterLen, "filter") } catch { throw CollectionError(error) }
        let parsed = filterBytes.isEmpty ? nil : try MetadataFilter(json: filterBytes)
        let hits = try target.search(Array(UnsafeBufferPointer(start: query, count: dimension)), k: Int(k),
                                     efSearch: efSearch == 0 ? nil : Int(efSearch), filter: parsed)
        try give(format == 0 ? CollectionHit.encode(hits) : Array(CollectionHit.toon(hits).utf8), out, outLen)
        return 0
    }
}

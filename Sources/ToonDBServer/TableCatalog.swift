import NIOCore
import ToonDBEngine
import ToonDBFormat
import ToonDBProtocol

/// Table schemas from CREATE_TABLE, stored as ordinary keys (`_toondb/tables/<name>`), so they
/// are logged, checkpointed and replicated with the data.
enum TableCatalog {
    static let keyPrefix = Array("_toondb/tables/".utf8)

    static func key(_ name: String) -> [UInt8] { keyPrefix + Array(name.utf8) }

    /// Stores `schema` unless a table of that name exists (checked and written in one
    /// transaction, so two concurrent creators cannot both succeed).
    static func create(_ schema: TableSchema, in database: Database) throws(WireError) {
        try schema.validate()
        do {
            let transaction = try database.beginTransaction()
            if try transaction.get(key(schema.name)) != nil {
                try transaction.abort()
                throw WireError(.alreadyExists, "table \"\(schema.name)\" already exists")
            }
            try transaction.put(key(schema.name), schema.encoded)
            _ = try transaction.commit()
        } catch let error as WireError {
            throw error
        } catch let error as StorageError {
            if error.code == .conflict { throw WireError(.alreadyExists, "table \"\(schema.name)\" was created concurrently") }
            throw WireError(error)
        } catch {
            throw WireError(.storage, "\(error)")
        }
    }

    /// The stored CREATE_TABLE payload of `name`.
    static func describe(_ name: String, in database: Database) throws(WireError) -> [UInt8] {
        let stored: [UInt8]?
        do {
            stored = try database.get(key(name))
        } catch {
            throw WireError(error)
        }
        guard let stored else { throw WireError(.notFound, "no table named \"\(name)\"") }
        return stored
    }
}

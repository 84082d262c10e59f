/// Request opcodes (client to server). 0x01–0x0F are ToonDB's; 0x10 and up are ToonDB
/// extensions (docs/ipc-protocol.md).
public enum RequestOpcode: UInt8, Sendable, CaseIterable {
    case put = 0x01
    case get = 0x02
    case delete = 0x03
    case beginTransaction = 0x04
    case commitTransaction = 0x05
    case abortTransaction = 0x06
    case query = 0x07
    case createTable = 0x08
    case putPath = 0x09
    case getPath = 0x0A
    case scan = 0x0B
    case checkpoint = 0x0C
    case stats = 0x0D
    case ping = 0x0E
    case executeSQL = 0x0F
    // Extensions.
    case kvPut = 0x10
    case kvGet = 0x11
    case kvDelete = 0x12
    case pathPut = 0x13
    case pathGet = 0x14
    case pathDelete = 0x15
    case scanStream = 0x16
    case writeBatch = 0x17
    case describeTable = 0x18
    // Vector collections (docs/ipc-protocol.md, "Vector collections").
    case collectionCreate = 0x19
    case collectionDrop = 0x1A
    case collectionList = 0x1B
    case collectionInfo = 0x1C
    case collectionInsert = 0x1D
    case collectionDelete = 0x1E
    case collectionGet = 0x1F
    case collectionSearch = 0x20

    /// Extension opcodes carry a `txn_id` first (where they take one) and are ToonDB's own.
    public var isExtension: Bool { rawValue >= 0x10 }
}

/// Reply opcodes (server to client).
public enum ReplyOpcode: UInt8, Sendable, CaseIterable {
    case ok = 0x80
    case error = 0x81
    case value = 0x82
    case transactionID = 0x83
    case row = 0x84
    case endStream = 0x85
    case stats = 0x86
    case pong = 0x87
}

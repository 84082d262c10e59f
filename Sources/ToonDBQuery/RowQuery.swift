import ToonDBEngine
import ToonDBFormat
import ToonDBTOON

/// QUERY: the keys under a prefix grouped into rows (docs/ipc-protocol.md, "Query").
///
/// A key `a/b/c…` with at least three `/`-separated segments belongs to row `a/b`, column
/// `c…`. A row's keys share the prefix `a/b/`, so they are adjacent in key order: rows are
/// built in one pass over the scan, and paging stops the scan as soon as the last wanted row
/// is complete.
public struct RowQuery: Sendable, Equatable {
    public var prefix: [UInt8]
    /// Rows to return; 0 = all.
    public var limit: Int
    /// Rows to skip first.
    public var offset: Int
    /// Columns to return, in this order; empty = every column of the returned rows, sorted.
    public var columns: [String]
    /// Stop (with ``QueryResult/exceededBudget``) once the kept cells hold this many bytes.
    public var byteBudget: Int

    public init(prefix: [UInt8], limit: Int = 0, offset: Int = 0, columns: [String] = [], byteBudget: Int = .max) {
        self.prefix = prefix
        self.limit = limit
        self.offset = offset
        self.columns = columns
        self.byteBudget = byteBudget
    }

    /// Runs the query on the latest committed state.
    public func run(in database: Database) throws(StorageError) -> QueryResult {
        try run(database.scan(prefix: prefix))
    }

    /// Groups the pairs `iterator` yields (which must be in key order).
    public func run(_ iterator: ScanIterator) throws(StorageError) -> QueryResult {
        let selected = columns.isEmpty ? nil : Set(columns)
        var rows: [[String: String]] = []
        var currentRow: [UInt8] = []
        var current: [String: String]?
        var rowsSeen = 0
        var bytes = 0
        var exceeded = false

        func finishRow() {
            guard let row = current else { return }
            rowsSeen += 1
            if rowsSeen > offset { rows.append(row) }
            current = nil
        }

        try iterator.forEach { key, value in
            guard let split = Self.rowSplit(key) else { return true }
            let rowKey = UnsafeRawBufferPointer(rebasing: key[..<split])
            if current == nil || !rowKey.elementsEqual(currentRow) {
                finishRow()
                if limit > 0 && rows.count >= limit { return false }
                currentRow = Array(rowKey)
                current = [:]
            }
            let column = String(decoding: UnsafeRawBufferPointer(rebasing: key[(split + 1)...]), as: UTF8.self)
            if let selected, !selected.contains(column) { return true }
            if rowsSeen >= offset {  // a row being skipped keeps no cells
                let cell = String(decoding: value, as: UTF8.self)
                bytes += column.utf8.count + cell.utf8.count
                if bytes > byteBudget {
                    exceeded = true
                    return false
                }
                current![column] = cell
            }
            return true
        }
        if !exceeded && (limit == 0 || rows.count < limit) { finishRow() }

        let names: [String]
        if columns.isEmpty {
            names = Set(rows.flatMap(\.keys)).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        } else {
            names = columns
        }
        return QueryResult(columns: names, rows: rows.map { row in names.map { row[$0] } }, exceededBudget: exceeded)
    }

    /// The index of the `/` that ends a key's row part (the second `/`), when the key has a
    /// non-empty column after it.
    static func rowSplit(_ key: UnsafeRawBufferPointer) -> Int? {
        guard let first = key.firstIndex(of: UInt8(ascii: "/")),
              let second = key[(first + 1)...].firstIndex(of: UInt8(ascii: "/")),
              second + 1 < key.count
        else { return nil }
        return second
    }
}

/// A query's rows: every row has one cell per column, nil where the row has no such key.
public struct QueryResult: Sendable, Equatable {
    public var columns: [String]
    public var rows: [[String?]]
    /// The rows were cut short by ``RowQuery/byteBudget``.
    public var exceededBudget: Bool

    /// The result as a TOON value: `{"result": [{column: cell, ...}, ...]}`.
    public var toonValue: TOONValue {
        let objects = rows.map { row in
            TOONValue.object(TOONObject(zip(columns, row).map { (key: $0, value: $1.map(TOONValue.string) ?? .null) }))
        }
        return .object(TOONObject([(key: "result", value: .array(objects))]))
    }

    /// The result as TOON text: a tabular array under `result`. An empty result is written
    /// `result[0]:`, the empty-array form every TOON version decodes (the v4 fixtures' encoder
    /// form, `result: []`, is not understood by older decoders).
    public var toon: String { rows.isEmpty ? "result[0]:" : TOONEncoder().encode(toonValue) }
}

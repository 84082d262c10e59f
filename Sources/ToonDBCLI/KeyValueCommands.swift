import ArgumentParser
import ToonDBEngine

/// A value given on the command line or read from `--value-file`.
struct ValueSource: ParsableArguments {
    @Argument(help: "The value (UTF-8 text); omit it when using --value-file.")
    var value: String?

    @Option(name: .customLong("value-file"), help: ArgumentHelp("Read the value's bytes from this file (- for stdin).", valueName: "file"))
    var valueFile: String?

    func validate() throws {
        if value != nil && valueFile != nil { throw ValidationError("give either a value or --value-file, not both") }
        if value == nil && valueFile == nil { throw ValidationError("missing the value (or --value-file)") }
    }

    func bytes() throws -> [UInt8] {
        if let valueFile { return try Output.readFile(valueFile) }
        return Array((value ?? "").utf8)
    }
}

struct PutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "put", abstract: "Store a value under a key.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The key (UTF-8 text).") var key: String
    @OptionGroup var value: ValueSource
    @Flag(name: .shortAndLong, help: "Print the commit LSN on stderr.") var verbose = false

    func run() throws {
        let context = try global.makeContext()
        let bytes = try value.bytes()
        let lsn = try context.withDatabase { db in try db.put(Array(key.utf8), bytes) }
        if verbose { Output.stderr("committed at LSN \(lsn)\n") }
    }
}

struct GetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Print a key's value (its raw bytes, no newline); exit 1 when it is missing.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The key (UTF-8 text).") var key: String

    func run() throws {
        let context = try global.makeContext()
        let value = try context.withDatabase(create: false) { db in try db.get(Array(key.utf8)) }
        guard let value else {
            Output.stderr("not found: \(key)\n")
            throw ExitCode(1)
        }
        Output.stdout(bytes: value)
    }
}

struct DeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a key (deleting a missing key is not an error).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The key (UTF-8 text).") var key: String
    @Flag(name: .shortAndLong, help: "Print the commit LSN on stderr.") var verbose = false

    func run() throws {
        let context = try global.makeContext()
        let lsn = try context.withDatabase { db in try db.delete(Array(key.utf8)) }
        if verbose { Output.stderr("committed at LSN \(lsn)\n") }
    }
}

/// Options shared by the scans.
struct ScanOutputOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Stop after this many pairs.", valueName: "n")) var limit: Int?
    @Flag(name: .customLong("keys-only"), help: "Print keys only.") var keysOnly = false

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must not be negative") }
    }

    /// Prints `key<TAB>value` lines (escaped) from `iterator`; returns the number printed.
    @discardableResult
    func print(_ iterator: ScanIterator) throws -> Int {
        let out = Output.Buffered()
        var count = 0
        let limit = self.limit ?? .max
        while count < limit, let (key, value) = try iterator.next() {
            out.append(Output.escape(key))
            if !keysOnly {
                out.append(CollectionOfOne(UInt8(ascii: "\t")))
                out.append(Output.escape(value))
            }
            out.append(CollectionOfOne(UInt8(ascii: "\n")))
            count += 1
        }
        out.flush()
        return count
    }
}

struct ScanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Print key<TAB>value lines in key order.",
        discussion: """
            Bytes that are not printable text are written as \\xNN; a backslash as \\\\ and a tab as \\t.
            --start is inclusive, --end exclusive; with --prefix the range is also limited to the prefix.
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("Only keys starting with this.", valueName: "prefix")) var prefix: String?
    @Option(help: ArgumentHelp("The first key (inclusive).", valueName: "key")) var start: String?
    @Option(help: ArgumentHelp("The end key (exclusive).", valueName: "key")) var end: String?
    @OptionGroup var output: ScanOutputOptions

    func run() throws {
        let context = try global.makeContext()
        var lower = Array((start ?? "").utf8)
        var upper: [UInt8]? = end.map { Array($0.utf8) }
        if let prefix {
            let p = Array(prefix.utf8)
            if lower.lexicographicallyPrecedes(p) { lower = p }
            if let successor = prefixSuccessor(p) {
                if upper == nil || successor.lexicographicallyPrecedes(upper!) { upper = successor }
            }
        }
        try context.withDatabase(create: false) { db in
            if let upper, !lower.lexicographicallyPrecedes(upper) { return }  // empty range
            try output.print(db.scan(from: lower, to: upper ?? []))
        }
    }
}

import ArgumentParser
import ToonDBEngine

struct PutPathCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put-path", abstract: "Store a value at a hierarchical path (segments joined by /, e.g. users/42/name).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The path.") var path: String
    @OptionGroup var value: ValueSource
    @Flag(name: .shortAndLong, help: "Print the commit LSN on stderr.") var verbose = false

    func run() throws {
        let context = try global.makeContext()
        let bytes = try value.bytes()
        let lsn = try context.withDatabase { db in try db.putPath(path, bytes) }
        if verbose { Output.stderr("committed at LSN \(lsn)\n") }
    }
}

struct GetPathCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get-path", abstract: "Print the value at a path (raw bytes, no newline); exit 1 when it is missing.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The path.") var path: String

    func run() throws {
        let context = try global.makeContext()
        let value = try context.withDatabase(create: false) { db in try db.getPath(path) }
        guard let value else {
            Output.stderr("not found: \(path)\n")
            throw ExitCode(1)
        }
        Output.stdout(bytes: value)
    }
}

struct DeletePathCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete-path", abstract: "Delete the value at a path.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The path.") var path: String
    @Flag(name: .shortAndLong, help: "Print the commit LSN on stderr.") var verbose = false

    func run() throws {
        let context = try global.makeContext()
        let lsn = try context.withDatabase { db in try db.deletePath(path) }
        if verbose { Output.stderr("committed at LSN \(lsn)\n") }
    }
}

struct ScanPathCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan-path",
        abstract: "Print path<TAB>value lines for everything below a path (users/1 covers users/1/..., not users/10/...).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The path.") var path: String
    @OptionGroup var output: ScanOutputOptions

    func run() throws {
        let context = try global.makeContext()
        _ = try context.withDatabase(create: false) { db in try output.print(db.scanPath(path)) }
    }
}

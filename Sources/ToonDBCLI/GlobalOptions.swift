import ArgumentParser
import Logging
import ToonDBConfig
import ToonDBEngine
import ToonDBIO

extension SyncMode: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}
extension IOBackendSelector.Preference: ExpressibleByArgument {
    public static var allValueStrings: [String] { ["auto", "io_uring", "posix"] }
}

/// The options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The database directory (default: the configuration's storage.data_dir, else ./data).", valueName: "path"))
    var db: String?

    @Option(name: .long, help: ArgumentHelp("A node configuration file (TOML, see config/node.toml). Default: the built-in defaults.", valueName: "file"))
    var config: String?

    @Option(name: .customLong("log-level"), help: ArgumentHelp("Log level on stderr (default: the configuration's log.level, else info).", valueName: "level"))
    var logLevel: Logger.Level?

    @Option(name: .customLong("sync-mode"), help: ArgumentHelp("When a commit is durable: off, normal or full (overrides storage.sync_mode).", valueName: "mode"))
    var syncMode: SyncMode?

    @Option(name: .customLong("io-backend"), help: ArgumentHelp("I/O backend: auto, io_uring or posix (overrides storage.io_backend; TOONDB_IO overrides both).", valueName: "backend"))
    var ioBackend: IOBackendSelector.Preference?

    /// Loads the configuration, applies the flags, sets up logging.
    func makeContext() throws -> CommandContext {
        var configuration = NodeConfiguration()
        if let config { configuration = try NodeConfiguration.load(path: config) }
        if let logLevel { configuration.logLevel = logLevel }
        if let syncMode { configuration.syncMode = syncMode }
        if let ioBackend { configuration.ioBackend = ioBackend }
        if let db {
            guard !db.isEmpty else { throw CLIError("--db must not be empty") }
            configuration.dataDirectory = db
        }
        LogSetup.bootstrap(level: configuration.logLevel)
        return CommandContext(configuration: configuration)
    }
}

/// What a command runs with: the effective configuration and the database path.
struct CommandContext {
    let configuration: NodeConfiguration

    var path: String { configuration.effectiveDataDirectory }
    var options: DatabaseOptions { configuration.databaseOptions() }

    /// Opens the database, runs `body`, and closes it (a close error after success is thrown).
    /// Read-only commands pass `create: false`, so a mistyped --db is an error, not a new database.
    func withDatabase<T>(create: Bool = true, _ body: (Database) throws -> T) throws -> T {
        var options = self.options
        options.createIfMissing = create
        let db = try Database.open(path: path, options: options)
        let result: T
        do {
            result = try body(db)
        } catch {
            try? db.close()
            throw error
        }
        try db.close()
        return result
    }
}

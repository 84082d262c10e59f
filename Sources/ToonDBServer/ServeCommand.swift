import ArgumentParser
import Dispatch
import Logging
import ToonDBConfig
import ToonDBEngine

#if canImport(Glibc)
import Glibc
#endif

/// `toondb serve` and `toondb-server`: run the IPC server until SIGINT or SIGTERM.
public struct ServeCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a database over ToonDB's binary protocol on a Unix domain socket.",
        discussion: """
            Opens the database (--db, else the configuration's storage.data_dir, else
            ./data), listens on --socket (default <db>/toondb.sock, mode 0600) and serves
            until SIGINT or SIGTERM, then stops accepting, answers the requests already
            received, aborts open transactions, closes the database (syncing it) and removes
            the socket. Flags override --config. See docs/ipc-protocol.md.
            """)

    @Option(name: .long, help: ArgumentHelp("The database directory (default: the configuration's storage.data_dir, else ./data).", valueName: "path"))
    var db: String?

    @Option(name: .long, help: ArgumentHelp("The Unix socket to listen on (default: <db>/toondb.sock).", valueName: "path"))
    var socket: String?

    @Option(name: .customLong("max-clients"), help: ArgumentHelp("Connections served at once (default 100).", valueName: "n"))
    var maxClients: Int?

    @Option(name: .customLong("timeout-ms"), help: ArgumentHelp("Close connections idle this long, in milliseconds (default 300000; 0 = never).", valueName: "ms"))
    var timeoutMilliseconds: Int64?

    @Option(name: .customLong("log-level"), help: ArgumentHelp("Log level on stderr: trace, debug, info, notice, warning, error, critical.", valueName: "level"))
    var logLevel: String?

    @Option(name: .long, help: ArgumentHelp("A node configuration file (TOML, see config/node.toml).", valueName: "file"))
    var config: String?

    @Option(name: .customLong("sync-mode"), help: ArgumentHelp("When a commit is durable: off, normal or full (overrides storage.sync_mode).", valueName: "mode"))
    var syncMode: String?

    public init() {}

    public func validate() throws {
        if let maxClients, !(1...100_000).contains(maxClients) { throw ValidationError("--max-clients must be between 1 and 100000") }
        if let timeoutMilliseconds, timeoutMilliseconds < 0 { throw ValidationError("--timeout-ms must not be negative") }
        if let logLevel, Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let syncMode, SyncMode(rawValue: syncMode) == nil { throw ValidationError("--sync-mode must be off, normal or full") }
        if db?.isEmpty == true { throw ValidationError("--db must not be empty") }
        if socket?.isEmpty == true { throw ValidationError("--socket must not be empty") }
    }

    /// The configuration file with the flags applied.
    func nodeConfiguration() throws -> NodeConfiguration {
        var configuration = NodeConfiguration()
        if let config { configuration = try NodeConfiguration.load(path: config) }
        if let logLevel { configuration.logLevel = Logger.Level(rawValue: logLevel)! }
        if let syncMode { configuration.syncMode = SyncMode(rawValue: syncMode)! }
        if let db { configuration.dataDirectory = NodeConfiguration.absolutePath(db) }
        if let socket { configuration.server.socket = NodeConfiguration.absolutePath(socket) }
        if let maxClients { configuration.server.maxClients = maxClients }
        if let timeoutMilliseconds { configuration.server.timeoutMilliseconds = timeoutMilliseconds }
        return configuration
    }

    public func run() throws {
        let node = try nodeConfiguration()
        LogSetup.bootstrap(level: node.logLevel)
        let logger = Logger(label: "toondb.server")
        let path = NodeConfiguration.absolutePath(node.effectiveDataDirectory)
        let database = try Database.open(path: path, options: node.databaseOptions())
        let server: ToonDBServer
        do {
            server = try ToonDBServer.start(database: database, configuration: ServerConfiguration(node, databasePath: path), logger: logger)
        } catch {
            try? database.close()
            throw error
        }
        // Ready line on stdout: scripts wait for it.
        let ready = "toondb: serving \(path) on \(server.configuration.socketPath) (sync mode \(node.syncMode.rawValue)); SIGINT or SIGTERM stops\n"
        _ = ready.utf8CString.withUnsafeBufferPointer { write(STDOUT_FILENO, $0.baseAddress, $0.count - 1) }

        let stop = SignalWaiter(signals: [SIGINT, SIGTERM])
        let received = stop.wait()
        logger.info("signal received", metadata: ["signal": "\(received == SIGINT ? "SIGINT" : "SIGTERM")"])
        server.shutdown()
        try database.close()
        logger.info("database closed", metadata: ["path": "\(path)"])
    }
}

extension ServerConfiguration {
    /// The server part of a node configuration.
    public init(_ node: NodeConfiguration, databasePath: String) {
        self.init(socketPath: node.server.socket ?? Self.defaultSocketPath(database: databasePath))
        maxClients = node.server.maxClients
        idleTimeoutMilliseconds = node.server.timeoutMilliseconds
        maxFramePayload = node.server.maxFrameSize
        socketMode = node.server.socketMode
        socketGroup = node.server.socketGroup
        eventLoopThreads = node.server.eventLoopThreads
        blockingThreads = node.server.blockingThreads
    }
}

/// Blocks until one of `signals` arrives (they are ignored by default handling meanwhile, so
/// they cannot kill the process mid-shutdown). `@unchecked`: `sources` is set once in `init`
/// and only kept alive afterwards.
final class SignalWaiter: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private let received = Atomic<Int32>(0)
    private let sources: [any DispatchSourceSignal]

    init(signals: [Int32]) {
        var sources: [any DispatchSourceSignal] = []
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            sources.append(source)
        }
        self.sources = sources
        for (source, number) in zip(sources, signals) {
            source.setEventHandler { [self] in
                if received.compareExchange(expected: 0, desired: number, ordering: .acquiringAndReleasing).exchanged {
                    semaphore.signal()
                }
            }
            source.resume()
        }
    }

    func wait() -> Int32 {
        semaphore.wait()
        return received.load(ordering: .acquiring)
    }
}

import Synchronization

import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ToonDBCollections
import ToonDBEngine
import ToonDBProtocol

#if canImport(Glibc)
import Glibc
#endif

/// The IPC server: ToonDB's binary protocol on a Unix domain socket (docs/ipc-protocol.md),
/// over one open ``Database``.
///
/// ```swift
/// let server = try ToonDBServer.start(database: db, configuration: ServerConfiguration(socketPath: "/tmp/t.sock"))
/// ...
/// server.shutdown()   // stop accepting, answer what was received, close connections, remove the socket
/// ```
/// The server does not close the database: its owner does, after ``shutdown()``. The server keeps
/// the database's vector collections (one ``CollectionCatalog``, created at start) for the
/// COLLECTION_* requests.
public final class ToonDBServer: Sendable {
    public let configuration: ServerConfiguration
    private let group: MultiThreadedEventLoopGroup
    private let pool: NIOThreadPool
    private let listener: Channel
    private let connections: ConnectionRegistry
    private let catalog: CollectionCatalog
    private let stopped = NIOLockedValueBox(false)
    private let logger: Logger

    private init(configuration: ServerConfiguration, group: MultiThreadedEventLoopGroup, pool: NIOThreadPool,
                 listener: Channel, connections: ConnectionRegistry, catalog: CollectionCatalog, logger: Logger) {
        self.catalog = catalog
        self.configuration = configuration
        self.group = group
        self.pool = pool
        self.listener = listener
        self.connections = connections
        self.logger = logger
    }

    /// Binds the socket and starts serving.
    public static func start(database: Database, configuration: ServerConfiguration,
                             logger: Logger = Logger(label: "toondb.server")) throws(ServerError) -> ToonDBServer {
        try database.checkOpenForServer()
        try SocketFile.prepare(configuration.socketPath)
        let catalog: CollectionCatalog
        do {
            catalog = try CollectionCatalog(database: database)
        } catch {
            throw ServerError(.storage, "cannot open the vector collections: \(error.message)")
        }

        let threads = configuration.eventLoopThreads > 0 ? configuration.eventLoopThreads : ServerConfiguration.defaultEventLoopThreads
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let pool = NIOThreadPool(numberOfThreads: max(1, configuration.blockingThreads))
        pool.start()
        let stats = ServerStats()
        let executor = RequestExecutor(database: database, collections: catalog, stats: stats, maxReplyPayload: configuration.maxFramePayload)
        let connections = ConnectionRegistry(maxClients: configuration.maxClients, stats: stats)
        let batchers = WriteBatchers(database: database, pool: pool, commitsBlock: executor.commitsBlock)
        let idle = configuration.idleTimeoutMilliseconds > 0 ? TimeAmount.milliseconds(configuration.idleTimeoutMilliseconds) : nil

        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    guard connections.admit(channel) else {
                        try pipeline.addHandler(RejectHandler(maxClients: configuration.maxClients))
                        return
                    }
                    if let idle { try pipeline.addHandler(IdleStateHandler(allTimeout: idle)) }
                    try pipeline.addHandler(RequestHandler(executor: executor, batcher: batchers.batcher(for: channel.eventLoop),
                                                           pool: pool, stats: stats,
                                                           maxPending: configuration.maxPendingRequests,
                                                           maxTransactions: configuration.maxTransactionsPerConnection,
                                                           maxFramePayload: configuration.maxFramePayload))
                }
            }

        let listener: Channel
        do {
            listener = try SocketFile.withPrivateUmask {
                try bootstrap.bind(unixDomainSocketPath: configuration.socketPath).wait()
            }
            try SocketFile.secure(configuration.socketPath, mode: configuration.socketMode, group: configuration.socketGroup)
        } catch {
            try? pool.syncShutdownGracefully()
            try? group.syncShutdownGracefully()
            if let error = error as? ServerError { throw error }
            throw ServerError(.network, "cannot listen on \(configuration.socketPath): \(error)")
        }
        logger.info("listening", metadata: ["socket": "\(configuration.socketPath)", "event_loops": "\(threads)"])
        return ToonDBServer(configuration: configuration, group: group, pool: pool, listener: listener,
                            connections: connections, catalog: catalog, logger: logger)
    }

    /// Stops the server: no new connections; every connection answers the requests it has
    /// received, aborts its open transactions and closes (forcibly after the grace period);
    /// the socket file is removed. Idempotent; blocks until done.
    public func shutdown() {
        let first = stopped.withLockedValue { stopped in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        logger.info("shutting down", metadata: ["connections": "\(connections.count)"])
        try? listener.close().wait()
        let open = connections.all
        for channel in open {
            channel.pipeline.fireUserInboundEventTriggered(ServerShutdownEvent())
        }
        let deadline = NIODeadline.now() + .milliseconds(configuration.shutdownGraceMilliseconds)
        for channel in open {
            let closed = channel.closeFuture
            let timer = channel.eventLoop.scheduleTask(deadline: deadline) { channel.close(promise: nil) }
            try? closed.wait()
            timer.cancel()
        }
        try? pool.syncShutdownGracefully()
        try? group.syncShutdownGracefully()
        // No request is running any more: save the collections' indexes for the next start.
        do { try catalog.saveIndexes() } catch {
            logger.warning("saving collection indexes failed; the next start rebuilds them", metadata: ["error": "\(error.message)"])
        }
        unlink(configuration.socketPath)
        logger.info("stopped")
    }
}

/// The open connections: admission against the client limit, and the list a shutdown walks.
final class ConnectionRegistry: Sendable {
    private let channels = NIOLockedValueBox<[ObjectIdentifier: Channel]>([:])
    private let maxClients: Int
    private let stats: ServerStats

    init(maxClients: Int, stats: ServerStats) {
        self.maxClients = maxClients
        self.stats = stats
    }

    /// Registers `channel` unless the server is full; either way it is counted.
    func admit(_ channel: Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let admitted = channels.withLockedValue { channels in
            guard channels.count < maxClients else { return false }
            channels[id] = channel
            return true
        }
        guard admitted else {
            stats.add(\.connectionsRejected)
            return false
        }
        stats.add(\.connectionsTotal)
        stats.add(\.connectionsActive)
        channel.closeFuture.whenComplete { [self] _ in
            channels.withLockedValue { $0[id] = nil }
            stats.add(\.connectionsActive, -1)
        }
        return true
    }

    var count: Int { channels.withLockedValue { $0.count } }
    var all: [Channel] { channels.withLockedValue { Array($0.values) } }
}

extension Database {
    func checkOpenForServer() throws(ServerError) {
        do {
            try checkOpen()
        } catch {
            throw ServerError(.storage, error.message)
        }
    }
}

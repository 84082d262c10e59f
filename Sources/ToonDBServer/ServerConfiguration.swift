import NIOCore
import ToonDBProtocol

/// How a server runs (the `[server]` section of a node configuration, and the flags of
/// `toondb serve`).
public struct ServerConfiguration: Sendable, Equatable {
    /// The Unix domain socket to listen on.
    public var socketPath: String
    /// Connections served at once; the next one gets a `busy` ERROR frame and is closed.
    public var maxClients = 100
    /// A connection with no traffic for this long is closed (its transactions are aborted).
    /// Zero or less: never.
    public var idleTimeoutMilliseconds: Int64 = 300_000
    /// The largest request payload accepted, in bytes.
    public var maxFramePayload = Frame.defaultMaxPayload
    /// Permission bits of the socket file (owner read/write by default).
    public var socketMode: UInt16 = 0o600
    /// A group to give the socket file to (with `socketMode` 0o660, lets that group connect).
    public var socketGroup: String?
    /// Event-loop threads (0 = ``defaultEventLoopThreads``).
    public var eventLoopThreads = 0
    /// One event loop per core but one, at least one: the spare core runs the engine's flushes
    /// and compactions and the blocking pool. On the 2-core benchmark machine one loop served
    /// unpipelined requests 1.2 to 1.7 times faster than two (BENCHMARKS.md).
    public static var defaultEventLoopThreads: Int { max(1, System.coreCount - 1) }
    /// Threads that run requests which wait on the disk (commits in sync mode `full`,
    /// checkpoints), so event loops keep serving other connections meanwhile; also the number of
    /// such requests that can share one group commit.
    public var blockingThreads = 64
    /// Requests a connection may have received but not yet answered before the server stops
    /// reading from it (back-pressure on pipelining clients).
    public var maxPendingRequests = 1024
    /// Open transactions per connection.
    public var maxTransactionsPerConnection = 1024
    /// How long a shutdown waits for in-flight requests before closing connections anyway.
    public var shutdownGraceMilliseconds: Int64 = 10_000

    public init(socketPath: String) {
        self.socketPath = socketPath
    }

    /// The default socket of a database directory: `<db>/toondb.sock`.
    public static func defaultSocketPath(database: String) -> String {
        database.hasSuffix("/") ? database + "toondb.sock" : database + "/toondb.sock"
    }
}

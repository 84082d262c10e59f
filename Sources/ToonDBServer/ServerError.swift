import ToonDBFormat
import ToonDBProtocol

/// Why a server could not start or stop cleanly.
public struct ServerError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A live server already listens on the socket path.
        case socketInUse = "socket_in_use"
        /// The socket path cannot be used (too long, a non-socket file in the way, no permission).
        case socketPath = "socket_path"
        /// The database could not be opened or closed.
        case storage
        /// Binding, configuring or closing the listener failed.
        case network
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

extension WireError {
    /// The wire form of an engine error: its code mapped to the protocol's, its text kept.
    init(_ error: StorageError) {
        switch error.code {
        case .invalidArgument: self.init(.invalidArgument, error.message)
        case .keyTooLarge: self.init(.keyTooLarge, error.message)
        case .valueTooLarge: self.init(.valueTooLarge, error.message)
        case .conflict: self.init(.conflict, error.message)
        case .transactionClosed: self.init(.transaction, error.message)
        case .databaseClosed: self.init(.shuttingDown, error.message)
        case .locked, .corruption, .io, .diskFull, .writesStopped, .internal: self.init(.storage, error.message)
        }
    }
}

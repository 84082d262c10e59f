import Logging

/// The process's logging: records go to stderr (stdout carries only command output).
public enum LogSetup {
    /// Bootstraps swift-log once per process; later calls are ignored (swift-log allows only one).
    public static func bootstrap(level: Logger.Level) {
        guard once.claim() else { return }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    private static let once = Once()
}

import Synchronization

private final class Once: Sendable {
    private let done = Atomic<Bool>(false)

    func claim() -> Bool {
        done.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }
}

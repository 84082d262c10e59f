import Atomics
import ToonDBEngine

#if canImport(Glibc)
import Glibc
#endif

/// Request counts not yet added to ``ServerStats``.
struct RequestTally {
    var total = 0
    var success = 0
    var error = 0
    var bytesReceived = 0
    var bytesSent = 0
}

/// The server's counters (STATS reply). Updated from every event loop; relaxed atomics
/// suffice because each counter is read on its own.
final class ServerStats: Sendable {
    let connectionsTotal = ManagedAtomic<Int>(0)
    let connectionsActive = ManagedAtomic<Int>(0)
    let connectionsRejected = ManagedAtomic<Int>(0)
    let requestsTotal = ManagedAtomic<Int>(0)
    let requestsSuccess = ManagedAtomic<Int>(0)
    let requestsError = ManagedAtomic<Int>(0)
    let bytesReceived = ManagedAtomic<Int>(0)
    let bytesSent = ManagedAtomic<Int>(0)
    let transactionsOpen = ManagedAtomic<Int>(0)
    private let startedAt = ServerStats.monotonicSeconds()

    static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    func add(_ counter: KeyPath<ServerStats, ManagedAtomic<Int>>, _ amount: Int = 1) {
        self[keyPath: counter].wrappingIncrement(by: amount, ordering: .relaxed)
    }

    /// Adds a connection's tally and zeroes it. Connections count locally and add in bulk (at
    /// the end of each read burst): contended atomic adds per request cost more than the
    /// request's own bookkeeping.
    func absorb(_ tally: inout RequestTally) {
        if tally.total != 0 { add(\.requestsTotal, tally.total) }
        if tally.success != 0 { add(\.requestsSuccess, tally.success) }
        if tally.error != 0 { add(\.requestsError, tally.error) }
        if tally.bytesReceived != 0 { add(\.bytesReceived, tally.bytesReceived) }
        if tally.bytesSent != 0 { add(\.bytesSent, tally.bytesSent) }
        tally = RequestTally()
    }

    /// The STATS JSON: ToonDB's keys first (with real values), then every engine statistic,
    /// then the server's own.
    func json(engine: DatabaseStats) -> String {
        func load(_ counter: KeyPath<ServerStats, ManagedAtomic<Int>>) -> String {
            String(self[keyPath: counter].load(ordering: .relaxed))
        }
        var fields: [(String, String)] = [
            ("connections_total", load(\.connectionsTotal)),
            ("connections_active", load(\.connectionsActive)),
            ("requests_total", load(\.requestsTotal)),
            ("requests_success", load(\.requestsSuccess)),
            ("requests_error", load(\.requestsError)),
            ("bytes_received", load(\.bytesReceived)),
            ("bytes_sent", load(\.bytesSent)),
            ("uptime_secs", String(Int(Self.monotonicSeconds() - startedAt))),
            ("memtable_size_bytes", String(engine.memtableBytes)),
            ("wal_size_bytes", String(engine.walBytes)),
            ("active_transactions", String(engine.activeTransactions)),
        ]
        let taken = Set(fields.map(\.0))
        fields += engine.fields.filter { !taken.contains($0.0) }.map { ($0.0, $0.1.json) }
        fields += [
            ("connections_rejected", load(\.connectionsRejected)),
            ("transactions_open", load(\.transactionsOpen)),
            ("role", JSON.string("standalone")),
        ]
        return JSON.object(fields)
    }
}

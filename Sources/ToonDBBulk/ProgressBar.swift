import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A one-line progress bar on stderr, redrawn in place (`\r`) at most ten times a second:
/// `building [##########----------]  50%  10,240/20,480 vectors  9,812/s`.
///
/// Thread-safe: ``update(_:)`` may be called from any thread, in any order (it keeps the
/// largest count it has seen), as ``HNSWIndex/build(ids:vectors:count:threads:progress:)``
/// calls its callback from the linking threads.
final class ProgressBar: Sendable {
    private struct State {
        var done = 0
        var lastDraw: UInt64 = 0
        var finished = false
    }

    private let label: String
    private let total: Int
    private let start = DispatchTime.now().uptimeNanoseconds
    private let state = Mutex(State())
    static let width = 30

    /// A bar, or nil when stderr is not a terminal or `quiet` is set (scripts and pipes get no
    /// control characters).
    static func onTerminal(label: String, total: Int, quiet: Bool) -> ProgressBar? {
        guard !quiet, total > 0, isatty(STDERR_FILENO) == 1 else { return nil }
        return ProgressBar(label: label, total: total)
    }

    init(label: String, total: Int) {
        self.label = label
        self.total = total
    }

    func update(_ done: Int) {
        let now = DispatchTime.now().uptimeNanoseconds
        let line: String? = state.withLock { state in
            guard !state.finished else { return nil }
            state.done = max(state.done, min(done, total))
            guard now - state.lastDraw >= 100_000_000 else { return nil }
            state.lastDraw = now
            return render(state.done, now: now)
        }
        if let line { FileHandleStderr.write("\r" + line) }
    }

    /// Draws the full bar and ends its line.
    func finish() {
        let line: String? = state.withLock { state in
            guard !state.finished else { return nil }
            state.finished = true
            return render(total, now: DispatchTime.now().uptimeNanoseconds)
        }
        if let line { FileHandleStderr.write("\r" + line + "\n") }
    }

    private func render(_ done: Int, now: UInt64) -> String {
        let filled = total > 0 ? Self.width * done / total : Self.width
        let percent = total > 0 ? 100 * done / total : 100
        let seconds = Double(now - start) / 1e9
        let rate = seconds > 0 ? Int(Double(done) / seconds) : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: Self.width - filled)
        let percentText = String(repeating: " ", count: max(0, 3 - String(percent).count)) + String(percent)
        return "\(label) [\(bar)] \(percentText)%  \(grouped(done))/\(grouped(total)) vectors  \(grouped(rate))/s"
    }

    private func grouped(_ n: Int) -> String {
        let digits = Array(String(n))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Testing
import ToonDBEngine
import ToonDBTestSupport

/// Kills a writer process with SIGKILL at random moments and checks, after every kill, that the
/// database reopens with every acknowledged commit present, no commit half-applied, and every
/// earlier run's data intact. `TOONDB_CRASH_KILLS` raises the number of kills (long mode).
@Suite("Crash recovery", .serialized)
struct CrashTests {
    struct Ack: Hashable { var run: Int; var thread: Int; var sequence: Int }

    static var kills: Int {
        if let text = getenv("TOONDB_CRASH_KILLS"), let n = Int(String(cString: text)), n > 0 { return n }
        return 20
    }

    @Test("every acknowledged commit survives SIGKILL; no commit is half-visible")
    func killAndRecover() throws {
        let dir = TemporaryDirectory("toondb-crash")
        let binary = buildProductsDirectory() + "/toondb-crash-writer"
        #expect(access(binary, X_OK) == 0, "crash writer not built at \(binary)")
        var random = SeededRandom(seed: 0xC0FFEE)
        let threads = 4
        // The highest acknowledged sequence per (run, thread).
        var acknowledged: [Int: [Int: Int]] = [:]
        var largestAckedLSN: UInt64 = 0
        let modes: [SyncMode] = [.full, .normal, .off]
        var lines = 0

        for run in 0..<Self.kills {
            let mode = modes[run % modes.count]
            let child = try ChildProcess(binary, [dir.path, String(run), String(threads), mode.rawValue])
            // Wait for "ready" (the database is open), then let it write for a random while.
            var output = child.readLines(for: 10) { $0 == "ready" }
            let readyIndex = output.firstIndex(of: "ready")
            #expect(readyIndex != nil, "writer did not start (run \(run)): \(output.prefix(3))")
            output += child.readLines(for: Double(Int.random(in: 20...250, using: &random)) / 1000)
            child.kill()
            let status = child.wait()
            #expect(status == -SIGKILL, "writer exited by itself with \(status) in run \(run)")
            output += child.readRemainingLines()
            for line in output where line.hasPrefix("ack ") {
                let parts = line.split(separator: " ")
                guard parts.count == 4, let t = Int(parts[1]), let s = Int(parts[2]), let lsn = UInt64(parts[3]) else {
                    // The last line may be cut off by the kill; anything else is a bug.
                    continue
                }
                acknowledged[run, default: [:]][t] = max(acknowledged[run]?[t] ?? 0, s)
                largestAckedLSN = max(largestAckedLSN, lsn)
                lines += 1
            }
            try verify(dir.path, acknowledged: acknowledged, throughRun: run, threads: threads, minimumLSN: largestAckedLSN)
        }
        #expect(lines > Self.kills, "too few commits were acknowledged to test anything (\(lines))")
    }

    private func verify(_ path: String, acknowledged: [Int: [Int: Int]], throughRun last: Int, threads: Int, minimumLSN: UInt64) throws {
        var options = DatabaseOptions()
        options.logger.logLevel = .error
        let db = try Database.open(path: path, options: options)
        defer { try? db.close() }
        #expect(db.stats().lastLSN >= minimumLSN, "LSN went backwards: \(db.stats().lastLSN) < acknowledged \(minimumLSN)")
        for run in 0...last {
            for thread in 0..<threads {
                let acked = acknowledged[run]?[thread] ?? 0
                func key(_ s: Int, _ suffix: String) -> [UInt8] { bytes("r\(run)/t\(thread)/\(s)/\(suffix)") }
                func value(_ s: Int) -> [UInt8] {
                    bytes("v\(run)-\(thread)-\(s)-" + String(repeating: "x", count: (s * 7 + thread * 13) % 200))
                }
                if acked > 0 {
                    for s in 1...acked {
                        let a = try db.get(key(s, "a"))
                        let b = try db.get(key(s, "b"))
                        #expect(a == value(s) && b == value(s), "acknowledged commit r\(run)/t\(thread)/\(s) is missing after the kill")
                        if s < acked {
                            #expect(try db.get(key(s, "tmp")) == nil, "r\(run)/t\(thread)/\(s)/tmp should have been deleted by commit \(s + 1)")
                        }
                    }
                }
                // The commit in flight at the kill: all of it or none of it.
                let next = acked + 1
                let a = try db.get(key(next, "a")) != nil
                let b = try db.get(key(next, "b")) != nil
                let tmp = try db.get(key(next, "tmp")) != nil
                // Commit `next` also deleted the previous commit's tmp key (when there was one).
                let previousTmpGone = acked == 0 ? tmp : (try db.get(key(acked, "tmp")) == nil)
                #expect(a == b && b == tmp && tmp == previousTmpGone,
                        "commit r\(run)/t\(thread)/\(next) is half-applied: a=\(a) b=\(b) tmp=\(tmp) previous tmp deleted=\(previousTmpGone)")
                #expect(try db.get(key(next + 1, "a")) == nil, "r\(run)/t\(thread)/\(next + 1) exists but \(next) was never acknowledged")
            }
        }
    }
}

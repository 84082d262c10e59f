// toondb-crash-writer: the child process of the crash tests.
//
//   toondb-crash-writer <directory> <run> <threads> <sync-mode>
//
// Each thread commits numbered transactions until killed. Transaction `s` of thread `t`
// writes `r<run>/t<t>/<s>/a` and `.../b` (the same value), writes `r<run>/t<t>/<s>/tmp`, and
// deletes `r<run>/t<t>/<s-1>/tmp`. Every third commit is a plain batch write instead of a
// transaction. After each commit returns, the thread writes `ack <t> <s> <lsn>` to stdout in
// one write(2), so the parent knows exactly which commits were acknowledged when it kills us.
#if canImport(Glibc)
import Glibc
#endif
import ToonDBEngine

/// Writes a whole line to a file descriptor with one system call (no stdio buffering).
func writeLine(_ fd: Int32, _ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
}

final class CrashWriter: Sendable {
    let database: Database
    let run: String

    init(database: Database, run: String) {
        self.database = database
        self.run = run
    }

    func key(_ thread: Int, _ sequence: Int, _ suffix: String) -> [UInt8] { Array("r\(run)/t\(thread)/\(sequence)/\(suffix)".utf8) }

    func value(_ thread: Int, _ sequence: Int) -> [UInt8] {
        // Varied lengths so blocks and records have varied shapes.
        Array(("v\(run)-\(thread)-\(sequence)-" + String(repeating: "x", count: (sequence * 7 + thread * 13) % 200)).utf8)
    }

    func loop(thread: Int) {
        var sequence = 0
        while true {
            sequence += 1
            do {
                let lsn: UInt64
                if sequence % 3 == 0 {
                    var batch = WriteBatch()
                    batch.put(key(thread, sequence, "a"), value(thread, sequence))
                    batch.put(key(thread, sequence, "b"), value(thread, sequence))
                    batch.put(key(thread, sequence, "tmp"), [1])
                    batch.delete(key(thread, sequence - 1, "tmp"))
                    lsn = try database.write(batch)
                } else {
                    let txn = try database.beginTransaction()
                    try txn.put(key(thread, sequence, "a"), value(thread, sequence))
                    try txn.put(key(thread, sequence, "b"), value(thread, sequence))
                    try txn.put(key(thread, sequence, "tmp"), [1])
                    try txn.delete(key(thread, sequence - 1, "tmp"))
                    lsn = try txn.commit()
                }
                writeLine(1, "ack \(thread) \(sequence) \(lsn)")
            } catch {
                writeLine(2, "commit failed: \(error)")
                exit(1)
            }
        }
    }
}

/// A plain pthread running a closure.
final class Worker: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
        let box = Unmanaged.passRetained(self)
        pthread_create(&thread, nil, { raw in
            Unmanaged<Worker>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box.toOpaque())
    }
    func join() { pthread_join(thread, nil) }
}

func main() {
    let arguments = CommandLine.arguments
    guard arguments.count == 5, let threads = Int(arguments[3]), let mode = SyncMode(rawValue: arguments[4]) else {
        writeLine(2, "usage: toondb-crash-writer <directory> <run> <threads> <off|normal|full>")
        exit(2)
    }
    var options = DatabaseOptions()
    options.syncMode = mode
    options.memtableSize = 128 << 10
    options.targetTableSize = 64 << 10
    options.level1MaxBytes = 256 << 10
    options.walSegmentSize = 64 << 10
    options.logger.logLevel = .error
    let database: Database
    do {
        database = try Database.open(path: arguments[1], options: options)
    } catch {
        writeLine(2, "open failed: \(error)")
        exit(1)
    }
    let writer = CrashWriter(database: database, run: arguments[2])
    writeLine(1, "ready")
    let workers = (0..<threads).map { thread in Worker { writer.loop(thread: thread) } }
    for worker in workers { worker.join() }
}

main()

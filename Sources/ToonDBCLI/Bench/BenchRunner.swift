import Synchronization
import ToonDBEngine
import ToonDBVector

#if canImport(Glibc)
import Glibc
#endif

/// Runs the benchmark workloads. Keys and values are prepared before any timed loop; every
/// timed loop records one latency per operation into a preallocated buffer.
final class BenchRunner {
    let settings: BenchSettings
    let options: DatabaseOptions
    let root: String
    let keep: Bool
    /// The fillrandom database, which readrandom and readseq read.
    private var filled: Database?
    private var filledDirectory: String?

    init(settings: BenchSettings, options: DatabaseOptions, root: String, keep: Bool) {
        self.settings = settings
        self.options = options
        self.root = root
        self.keep = keep
    }

    /// Key i is the zero-padded decimal of i, exactly key-size bytes.
    private lazy var keys: [[UInt8]] = {
        let size = settings.keySize
        var keys: [[UInt8]] = []
        keys.reserveCapacity(settings.num)
        for i in 0..<settings.num {
            var key = [UInt8](repeating: UInt8(ascii: "0"), count: size)
            var value = i
            var position = size - 1
            while value > 0 && position >= 0 {
                key[position] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
                position -= 1
            }
            keys.append(key)
        }
        return keys
    }()

    /// 1024 distinct random values (a power of two, picked with a mask).
    private lazy var values: [[UInt8]] = {
        var random = SplitMix64(seed: settings.seed &+ 7)
        return (0..<1024).map { _ in
            var value = [UInt8](repeating: 0, count: settings.valueSize)
            for j in 0..<value.count { value[j] = UInt8(truncatingIfNeeded: random.next()) }
            return value
        }
    }()

    private func randomIndices(_ count: Int, bound: Int, seed: UInt64) -> [Int] {
        var random = SplitMix64(seed: settings.seed &* 31 &+ seed)
        return (0..<count).map { _ in random.index(bound) }
    }

    func run(_ name: String) throws -> BenchResult {
        switch name {
        case "fillseq": return try fill(name, indices: nil)
        case "fillrandom": return try fill(name, indices: randomIndices(settings.num, bound: settings.num, seed: 1))
        case "readrandom": return try readRandom()
        case "readseq": return try readSequential()
        case "syncwrite": return try syncWrite(name, threads: 1)
        case "syncwrite16": return try syncWrite(name, threads: settings.threads)
        case "rawsync": return try rawSync()
        default: throw CLIError("unknown benchmark \(name)")
        }
    }

    /// Closes and removes what is left.
    func finish() {
        if let filled { try? filled.close() }
        filled = nil
    }

    private func open(_ name: String, sync: SyncMode) throws -> (Database, String) {
        let path = root + "/" + name
        if access(path, F_OK) == 0 { removeTree(path) }
        var options = self.options
        options.syncMode = sync
        return (try Database.open(path: path, options: options), path)
    }

    private func discard(_ db: Database, _ path: String) throws {
        try db.close()
        if !keep { removeTree(path) }
    }

    // MARK: - Workloads

    /// num puts, one per call, sync off: in key order (`indices` nil) or of the given keys.
    private func fill(_ name: String, indices: [Int]?) throws -> BenchResult {
        if name == "fillrandom", let filled, let filledDirectory {
            try discard(filled, filledDirectory)
            self.filled = nil
        }
        let keys = self.keys, values = self.values
        let (db, path) = try open(name, sync: .off)
        let n = settings.num
        let latencies = LatencyBuffer(capacity: n)
        let lat = latencies.base
        var previous = monotonicNanoseconds()
        let start = previous
        if let indices {
            for i in 0..<n {
                try db.put(keys[indices[i]], values[i & 1023])
                let now = monotonicNanoseconds()
                lat[i] = now &- previous
                previous = now
            }
        } else {
            for i in 0..<n {
                try db.put(keys[i], values[i & 1023])
                let now = monotonicNanoseconds()
                lat[i] = now &- previous
                previous = now
            }
        }
        let elapsed = previous - start
        let backend = db.stats().ioBackend
        if name == "fillrandom" {
            filled = db
            filledDirectory = path
        } else {
            try discard(db, path)
        }
        let p = latencies.percentiles(count: n, [50, 99])
        return BenchResult(name: name, ops: n, nanoseconds: elapsed, p50: p[0], p99: p[1],
                           bytes: Int64(n) * Int64(settings.keySize + settings.valueSize), ioBackend: backend,
                           note: indices == nil ? "sync off" : "sync off, \(grouped(Set(indices!).count)) distinct keys")
    }

    /// The fillrandom database, filled (untimed) when fillrandom has not run.
    private func filledDatabase() throws -> (Database, String) {
        if filled == nil {
            Output.stderr("toondb bench: running an untimed fillrandom first\n")
            _ = try fill("fillrandom", indices: randomIndices(settings.num, bound: settings.num, seed: 1))
        }
        return (filled!, "")
    }

    private func readRandom() throws -> BenchResult {
        let (db, _) = try filledDatabase()
        let keys = self.keys
        let indices = randomIndices(settings.num, bound: settings.num, seed: 2)
        let n = settings.num
        let latencies = LatencyBuffer(capacity: n)
        let lat = latencies.base
        var found = 0
        var bytes: Int64 = 0
        var previous = monotonicNanoseconds()
        let start = previous
        for i in 0..<n {
            let key = keys[indices[i]]
            if let value = try db.get(key) {
                found += 1
                bytes += Int64(key.count + value.count)
            }
            let now = monotonicNanoseconds()
            lat[i] = now &- previous
            previous = now
        }
        let elapsed = previous - start
        let p = latencies.percentiles(count: n, [50, 99])
        return BenchResult(name: "readrandom", ops: n, nanoseconds: elapsed, p50: p[0], p99: p[1], bytes: bytes,
                           ioBackend: db.stats().ioBackend, note: "\(grouped(found)) of \(grouped(n)) found")
    }

    private func readSequential() throws -> BenchResult {
        let (db, _) = try filledDatabase()
        let latencies = LatencyBuffer(capacity: settings.num)
        let lat = latencies.base
        let capacity = latencies.capacity
        var count = 0
        var bytes: Int64 = 0
        var previous = monotonicNanoseconds()
        let start = previous
        // Like db_bench's readseq: each pair is read in place, not copied.
        try db.scan().forEach { key, value in
            bytes += Int64(key.count + value.count)
            let now = monotonicNanoseconds()
            if count < capacity { lat[count] = now &- previous }
            previous = now
            count += 1
            return true
        }
        let elapsed = monotonicNanoseconds() - start
        let p = latencies.percentiles(count: min(count, capacity), [50, 99])
        return BenchResult(name: "readseq", ops: count, nanoseconds: elapsed, p50: p[0], p99: p[1], bytes: bytes,
                           ioBackend: db.stats().ioBackend)
    }

    /// sync-num puts with sync full from `threads` writer threads (1: on this thread).
    private func syncWrite(_ name: String, threads: Int) throws -> BenchResult {
        let keys = self.keys, values = self.values
        let total = settings.syncNum
        let indices = randomIndices(total, bound: settings.num, seed: 3 + UInt64(threads))
        let (db, path) = try open(name, sync: .full)
        let latencies = LatencyBuffer(capacity: total)
        let elapsed: UInt64
        if threads == 1 {
            let lat = latencies.base
            var previous = monotonicNanoseconds()
            let start = previous
            for i in 0..<total {
                try db.put(keys[indices[i]], values[i & 1023])
                let now = monotonicNanoseconds()
                lat[i] = now &- previous
                previous = now
            }
            elapsed = previous - start
        } else {
            let failure = FirstError()
            elapsed = try runOnThreads(threads) { thread in
                // Thread t writes operations [t * total / threads, (t + 1) * total / threads).
                let lower = thread * total / threads, upper = (thread + 1) * total / threads
                let lat = latencies.base
                for i in lower..<upper {
                    let begin = monotonicNanoseconds()
                    do throws(StorageError) {
                        try db.put(keys[indices[i]], values[i & 1023])
                    } catch {
                        failure.record("\(name) thread \(thread): \(error.message)")
                        return
                    }
                    lat[i] = monotonicNanoseconds() &- begin
                }
            }
            if let message = failure.message { throw CLIError(message) }
        }
        let stats = db.stats()
        try discard(db, path)
        let p = latencies.percentiles(count: total, [50, 99])
        let perGroup = Double(stats.commits) / Double(max(stats.commitGroups, 1))
        return BenchResult(name: name, ops: total, nanoseconds: elapsed, p50: p[0], p99: p[1],
                           bytes: Int64(total) * Int64(settings.keySize + settings.valueSize), ioBackend: stats.ioBackend,
                           note: "sync full, \(threads) writer\(threads == 1 ? "" : "s"), \(String(format: "%.1f", perGroup)) commits per WAL sync")
    }

    /// sync-num 4 KiB pwrite+fdatasync appends to a file in the benchmark directory.
    private func rawSync() throws -> BenchResult {
        let path = root + "/rawsync.dat"
        let fd = Glibc.open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CLIError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer {
            close(fd)
            if !keep { unlink(path) }
        }
        let size = 4096
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        defer { buffer.deallocate() }
        var random = SplitMix64(seed: settings.seed)
        for i in 0..<(size / 8) { buffer.storeBytes(of: random.next(), toByteOffset: i * 8, as: UInt64.self) }
        let n = settings.syncNum
        let latencies = LatencyBuffer(capacity: n)
        let lat = latencies.base
        var previous = monotonicNanoseconds()
        let start = previous
        for i in 0..<n {
            let written = pwrite(fd, buffer, size, off_t(i * size))
            guard written == size else {
                throw CLIError("pwrite to \(path) failed: \(written < 0 ? String(cString: strerror(errno)) : "short write")")
            }
            guard fdatasync(fd) == 0 else { throw CLIError("fdatasync of \(path) failed: \(String(cString: strerror(errno)))") }
            let now = monotonicNanoseconds()
            lat[i] = now &- previous
            previous = now
        }
        let elapsed = previous - start
        let p = latencies.percentiles(count: n, [50, 99])
        return BenchResult(name: "rawsync", ops: n, nanoseconds: elapsed, p50: p[0], p99: p[1], bytes: Int64(n * size),
                           ioBackend: "posix", note: "4 KiB pwrite+fdatasync appends")
    }
}

/// The first error reported by any thread.
final class FirstError: Sendable {
    private let storage = Mutex<String?>(nil)

    func record(_ message: String) {
        storage.withLock { if $0 == nil { $0 = message } }
    }

    var message: String? { storage.withLock { $0 } }
}

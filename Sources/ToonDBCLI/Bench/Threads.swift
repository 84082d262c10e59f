#if canImport(Glibc)
import Glibc
#endif

/// Runs `body(index)` on `count` plain POSIX threads that start together (after a barrier the
/// caller passes too), and returns the wall time from the barrier to the last thread's end.
/// Benchmarks use real threads, not Swift tasks, so that `count` commits are really in flight.
func runOnThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) throws -> UInt64 {
    let barrier = UnsafeMutablePointer<pthread_barrier_t>.allocate(capacity: 1)
    defer { barrier.deallocate() }
    guard pthread_barrier_init(barrier, nil, UInt32(count + 1)) == 0 else { throw CLIError("pthread_barrier_init failed") }
    defer { pthread_barrier_destroy(barrier) }
    let shared = BarrierRef(barrier)
    var threads: [pthread_t] = []
    for index in 0..<count {
        let box = Unmanaged.passRetained(ThreadBody {
            pthread_barrier_wait(shared.pointer)
            body(index)
        }).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { argument in
            let body = Unmanaged<ThreadBody>.fromOpaque(argument!).takeRetainedValue()
            body.run()
            return nil
        }, box)
        if rc != 0 {
            Unmanaged<ThreadBody>.fromOpaque(box).release()
            // The threads already started wait at the barrier forever: no way to recover cleanly.
            throw CLIError("pthread_create failed: \(String(cString: strerror(rc)))")
        }
        threads.append(thread)
    }
    pthread_barrier_wait(barrier)
    let start = monotonicNanoseconds()
    for thread in threads { pthread_join(thread, nil) }
    return monotonicNanoseconds() - start
}

private final class ThreadBody: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

private struct BarrierRef: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<pthread_barrier_t>
    init(_ pointer: UnsafeMutablePointer<pthread_barrier_t>) { self.pointer = pointer }
}

/// Per-operation latencies in nanoseconds, preallocated so the timed loop never allocates.
/// Threads write disjoint ranges.
final class LatencyBuffer: @unchecked Sendable {
    let base: UnsafeMutablePointer<UInt64>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        base = .allocate(capacity: self.capacity)
        base.initialize(repeating: 0, count: self.capacity)
    }

    deinit { base.deallocate() }

    /// The p-th percentile (0...100) of the first `count` entries (sorts them in place).
    func percentiles(count: Int, _ ps: [Double]) -> [Double] {
        guard count > 0 else { return ps.map { _ in 0 } }
        var buffer = UnsafeMutableBufferPointer(start: base, count: min(count, capacity))
        buffer.sort()
        return ps.map { p in
            let rank = Int((p / 100 * Double(buffer.count)).rounded(.up)) - 1
            return Double(buffer[min(max(rank, 0), buffer.count - 1)])
        }
    }
}

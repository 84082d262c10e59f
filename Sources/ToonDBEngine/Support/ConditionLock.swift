#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex with one condition variable: for the places where threads must wait for
/// each other (the commit queue, back-pressure, background work). `Synchronization.Mutex`
/// has no condition variable.
final class ConditionLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }

    /// Waits (the lock must be held); spurious wake-ups happen, so callers loop on their condition.
    func wait() { pthread_cond_wait(condition, mutex) }

    /// Waits at most `seconds`; returns false on timeout.
    @discardableResult
    func wait(seconds: Double) -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let nanos = Int(now.tv_nsec) + Int(seconds.truncatingRemainder(dividingBy: 1) * 1e9)
        var deadline = timespec(tv_sec: now.tv_sec + Int(seconds) + nanos / 1_000_000_000, tv_nsec: nanos % 1_000_000_000)
        return pthread_cond_timedwait(condition, mutex, &deadline) == 0
    }

    func broadcast() { pthread_cond_broadcast(condition) }

    /// Waits on another condition variable with this lock's mutex (the lock must be held).
    func wait(on other: Condition) { pthread_cond_wait(other.raw, mutex) }
    func signal() { pthread_cond_signal(condition) }

    @inline(__always)
    func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A condition variable used with a ``ConditionLock``'s mutex, so one waiter can be woken
/// without waking every thread waiting on that lock.
final class Condition: @unchecked Sendable {
    let raw = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    init() { pthread_cond_init(raw, nil) }
    deinit {
        pthread_cond_destroy(raw)
        raw.deallocate()
    }
    func signal() { pthread_cond_signal(raw) }
}

/// A named OS thread running `body` once; ``join()`` waits for it.
final class BackgroundThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: @Sendable () -> Void
    private let name: String

    init(name: String, _ body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
        let box = Unmanaged.passRetained(self)
        let rc = pthread_create(&thread, nil, { raw in
            let me = Unmanaged<BackgroundThread>.fromOpaque(raw!).takeRetainedValue()
            me.body()
            return nil
        }, box.toOpaque())
        if rc != 0 {
            box.release()
            body()  // no thread could be made: run inline rather than lose the work
        }
    }

    func join() { pthread_join(thread, nil) }
}

/// Monotonic time in seconds.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A reader-writer lock (`pthread_rwlock_t` at a stable heap address).
///
/// Not `Sendable` by itself; it lives inside ``HNSWIndex``, whose own `@unchecked Sendable`
/// conformance explains how it is used.
final class ReadWriteLock {
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    init() {
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        precondition(pthread_rwlock_init(lock, nil) == 0)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    @inline(__always) func readLock() { precondition(pthread_rwlock_rdlock(lock) == 0) }
    @inline(__always) func writeLock() { precondition(pthread_rwlock_wrlock(lock) == 0) }
    @inline(__always) func unlock() { precondition(pthread_rwlock_unlock(lock) == 0) }

    @inline(__always) func withReadLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        readLock()
        defer { unlock() }
        return try body()
    }

    @inline(__always) func withWriteLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        writeLock()
        defer { unlock() }
        return try body()
    }
}

/// A fixed array of mutexes (`pthread_mutex_t`) at stable heap addresses.
///
/// ``HNSWIndex`` uses one as a plain mutex (count 1) and one as striped per-node locks: node
/// `n` is guarded by mutex `n & (count − 1)`. A thread never holds two stripes at once, so
/// striping cannot deadlock.
final class MutexArray {
    private let mutexes: UnsafeMutablePointer<pthread_mutex_t>
    private let mask: Int

    /// - Parameter count: a power of two.
    init(count: Int) {
        precondition(count > 0 && count & (count - 1) == 0)
        mask = count - 1
        mutexes = .allocate(capacity: count)
        for i in 0..<count {
            (mutexes + i).initialize(to: pthread_mutex_t())
            precondition(pthread_mutex_init(mutexes + i, nil) == 0)
        }
    }

    deinit {
        for i in 0...mask { pthread_mutex_destroy(mutexes + i) }
        mutexes.deallocate()
    }

    @inline(__always) func lock(_ key: Int) { precondition(pthread_mutex_lock(mutexes + (key & mask)) == 0) }
    @inline(__always) func unlock(_ key: Int) { precondition(pthread_mutex_unlock(mutexes + (key & mask)) == 0) }

    @inline(__always) func withLock<T, E: Error>(_ key: Int, _ body: () throws(E) -> T) throws(E) -> T {
        lock(key)
        defer { unlock(key) }
        return try body()
    }
}

#if canImport(Glibc)
import Glibc
#endif
import CToonDBURing

/// One io_uring instance behind the C shim, with a count of the operations it has in flight.
///
/// A ring is not thread-safe: it is used by one thread at a time and handed between threads
/// only through ``URingBackend``'s pool (a `Mutex`), hence `@unchecked Sendable`.
/// Every prepared entry produces exactly one completion (no CQE skipping), so `inFlight`
/// is exact; a ring goes back to the pool only when it is zero.
final class URing: @unchecked Sendable {
    private let handle: OpaquePointer
    /// Submission-queue entries; at most this many operations are kept in flight.
    let depth: Int
    /// Prepared operations whose completion has not been consumed yet.
    private(set) var inFlight = 0
    /// False after a failure of the ring itself (submit or wait failed): entries may still be
    /// queued or in flight, so the ring must be destroyed rather than reused.
    private(set) var isReusable = true

    /// Creates a ring with `depth` submission entries; throws the kernel's refusal
    /// (EPERM from seccomp, ENOSYS on old kernels, ENOMEM past the memlock limit).
    init(depth: Int) throws(IOError) {
        var created: OpaquePointer?
        let rc = toondb_ring_create(UInt32(depth), &created)
        guard rc == 0, let created else {
            throw IOError(errno: rc < 0 ? -rc : EIO, operation: "io_uring_queue_init", detail: "depth \(depth)")
        }
        handle = created
        self.depth = depth
    }

    deinit { toondb_ring_destroy(handle) }

    /// True when nothing is queued or in flight and the ring has not failed.
    var isIdle: Bool { isReusable && inFlight == 0 && toondb_ring_sq_ready(handle) == 0 }

    // MARK: Preparing operations

    private func prepared(_ rc: Int32, _ operation: String) throws(IOError) {
        guard rc == 0 else { throw IOError(errno: -rc, operation: operation, detail: "submission queue full") }
        inFlight += 1
    }

    func prepRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, length: Int, offset: Int64, tag: UInt64, flags: UInt8 = 0) throws(IOError) {
        try prepared(toondb_ring_prep_read(handle, fd, buffer, UInt32(length), UInt64(offset), tag, flags), "io_uring read")
    }

    func prepWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, length: Int, offset: Int64, tag: UInt64, flags: UInt8 = 0) throws(IOError) {
        try prepared(toondb_ring_prep_write(handle, fd, buffer, UInt32(length), UInt64(offset), tag, flags), "io_uring write")
    }

    func prepFsync(_ fd: Int32, dataOnly: Bool, tag: UInt64, flags: UInt8 = 0) throws(IOError) {
        let fsyncFlags = dataOnly ? UInt32(TOONDB_FSYNC_DATASYNC) : 0
        try prepared(toondb_ring_prep_fsync(handle, fd, fsyncFlags, tag, flags), "io_uring fsync")
    }

    func prepNop(tag: UInt64) throws(IOError) {
        try prepared(toondb_ring_prep_nop(handle, tag, 0), "io_uring nop")
    }

    /// IOSQE_IO_LINK: the next entry runs only after this one completes in full.
    static var linkFlag: UInt8 { UInt8(TOONDB_SQE_IO_LINK) }

    // MARK: Submitting and reaping

    /// Submits everything prepared and, when `count` > 0, waits until at least `count`
    /// completions are available, in one system call. EINTR is retried in the shim; a short
    /// submit and transient EAGAIN/EBUSY are retried here. `count` must not exceed `inFlight`.
    func submit(waitingFor count: Int) throws(IOError) {
        var attempts = 0
        while true {
            let rc = count > 0 ? toondb_ring_submit_and_wait(handle, UInt32(count)) : toondb_ring_submit(handle)
            if rc >= 0 {
                if toondb_ring_sq_ready(handle) == 0 { return }
            } else if rc != -EAGAIN && rc != -EBUSY {
                isReusable = false
                throw IOError(errno: -rc, operation: "io_uring_enter", detail: "\(inFlight) operations queued")
            }
            attempts += 1
            if attempts > 10_000 {
                isReusable = false
                throw IOError(errno: EAGAIN, operation: "io_uring_enter", detail: "kernel kept refusing submissions")
            }
            sched_yield()
        }
    }

    /// Waits for the next completion and consumes it.
    func wait() throws(IOError) -> toondb_completion {
        var completion = toondb_completion()
        let rc = toondb_ring_wait(handle, &completion)
        guard rc == 0 else {
            isReusable = false
            throw IOError(errno: -rc, operation: "io_uring_wait_cqe")
        }
        inFlight -= 1
        return completion
    }

    /// The next completion if one is ready, without blocking.
    func peek() -> toondb_completion? {
        var completion = toondb_completion()
        guard toondb_ring_peek(handle, &completion) == 0 else { return nil }
        inFlight -= 1
        return completion
    }

    /// Waits for every operation in flight, discarding the results: cleanup after an error, so
    /// that no buffer is released while the kernel may still use it. Entries that cannot be
    /// submitted are never seen by the kernel; the ring is then marked not reusable.
    func drain() {
        if toondb_ring_sq_ready(handle) > 0 && toondb_ring_submit(handle) < 0 {
            isReusable = false
        }
        let unsubmitted = Int(toondb_ring_sq_ready(handle))
        if unsubmitted > 0 { isReusable = false }
        while inFlight > unsubmitted {
            do { _ = try wait() } catch { return }
        }
    }

    /// Prepares nothing further; submits what is queued and waits for a single completion.
    func submitAndWaitOne() throws(IOError) -> toondb_completion {
        try submit(waitingFor: 1)
        return try wait()
    }
}

#if canImport(Glibc)
import Glibc
#endif
import CToonDBURing

/// Pipelined appends through a ring the writer owns from creation until ``finish(sync:)``
/// (or deinit), when the ring goes back to the backend's pool.
///
/// Each append is submitted at once without waiting; the writer waits for completions only
/// when `depth` writes are in flight. The appended arrays are kept until their write has
/// completed in full (a short write is resubmitted for the remainder). The first failed
/// write is thrown from the next append or from `finish`, and after it the writer refuses
/// every further append. Only the descriptor and path are stored: the caller keeps the
/// ``File`` open until `finish` returns.
final class URingStreamWriter: StreamWriter {
    /// One append whose bytes are not all on their way to disk yet.
    private struct PendingWrite {
        /// Keeps the array's storage (and so `base`) alive while the kernel reads it.
        let bytes: [UInt8]
        let base: UnsafeRawPointer
        let offset: Int64
        /// Bytes completed so far.
        var done: Int
    }

    private let backend: URingBackend
    private var ring: URing?
    private let descriptor: Int32
    private let path: String
    private let start: Int64
    private var nextOffset: Int64
    private let depth: Int
    private var pending: [UInt64: PendingWrite] = [:]
    private var nextTag: UInt64 = 1
    private var failure: IOError?
    private var finished = false

    init(backend: URingBackend, ring: URing, descriptor: Int32, path: String, offset: Int64, depth: Int) {
        self.backend = backend
        self.ring = ring
        self.descriptor = descriptor
        self.path = path
        self.start = offset
        self.nextOffset = offset
        self.depth = depth
    }

    deinit {
        // Dropped without finish: wait for the writes in flight before their buffers go.
        release()
    }

    var bytesQueued: Int64 { nextOffset - start }

    func append(_ bytes: [UInt8]) throws(IOError) {
        if let failure { throw failure }
        guard !finished, let ring else {
            throw IOError(errno: EINVAL, operation: "io_uring write", path: path, detail: "append after finish")
        }
        if bytes.isEmpty { return }
        do {
            // Collect what has completed (surfacing errors early), then make room.
            while let completion = ring.peek() { try handle(completion, ring) }
            while pending.count >= depth { try handle(try ring.wait(), ring) }
            let base = bytes.withUnsafeBytes { $0.baseAddress! }
            let tag = nextTag
            nextTag += 1
            let write = PendingWrite(bytes: bytes, base: base, offset: nextOffset, done: 0)
            pending[tag] = write
            nextOffset += Int64(bytes.count)
            try submit(write, tag: tag, ring)
        } catch {
            fail(error)
            throw error
        }
    }

    func finish(sync: Bool) throws(IOError) {
        if let failure { throw failure }
        if finished {
            if sync { try backend.sync(descriptor: descriptor, path: path, dataOnly: true) }
            return
        }
        guard let ring else { return }
        do {
            while !pending.isEmpty { try handle(try ring.wait(), ring) }
            if sync { try URingBackend.syncFully(ring, descriptor, dataOnly: true, path: path) }
        } catch {
            fail(error)
            throw error
        }
        finished = true
        release()
    }

    /// Prepares the rest of `write` and submits it without waiting.
    private func submit(_ write: PendingWrite, tag: UInt64, _ ring: URing) throws(IOError) {
        let length = min(write.bytes.count - write.done, URingBackend.maxTransfer)
        try ring.prepWrite(descriptor, write.base + write.done, length: length,
                           offset: write.offset + Int64(write.done), tag: tag)
        try ring.submit(waitingFor: 0)
    }

    /// Accounts one completion: done, resubmitted (short write, EINTR/EAGAIN) or an error.
    private func handle(_ completion: toondb_completion, _ ring: URing) throws(IOError) {
        let tag = completion.user_data
        guard var write = pending[tag] else {
            throw IOError(errno: EIO, operation: "io_uring write", path: path, detail: "unexpected completion \(tag)")
        }
        let res = completion.res
        if res > 0 {
            write.done += Int(res)
            if write.done == write.bytes.count {
                pending[tag] = nil
            } else {
                pending[tag] = write
                try submit(write, tag: tag, ring)
            }
        } else if res == -EINTR || res == -EAGAIN {
            try submit(write, tag: tag, ring)
        } else if res == 0 {
            throw IOError(errno: EIO, operation: "io_uring write", path: path,
                          detail: "wrote 0 bytes at offset \(write.offset + Int64(write.done))")
        } else {
            throw IOError(errno: -res, operation: "io_uring write", path: path,
                          detail: "offset \(write.offset + Int64(write.done)), length \(write.bytes.count - write.done)")
        }
    }

    /// Records the first error and stops: waits for the writes in flight, gives the ring back.
    private func fail(_ error: IOError) {
        if failure == nil { failure = error }
        release()
    }

    /// Waits for everything in flight, then returns the ring to the pool.
    private func release() {
        guard let ring else { return }
        ring.drain()
        pending.removeAll()
        backend.giveBack(ring)
        self.ring = nil
    }
}

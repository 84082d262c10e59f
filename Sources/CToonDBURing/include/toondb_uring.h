#ifndef TOONDB_URING_H
#define TOONDB_URING_H
// A small, opaque shim over liburing for ToonDBIO's URingBackend.
//
// <liburing.h> is included only in toondb_uring.c: it defines _XOPEN_SOURCE, and importing
// it into Swift clashes with Glibc (fd_set) in clean debug builds. Swift also cannot import
// liburing's macros and static inline functions reliably, so everything is a plain function.
//
// Conventions: functions that can fail return 0 (or a count) on success and -errno on
// failure, like liburing itself. A ring is NOT thread-safe: one thread at a time.

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// One io_uring instance (a struct io_uring). Opaque; create with toondb_ring_create.
typedef struct toondb_ring toondb_ring;

/// A completion copied out of the completion queue.
typedef struct toondb_completion {
    /// The user_data given when the operation was prepared.
    uint64_t user_data;
    /// Bytes transferred (>= 0) or -errno.
    int32_t res;
    /// cqe->flags.
    uint32_t flags;
} toondb_completion;

/// Constants with liburing's values (checked by _Static_assert in toondb_uring.c).
enum {
    /// IOSQE_IO_LINK: the next SQE starts only after this one completes fully; if this one
    /// fails or is short, the next completes with -ECANCELED.
    TOONDB_SQE_IO_LINK = 1u << 2,
    /// IORING_FSYNC_DATASYNC: fdatasync instead of fsync.
    TOONDB_FSYNC_DATASYNC = 1u << 0,
};

/// Creates a ring with `entries` submission slots (completion queue twice that).
/// Returns 0 and stores the ring in *out_ring, or -errno (EPERM/ENOSYS where io_uring is
/// refused, ENOMEM when the memlock limit is reached).
int toondb_ring_create(uint32_t entries, toondb_ring **out_ring);

/// Tears down the ring (io_uring_queue_exit) and frees it. NULL is ignored.
void toondb_ring_destroy(toondb_ring *ring);

/// Submission-queue entries prepared but not yet consumed by the kernel.
uint32_t toondb_ring_sq_ready(const toondb_ring *ring);

/// Free submission-queue slots.
uint32_t toondb_ring_sq_space_left(const toondb_ring *ring);

/// Prepares a read of `length` bytes at `offset` into `buffer`. `sqe_flags` is 0 or
/// TOONDB_SQE_IO_LINK. Returns 0, or -EBUSY when the submission queue is full.
int toondb_ring_prep_read(toondb_ring *ring, int fd, void *buffer, uint32_t length,
                          uint64_t offset, uint64_t user_data, uint8_t sqe_flags);

/// Prepares a write of `length` bytes from `buffer` at `offset`. Returns 0 or -EBUSY.
int toondb_ring_prep_write(toondb_ring *ring, int fd, const void *buffer, uint32_t length,
                           uint64_t offset, uint64_t user_data, uint8_t sqe_flags);

/// Prepares an fsync (`fsync_flags` 0) or fdatasync (TOONDB_FSYNC_DATASYNC). Returns 0 or -EBUSY.
int toondb_ring_prep_fsync(toondb_ring *ring, int fd, uint32_t fsync_flags,
                           uint64_t user_data, uint8_t sqe_flags);

/// Prepares a no-op (used to probe that the kernel accepts submissions). Returns 0 or -EBUSY.
int toondb_ring_prep_nop(toondb_ring *ring, uint64_t user_data, uint8_t sqe_flags);

/// Submits every prepared entry without waiting. Returns the number submitted or -errno;
/// EINTR is retried here.
int toondb_ring_submit(toondb_ring *ring);

/// Submits every prepared entry and waits until at least `wait_nr` completions are
/// available, in one system call. Returns the number submitted or -errno; EINTR is
/// retried here (entries not consumed by the kernel stay queued and are resubmitted).
int toondb_ring_submit_and_wait(toondb_ring *ring, uint32_t wait_nr);

/// Waits for one completion, copies it to *out and marks it seen. Returns 0 or -errno;
/// EINTR is retried here.
int toondb_ring_wait(toondb_ring *ring, toondb_completion *out);

/// Like toondb_ring_wait without blocking: returns 0 with a completion, -EAGAIN when none
/// is available.
int toondb_ring_peek(toondb_ring *ring, toondb_completion *out);

#ifdef __cplusplus
}
#endif

#endif

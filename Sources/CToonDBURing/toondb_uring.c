// The only file that includes <liburing.h> (see include/toondb_uring.h for why).
#include <liburing.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "toondb_uring.h"

_Static_assert(TOONDB_SQE_IO_LINK == IOSQE_IO_LINK, "IOSQE_IO_LINK changed");
_Static_assert(TOONDB_FSYNC_DATASYNC == IORING_FSYNC_DATASYNC, "IORING_FSYNC_DATASYNC changed");

struct toondb_ring {
    struct io_uring ring;
};

int toondb_ring_create(uint32_t entries, toondb_ring **out_ring) {
    *out_ring = NULL;
    toondb_ring *r = calloc(1, sizeof *r);
    if (r == NULL) return -ENOMEM;
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
#ifdef IORING_SETUP_SUBMIT_ALL
    // Keep submitting the rest of a batch when one entry fails to prepare (kernel 5.18+),
    // so every prepared entry always produces a completion.
    params.flags = IORING_SETUP_SUBMIT_ALL;
#endif
    int rc = io_uring_queue_init_params(entries, &r->ring, &params);
    if (rc == -EINVAL) {
        // An older kernel that does not know the flag: plain ring.
        memset(&params, 0, sizeof params);
        rc = io_uring_queue_init_params(entries, &r->ring, &params);
    }
    if (rc < 0) {
        free(r);
        return rc;
    }
    *out_ring = r;
    return 0;
}

void toondb_ring_destroy(toondb_ring *ring) {
    if (ring == NULL) return;
    io_uring_queue_exit(&ring->ring);
    free(ring);
}

uint32_t toondb_ring_sq_ready(const toondb_ring *ring) {
    return io_uring_sq_ready(&ring->ring);
}

uint32_t toondb_ring_sq_space_left(const toondb_ring *ring) {
    return io_uring_sq_space_left(&ring->ring);
}

// The next free submission entry, or NULL when the submission queue is full.
static struct io_uring_sqe *next_sqe(toondb_ring *ring) {
    return io_uring_get_sqe(&ring->ring);
}

static void finish_sqe(struct io_uring_sqe *sqe, uint64_t user_data, uint8_t sqe_flags) {
    io_uring_sqe_set_data64(sqe, user_data);
    io_uring_sqe_set_flags(sqe, sqe_flags);
}

int toondb_ring_prep_read(toondb_ring *ring, int fd, void *buffer, uint32_t length,
                          uint64_t offset, uint64_t user_data, uint8_t sqe_flags) {
    struct io_uring_sqe *sqe = next_sqe(ring);
    if (sqe == NULL) return -EBUSY;
    io_uring_prep_read(sqe, fd, buffer, length, offset);
    finish_sqe(sqe, user_data, sqe_flags);
    return 0;
}

int toondb_ring_prep_write(toondb_ring *ring, int fd, const void *buffer, uint32_t length,
                           uint64_t offset, uint64_t user_data, uint8_t sqe_flags) {
    struct io_uring_sqe *sqe = next_sqe(ring);
    if (sqe == NULL) return -EBUSY;
    io_uring_prep_write(sqe, fd, buffer, length, offset);
    finish_sqe(sqe, user_data, sqe_flags);
    return 0;
}

int toondb_ring_prep_fsync(toondb_ring *ring, int fd, uint32_t fsync_flags,
                           uint64_t user_data, uint8_t sqe_flags) {
    struct io_uring_sqe *sqe = next_sqe(ring);
    if (sqe == NULL) return -EBUSY;
    io_uring_prep_fsync(sqe, fd, fsync_flags);
    finish_sqe(sqe, user_data, sqe_flags);
    return 0;
}

int toondb_ring_prep_nop(toondb_ring *ring, uint64_t user_data, uint8_t sqe_flags) {
    struct io_uring_sqe *sqe = next_sqe(ring);
    if (sqe == NULL) return -EBUSY;
    io_uring_prep_nop(sqe);
    finish_sqe(sqe, user_data, sqe_flags);
    return 0;
}

int toondb_ring_submit(toondb_ring *ring) {
    int rc;
    do {
        rc = io_uring_submit(&ring->ring);
    } while (rc == -EINTR);
    return rc;
}

int toondb_ring_submit_and_wait(toondb_ring *ring, uint32_t wait_nr) {
    int rc;
    do {
        rc = io_uring_submit_and_wait(&ring->ring, wait_nr);
    } while (rc == -EINTR);
    return rc;
}

static void copy_and_mark_seen(toondb_ring *ring, struct io_uring_cqe *cqe, toondb_completion *out) {
    out->user_data = io_uring_cqe_get_data64(cqe);
    out->res = cqe->res;
    out->flags = cqe->flags;
    io_uring_cqe_seen(&ring->ring, cqe);
}

int toondb_ring_wait(toondb_ring *ring, toondb_completion *out) {
    struct io_uring_cqe *cqe = NULL;
    int rc;
    do {
        rc = io_uring_wait_cqe(&ring->ring, &cqe);
    } while (rc == -EINTR);
    if (rc < 0) return rc;
    copy_and_mark_seen(ring, cqe, out);
    return 0;
}

int toondb_ring_peek(toondb_ring *ring, toondb_completion *out) {
    struct io_uring_cqe *cqe = NULL;
    int rc = io_uring_peek_cqe(&ring->ring, &cqe);
    if (rc < 0) return rc;
    if (cqe == NULL) return -EAGAIN;
    copy_and_mark_seen(ring, cqe, out);
    return 0;
}

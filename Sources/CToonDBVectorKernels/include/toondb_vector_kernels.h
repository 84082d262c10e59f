// The vector index's innermost loops, in C because Swift has neither a prefetch intrinsic nor
// per-function target attributes: distance kernels compiled for AVX-512, AVX2+FMA and a
// baseline, chosen once at load time from what the CPU supports (so one binary runs anywhere
// and still uses the widest units), and a software prefetch.
#ifndef TOONDB_VECTOR_KERNELS_H
#define TOONDB_VECTOR_KERNELS_H

#include <stddef.h>

// The dot product of `count` floats at `a` and `b`.
float toondb_dot(const float *a, const float *b, size_t count);

// The squared Euclidean distance of `count` floats at `a` and `b`.
float toondb_squared_l2(const float *a, const float *b, size_t count);

// Which kernels are in use: "avx512", "avx2" or "baseline".
const char *toondb_vector_kernels(void);

// Asks the CPU to bring `length` bytes at `address` into cache (a hint: never faults).
static inline void toondb_prefetch(const void *address, size_t length) {
    const char *p = (const char *)address;
    for (size_t offset = 0; offset < length; offset += 64) {
        __builtin_prefetch(p + offset, 0, 3);
    }
}

#endif

// The vector index's innermost loops, in C because Swift has no per-function target
// attributes: distance kernels compiled for AVX-512, AVX2+FMA and a baseline, chosen once at
// load time from what the CPU supports (so one binary runs anywhere and still uses the widest
// units). The prefetch the graph walk uses is in CToonDBPrefetch.
#ifndef TOONDB_VECTOR_KERNELS_H
#define TOONDB_VECTOR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

// The dot product of `count` floats at `a` and `b`.
float toondb_dot(const float *a, const float *b, size_t count);

// The squared Euclidean distance of `count` floats at `a` and `b`.
float toondb_squared_l2(const float *a, const float *b, size_t count);

// The dot product of `count` int8 codes at `a` and `b`, exact. The index's codes lie in
// -127...127, so the sum fits in 32 bits for any count up to 2^17.
int32_t toondb_dot_i8(const int8_t *a, const int8_t *b, size_t count);

// The squared Euclidean distance of `count` int8 codes, exact; fits in 32 bits for codes in
// -127...127 and count up to 32,768.
int32_t toondb_squared_l2_i8(const int8_t *a, const int8_t *b, size_t count);

// The dot product of `count` IEEE binary16 values (given as bit patterns), accumulated in f32.
float toondb_dot_f16(const uint16_t *a, const uint16_t *b, size_t count);

// The squared Euclidean distance of `count` binary16 values, accumulated in f32.
float toondb_squared_l2_f16(const uint16_t *a, const uint16_t *b, size_t count);

// One binary16 bit pattern widened to f32 (exact).
float toondb_f16_to_f32(uint16_t bits);

// Narrows `count` floats to binary16 bit patterns, rounding to nearest even (overflow gives
// infinity).
void toondb_f32_to_f16(const float *src, uint16_t *dst, size_t count);

// Which kernels are in use: "avx512", "avx2" or "baseline".
const char *toondb_vector_kernels(void);


#endif

#include "toondb_vector_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// Baseline: eight independent accumulators, so the adds need not wait on each other (strict
// floating-point order forbids the compiler from reassociating one accumulator).
static float dot_baseline(const float *a, const float *b, size_t n) {
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    }
    float sum = 0;
    for (int j = 0; j < 8; j++) sum += acc[j];
    for (; i < n; i++) sum += a[i] * b[i];
    return sum;
}

static float l2_baseline(const float *a, const float *b, size_t n) {
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int j = 0; j < 8; j++) {
            float d = a[i + j] - b[i + j];
            acc[j] += d * d;
        }
    }
    float sum = 0;
    for (int j = 0; j < 8; j++) sum += acc[j];
    for (; i < n; i++) {
        float d = a[i] - b[i];
        sum += d * d;
    }
    return sum;
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma")))
static float dot_avx2(const float *a, const float *b, size_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    float sum = hsum256(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++) sum += a[i] * b[i];
    return sum;
}

__attribute__((target("avx2,fma")))
static float l2_avx2(const float *a, const float *b, size_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        acc0 = _mm256_fmadd_ps(d0, d0, acc0);
        acc1 = _mm256_fmadd_ps(d1, d1, acc1);
    }
    float sum = hsum256(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++) {
        float d = a[i] - b[i];
        sum += d * d;
    }
    return sum;
}

__attribute__((target("avx512f")))
static float dot_avx512(const float *a, const float *b, size_t n) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
    }
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    }
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    for (; i < n; i++) sum += a[i] * b[i];
    return sum;
}

__attribute__((target("avx512f")))
static float l2_avx512(const float *a, const float *b, size_t n) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        acc0 = _mm512_fmadd_ps(d0, d0, acc0);
        acc1 = _mm512_fmadd_ps(d1, d1, acc1);
    }
    for (; i + 16 <= n; i += 16) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        acc0 = _mm512_fmadd_ps(d0, d0, acc0);
    }
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    for (; i < n; i++) {
        float d = a[i] - b[i];
        sum += d * d;
    }
    return sum;
}
#endif


// --- Quantized rows (HNSWIndex's int8 and f16 encodings) -------------------------------------
//
// int8: symmetric codes in -127...127; the kernels return exact integer sums (a dimension of at
// most 32,768 keeps the squared distance below 2^31). f16: IEEE binary16 bit patterns, widened
// to f32 and accumulated in f32.

static int32_t dot_i8_baseline(const int8_t *a, const int8_t *b, size_t n) {
    int32_t acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int j = 0; j < 8; j++) acc[j] += (int32_t)a[i + j] * (int32_t)b[i + j];
    }
    int32_t sum = 0;
    for (int j = 0; j < 8; j++) sum += acc[j];
    for (; i < n; i++) sum += (int32_t)a[i] * (int32_t)b[i];
    return sum;
}

static int32_t l2_i8_baseline(const int8_t *a, const int8_t *b, size_t n) {
    int32_t acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int j = 0; j < 8; j++) {
            int32_t d = (int32_t)a[i + j] - (int32_t)b[i + j];
            acc[j] += d * d;
        }
    }
    int32_t sum = 0;
    for (int j = 0; j < 8; j++) sum += acc[j];
    for (; i < n; i++) {
        int32_t d = (int32_t)a[i] - (int32_t)b[i];
        sum += d * d;
    }
    return sum;
}

float toondb_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1F;
    uint32_t mantissa = h & 0x3FF;
    uint32_t bits;
    if (exponent == 0x1F) {
        bits = sign | 0x7F800000 | (mantissa << 13);          // infinity or NaN
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);  // normal: rebias 15 -> 127
    } else if (mantissa == 0) {
        bits = sign;                                           // zero
    } else {
        // Subnormal half: normalise the mantissa into an f32 normal.
        int shift = 0;
        while ((mantissa & 0x400) == 0) { mantissa <<= 1; shift++; }
        mantissa &= 0x3FF;
        bits = sign | ((uint32_t)(113 - shift) << 23) | (mantissa << 13);
    }
    float f;
    __builtin_memcpy(&f, &bits, 4);
    return f;
}

// Narrowing with round-to-nearest-even; `_Float16` arithmetic is the compiler's (a library call
// without F16C), used only where the vector path below is unavailable.
static void f32_to_f16_baseline(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) {
        _Float16 h = (_Float16)src[i];
        __builtin_memcpy(dst + i, &h, 2);
    }
}

static float dot_f16_baseline(const uint16_t *a, const uint16_t *b, size_t n) {
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int j = 0; j < 8; j++) acc[j] += toondb_f16_to_f32(a[i + j]) * toondb_f16_to_f32(b[i + j]);
    }
    float sum = 0;
    for (int j = 0; j < 8; j++) sum += acc[j];
    for (; i < n; i++) sum += toondb_f16_to_f32(a[i]) * toondb_f16_to_f32(b[i]);
    return sum;
}

static float l2_f16_baseline(const uint16_t *a, const uint16_t *b, size_t n) {
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int j = 0; j < 8; j++) {
            float d = toondb_f16_to_f32(a[i + j]) - toondb_f16_to_f32(b[i + j]);
            acc[j] += d * d;
        }
    }
    float sum = 0;
    for (int j = 0; j < 8; j++) sum += acc[j];
    for (; i < n; i++) {
        float d = toondb_f16_to_f32(a[i]) - toondb_f16_to_f32(b[i]);
        sum += d * d;
    }
    return sum;
}

#if defined(__x86_64__)
__attribute__((target("avx2")))
static int32_t hsum256_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

// Sign-extend 16 bytes to 16-bit lanes, multiply pairwise and add adjacent products into 32-bit
// lanes (vpmaddwd): 16 components per step.
__attribute__((target("avx2")))
static int32_t dot_i8_avx2(const int8_t *a, const int8_t *b, size_t n) {
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i a0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256i b0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + i)));
        __m256i a1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + i + 16)));
        __m256i b1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + i + 16)));
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(a0, b0));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(a1, b1));
    }
    int32_t sum = hsum256_epi32(_mm256_add_epi32(acc0, acc1));
    for (; i < n; i++) sum += (int32_t)a[i] * (int32_t)b[i];
    return sum;
}

__attribute__((target("avx2")))
static int32_t l2_i8_avx2(const int8_t *a, const int8_t *b, size_t n) {
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i d0 = _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + i))),
                                      _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + i))));
        __m256i d1 = _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + i + 16))),
                                      _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + i + 16))));
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(d0, d0));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(d1, d1));
    }
    int32_t sum = hsum256_epi32(_mm256_add_epi32(acc0, acc1));
    for (; i < n; i++) {
        int32_t d = (int32_t)a[i] - (int32_t)b[i];
        sum += d * d;
    }
    return sum;
}

__attribute__((target("avx2,fma,f16c")))
static float dot_f16_avx2(const uint16_t *a, const uint16_t *b, size_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i))),
                               _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + i))), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i + 8))),
                               _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + i + 8))), acc1);
    }
    float sum = hsum256(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++) sum += toondb_f16_to_f32(a[i]) * toondb_f16_to_f32(b[i]);
    return sum;
}

__attribute__((target("avx2,fma,f16c")))
static float l2_f16_avx2(const uint16_t *a, const uint16_t *b, size_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i))),
                                  _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + i))));
        __m256 d1 = _mm256_sub_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i + 8))),
                                  _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + i + 8))));
        acc0 = _mm256_fmadd_ps(d0, d0, acc0);
        acc1 = _mm256_fmadd_ps(d1, d1, acc1);
    }
    float sum = hsum256(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++) {
        float d = toondb_f16_to_f32(a[i]) - toondb_f16_to_f32(b[i]);
        sum += d * d;
    }
    return sum;
}

__attribute__((target("avx2,f16c")))
static void f32_to_f16_f16c(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(dst + i), h);
    }
    f32_to_f16_baseline(src + i, dst + i, n - i);
}

__attribute__((target("avx512f,avx512bw")))
static int32_t dot_i8_avx512(const int8_t *a, const int8_t *b, size_t n) {
    __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512i a0 = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(a + i)));
        __m512i b0 = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(b + i)));
        __m512i a1 = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(a + i + 32)));
        __m512i b1 = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(b + i + 32)));
        acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(a0, b0));
        acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(a1, b1));
    }
    for (; i + 32 <= n; i += 32) {
        __m512i a0 = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(a + i)));
        __m512i b0 = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(b + i)));
        acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(a0, b0));
    }
    int32_t sum = _mm512_reduce_add_epi32(_mm512_add_epi32(acc0, acc1));
    for (; i < n; i++) sum += (int32_t)a[i] * (int32_t)b[i];
    return sum;
}

__attribute__((target("avx512f,avx512bw")))
static int32_t l2_i8_avx512(const int8_t *a, const int8_t *b, size_t n) {
    __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512i d0 = _mm512_sub_epi16(_mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(a + i))),
                                      _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(b + i))));
        __m512i d1 = _mm512_sub_epi16(_mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(a + i + 32))),
                                      _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(b + i + 32))));
        acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(d0, d0));
        acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(d1, d1));
    }
    for (; i + 32 <= n; i += 32) {
        __m512i d0 = _mm512_sub_epi16(_mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(a + i))),
                                      _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(b + i))));
        acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(d0, d0));
    }
    int32_t sum = _mm512_reduce_add_epi32(_mm512_add_epi32(acc0, acc1));
    for (; i < n; i++) {
        int32_t d = (int32_t)a[i] - (int32_t)b[i];
        sum += d * d;
    }
    return sum;
}

__attribute__((target("avx512f")))
static float dot_f16_avx512(const uint16_t *a, const uint16_t *b, size_t n) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a + i))),
                               _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(b + i))), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a + i + 16))),
                               _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(b + i + 16))), acc1);
    }
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a + i))),
                               _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(b + i))), acc0);
    }
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    for (; i < n; i++) sum += toondb_f16_to_f32(a[i]) * toondb_f16_to_f32(b[i]);
    return sum;
}

__attribute__((target("avx512f")))
static float l2_f16_avx512(const uint16_t *a, const uint16_t *b, size_t n) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 d0 = _mm512_sub_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a + i))),
                                  _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(b + i))));
        __m512 d1 = _mm512_sub_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a + i + 16))),
                                  _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(b + i + 16))));
        acc0 = _mm512_fmadd_ps(d0, d0, acc0);
        acc1 = _mm512_fmadd_ps(d1, d1, acc1);
    }
    for (; i + 16 <= n; i += 16) {
        __m512 d0 = _mm512_sub_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a + i))),
                                  _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(b + i))));
        acc0 = _mm512_fmadd_ps(d0, d0, acc0);
    }
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    for (; i < n; i++) {
        float d = toondb_f16_to_f32(a[i]) - toondb_f16_to_f32(b[i]);
        sum += d * d;
    }
    return sum;
}
#endif

typedef float (*kernel)(const float *, const float *, size_t);
typedef int32_t (*i8_kernel)(const int8_t *, const int8_t *, size_t);
typedef float (*f16_kernel)(const uint16_t *, const uint16_t *, size_t);

static kernel dot_kernel = dot_baseline;
static kernel l2_kernel = l2_baseline;
static i8_kernel dot_i8_kernel = dot_i8_baseline;
static i8_kernel l2_i8_kernel = l2_i8_baseline;
static f16_kernel dot_f16_kernel = dot_f16_baseline;
static f16_kernel l2_f16_kernel = l2_f16_baseline;
static void (*f32_to_f16_kernel)(const float *, uint16_t *, size_t) = f32_to_f16_baseline;
static const char *kernel_name = "baseline";

// Runs when the library or executable is loaded, before any Swift code can call a kernel.
__attribute__((constructor))
static void choose_kernels(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c")) f32_to_f16_kernel = f32_to_f16_f16c;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) {
        dot_kernel = dot_avx512;
        l2_kernel = l2_avx512;
        dot_i8_kernel = dot_i8_avx512;
        l2_i8_kernel = l2_i8_avx512;
        dot_f16_kernel = dot_f16_avx512;
        l2_f16_kernel = l2_f16_avx512;
        kernel_name = "avx512";
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        dot_kernel = dot_avx2;
        l2_kernel = l2_avx2;
        dot_i8_kernel = dot_i8_avx2;
        l2_i8_kernel = l2_i8_avx2;
        // Every CPU with AVX2 and FMA has F16C (Intel since Ivy Bridge, AMD since Piledriver),
        // but ask anyway.
        if (__builtin_cpu_supports("f16c")) {
            dot_f16_kernel = dot_f16_avx2;
            l2_f16_kernel = l2_f16_avx2;
        }
        kernel_name = "avx2";
    }
#endif
}

float toondb_dot(const float *a, const float *b, size_t count) { return dot_kernel(a, b, count); }

float toondb_squared_l2(const float *a, const float *b, size_t count) { return l2_kernel(a, b, count); }

const char *toondb_vector_kernels(void) { return kernel_name; }

int32_t toondb_dot_i8(const int8_t *a, const int8_t *b, size_t count) { return dot_i8_kernel(a, b, count); }

int32_t toondb_squared_l2_i8(const int8_t *a, const int8_t *b, size_t count) { return l2_i8_kernel(a, b, count); }

float toondb_dot_f16(const uint16_t *a, const uint16_t *b, size_t count) { return dot_f16_kernel(a, b, count); }

float toondb_squared_l2_f16(const uint16_t *a, const uint16_t *b, size_t count) { return l2_f16_kernel(a, b, count); }

void toondb_f32_to_f16(const float *src, uint16_t *dst, size_t count) { f32_to_f16_kernel(src, dst, count); }

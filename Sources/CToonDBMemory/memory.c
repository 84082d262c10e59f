#include "toondb_memory.h"
#include <stdint.h>
#include <string.h>

void toondb_copy_in_order(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, s, 8);
        memcpy(d, &word, 8);
        __asm__ __volatile__("" ::: "memory");  /* keep this store before the next */
        d += 8;
        s += 8;
        n -= 8;
    }
    while (n--) {
        *d++ = *s++;
        __asm__ __volatile__("" ::: "memory");
    }
}

// A software prefetch for Swift, which has no intrinsic for it: the memtable's interleaved
// skiplist searches and the vector index's graph walk use it to overlap cache misses.
#ifndef TOONDB_PREFETCH_H
#define TOONDB_PREFETCH_H

#include <stddef.h>

// Asks the CPU to bring `length` bytes at `address` into cache (a hint: never faults).
static inline void toondb_prefetch(const void *address, size_t length) {
    const char *p = (const char *)address;
    for (size_t offset = 0; offset < length; offset += 64) {
        __builtin_prefetch(p + offset, 0, 3);
    }
}

#endif

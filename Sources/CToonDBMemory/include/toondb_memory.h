#ifndef TOONDB_MEMORY_H
#define TOONDB_MEMORY_H
#include <stddef.h>

/// Copies `n` bytes from `src` to `dst` strictly front to back, one store after another (a
/// compiler barrier between stores). Used for WAL appends into a shared mapping: if the
/// process is killed mid-copy, the file holds a prefix of the bytes, as after a cut-short
/// write. `memcpy` gives no such promise (glibc stores a copy's last vectors before its
/// middle), and a complete later record after a torn one reads as corruption at recovery.
void toondb_copy_in_order(void *dst, const void *src, size_t n);

#endif

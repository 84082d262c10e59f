#ifndef TOONDB_URING_H
#define TOONDB_URING_H
// Opaque io_uring shim: <liburing.h> is included only in the .c file (see docs/io.md).
#include <stdint.h>
int toondb_uring_available(void);
#endif

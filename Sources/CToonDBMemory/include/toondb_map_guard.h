#ifndef TOONDB_MAP_GUARD_H
#define TOONDB_MAP_GUARD_H
#include <stddef.h>
#include <stdint.h>

/// A guard for read-only file mappings (tables read in place). A load from a mapped page
/// the kernel cannot supply (a media error, or the file truncated under the mapping) raises
/// SIGBUS, which would kill the process. Inside a registered range, the guard's SIGBUS handler
/// instead replaces the page with a page of zeros, counts the fault for the range and returns,
/// so the load completes (reading zeros) and the reader, seeing the count change, reports an
/// I/O error. A SIGBUS anywhere else goes to the handler that was installed before the guard
/// (by default, the process dies of it as it would have).
///
/// The handler is installed at the first registration.

/// Registers `length` bytes at `start` (page-aligned, mapped read-only). Returns a slot
/// number, or -1 when every slot is taken (the caller should not read the mapping then).
int toondb_map_guard_register(const void *start, size_t length);

/// Faults absorbed in the slot's range so far (0 while every load was served).
uint64_t toondb_map_guard_faults(int slot);

/// Loads one byte of every page from `start` through `start + length - 1`, so that a fault
/// on any of them happens now (and is counted) rather than later.
void toondb_map_guard_touch(const void *start, size_t length);

/// Forgets the slot's range; call before unmapping it.
void toondb_map_guard_unregister(int slot);

#endif

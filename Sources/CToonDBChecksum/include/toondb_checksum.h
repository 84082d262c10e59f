#ifndef TOONDB_CHECKSUM_H
#define TOONDB_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected), the checksum of every
/// on-disk record and block. `crc` is the running value: pass 0 to start, or a
/// previous result to extend it over more bytes. Uses SSE4.2 when the CPU has it.
uint32_t toondb_crc32c_extend(uint32_t crc, const void *data, size_t length);

/// 1 when the hardware (SSE4.2) path is in use, else 0.
int toondb_crc32c_hardware(void);

#endif

// Compile-time checks that the structs keep ToonDB's C ABI layout (docs/c-abi.md).
#include "toondb.h"

_Static_assert(sizeof(C_TxnHandle) == 16, "C_TxnHandle is 16 bytes");
_Static_assert(sizeof(C_CommitResult) == 16, "C_CommitResult is 16 bytes");
_Static_assert(sizeof(C_StorageStats) == 40, "C_StorageStats is 40 bytes");
_Static_assert(sizeof(C_DatabaseConfig) == 24, "C_DatabaseConfig is 24 bytes");
_Static_assert(__builtin_offsetof(C_DatabaseConfig, memtable_size_bytes) == 8, "memtable_size_bytes at offset 8");
_Static_assert(__builtin_offsetof(C_DatabaseConfig, group_commit) == 16, "group_commit at offset 16");
_Static_assert(sizeof(C_ByteSlice) == 16, "C_ByteSlice is 16 bytes");

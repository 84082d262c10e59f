/*
 * toondb.h: the C ABI of libtoondb_storage.so (embedded mode).
 *
 * Compatible with ToonDB's C ABI: same function names, struct layouts, return codes and
 * buffer formats (docs/c-abi.md states each one), plus extensions marked "ToonDB extension".
 *
 * Conventions
 * - All integers in buffers are little-endian.
 * - Inputs are borrowed for the duration of the call only.
 * - Every buffer handed out through an out-parameter belongs to the caller and is released
 *   with toondb_free_bytes(ptr, len) using the length that came with it; iterators are
 *   released with toondb_scan_free.
 * - No function aborts the process on bad input: NULL pointers, closed or unknown handles,
 *   finished transactions and oversized keys return an error code, and
 *   toondb_last_error() then describes the failure (per thread).
 * - One database handle may be used from many threads at once. A transaction is meant for
 *   one thread at a time (concurrent use is safe but its result order is unspecified).
 * - A C_TxnHandle with txn_id == 0 means "no transaction": the call reads the latest
 *   committed state or commits its write on its own (auto-commit). ToonDB extension.
 */
#ifndef TOONDB_H
#define TOONDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An open database. Opaque; never dereference it. */
typedef struct ToonDBDatabase ToonDBDatabase;
/* An open scan. Opaque; never dereference it. */
typedef struct ToonDBScan ToonDBScan;

/* A transaction, passed by value. txn_id == 0 from toondb_begin_txn means begin failed. */
typedef struct C_TxnHandle {
    uint64_t txn_id;
    uint64_t snapshot_ts;
} C_TxnHandle;

/* The outcome of toondb_commit. */
typedef struct C_CommitResult {
    uint64_t commit_ts;  /* the commit LSN when error_code == 0 */
    int32_t error_code;  /* TOONDB_OK, TOONDB_ERROR or TOONDB_CONFLICT */
} C_CommitResult;

typedef struct C_StorageStats {
    uint64_t memtable_size_bytes;
    uint64_t wal_size_bytes;
    size_t active_transactions;
    uint64_t min_active_snapshot;  /* 0 when no transaction is active */
    uint64_t last_checkpoint_lsn;
} C_StorageStats;

/* Open-time configuration; a field is used only when its *_set flag is true
 * (memtable_size_bytes: when non-zero). */
typedef struct C_DatabaseConfig {
    bool wal_enabled;
    bool wal_enabled_set;
    uint8_t sync_mode;  /* 0 off, 1 normal, 2 full */
    bool sync_mode_set;
    uint64_t memtable_size_bytes;  /* 0 = default */
    bool group_commit;
    bool group_commit_set;
    uint8_t default_index_policy;  /* 0 write-optimized, 1 balanced, 2 scan-optimized, 3 append-only */
    bool default_index_policy_set;
} C_DatabaseConfig;

/* A borrowed byte buffer (the input of toondb_put_many). */
typedef struct C_ByteSlice {
    const uint8_t *data;
    size_t len;
} C_ByteSlice;

/* Return codes. */
enum {
    TOONDB_OK = 0,
    TOONDB_NOT_FOUND = 1, /* toondb_get, toondb_get_path */
    TOONDB_DONE = 1,      /* toondb_scan_next, toondb_scan_batch */
    TOONDB_ERROR = -1,
    TOONDB_CONFLICT = -2  /* C_CommitResult.error_code */
};

/* Error codes of toondb_last_error_code() (stable; the engine's StorageError codes). */
enum {
    TOONDB_E_INVALID_ARGUMENT = 1,
    TOONDB_E_KEY_TOO_LARGE = 2,
    TOONDB_E_VALUE_TOO_LARGE = 3,
    TOONDB_E_CONFLICT = 4,
    TOONDB_E_TRANSACTION_CLOSED = 5,
    TOONDB_E_DATABASE_CLOSED = 6,
    TOONDB_E_LOCKED = 7,
    TOONDB_E_CORRUPTION = 8,
    TOONDB_E_IO = 9,
    TOONDB_E_DISK_FULL = 10,
    TOONDB_E_WRITES_STOPPED = 11,
    TOONDB_E_INTERNAL = 12
};

/* Opening and closing. */
ToonDBDatabase *toondb_open(const char *path);
ToonDBDatabase *toondb_open_with_config(const char *path, C_DatabaseConfig config);
/* ToonDB extension: every engine option, as "name=value" pairs separated by ';' or newlines
 * (docs/c-abi.md lists the names). NULL or "" = defaults. */
ToonDBDatabase *toondb_open_with_options(const char *path, const char *options);
/* Flushes what the WAL alone holds when the WAL is disabled, syncs, releases the directory.
 * Later calls with this handle fail cleanly; closing twice does nothing. */
void toondb_close(ToonDBDatabase *db);

/* Transactions (snapshot isolation, first committer wins). */
C_TxnHandle toondb_begin_txn(ToonDBDatabase *db);
C_CommitResult toondb_commit(ToonDBDatabase *db, C_TxnHandle txn);
int toondb_abort(ToonDBDatabase *db, C_TxnHandle txn);

/* Single-key operations. */
int toondb_put(ToonDBDatabase *db, C_TxnHandle txn, const uint8_t *key, size_t key_len,
               const uint8_t *value, size_t value_len);
int toondb_get(ToonDBDatabase *db, C_TxnHandle txn, const uint8_t *key, size_t key_len,
               uint8_t **value_out, size_t *len_out);
int toondb_delete(ToonDBDatabase *db, C_TxnHandle txn, const uint8_t *key, size_t key_len);
/* ToonDB extension: get without an allocation. Returns the value's length (>= 0) when found,
 * copying it into buf when it fits in capacity (otherwise nothing is copied: call again with a
 * larger buffer); TOONDB_NOT_FOUND_LEN (-1) when missing; TOONDB_ERROR_LEN (-2) on error. */
#define TOONDB_NOT_FOUND_LEN (-1)
#define TOONDB_ERROR_LEN (-2)
int64_t toondb_get_into(ToonDBDatabase *db, C_TxnHandle txn, const uint8_t *key, size_t key_len,
                        uint8_t *buf, size_t capacity);

/* ToonDB extension: put, get_into and delete with lengths as C int, for FFI layers that pass
 * plain integers as int (ctypes without argtypes, which halves its call cost); negative
 * lengths are errors. Otherwise identical to the size_t versions. */
int toondb_put32(ToonDBDatabase *db, C_TxnHandle txn, const uint8_t *key, int key_len,
                 const uint8_t *value, int value_len);
int64_t toondb_get_into32(ToonDBDatabase *db, C_TxnHandle txn, const uint8_t *key, int key_len,
                          uint8_t *buf, int capacity);
int toondb_delete32(ToonDBDatabase *db, C_TxnHandle txn, const uint8_t *key, int key_len);

/* Paths: segments joined by '/', each non-empty and free of NUL. */
int toondb_put_path(ToonDBDatabase *db, C_TxnHandle txn, const char *path,
                    const uint8_t *value, size_t value_len);
int toondb_get_path(ToonDBDatabase *db, C_TxnHandle txn, const char *path,
                    uint8_t **value_out, size_t *len_out);
/* ToonDB extension. */
int toondb_delete_path(ToonDBDatabase *db, C_TxnHandle txn, const char *path);

/* Scans: [start, end) with an empty bound meaning open, or every key with a prefix. Inside a
 * transaction a scan sees the snapshot plus the transaction's own writes. */
ToonDBScan *toondb_scan(ToonDBDatabase *db, C_TxnHandle txn, const uint8_t *start, size_t start_len,
                        const uint8_t *end, size_t end_len);
ToonDBScan *toondb_scan_prefix(ToonDBDatabase *db, C_TxnHandle txn, const uint8_t *prefix, size_t prefix_len);
int toondb_scan_next(ToonDBScan *it, uint8_t **key_out, size_t *key_len, uint8_t **value_out, size_t *value_len);
/* Buffer: count u32, is_done u8, {key_len u32, value_len u32, key, value}*count. */
int toondb_scan_batch(ToonDBScan *it, size_t max_items, uint8_t **out, size_t *out_len);
/* ToonDB extension: up to max_items pairs handed to visit in place (valid during the call
 * only); visit returns 0 to go on. Returns the pairs visited, *done = 1 when exhausted; -1 on
 * error. */
typedef int (*toondb_scan_visitor)(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len);
int64_t toondb_scan_visit(ToonDBScan *it, size_t max_items, toondb_scan_visitor visit, void *ctx, uint8_t *done);
void toondb_scan_free(ToonDBScan *it);

/* Batches, all or nothing: outside a transaction as one commit, inside one all operations
 * are added or none. put_many: n u32, {key_len u32, value_len u32, key, value}*n. get_many in: n u32, {key_len u32, key}*n; out: n u32,
 * {status u8 (0 found, 1 missing, 2 error), [value_len u32, value]}*n. delete_many: n u32,
 * {key_len u32, key}*n. */
int64_t toondb_put_many(ToonDBDatabase *db, C_TxnHandle txn, C_ByteSlice batch);
int toondb_get_many(ToonDBDatabase *db, C_TxnHandle txn, const uint8_t *keys, size_t keys_len,
                    uint8_t **out, size_t *out_len);
int64_t toondb_delete_many(ToonDBDatabase *db, C_TxnHandle txn, const uint8_t *keys, size_t keys_len);

/* Vector collections (docs/vector-collections.md). Errors: -1 with toondb_last_error_code()
 * 20-26 (invalid argument, not found, exists, wrong dimension, invalid vector, invalid
 * metadata, corrupt record) or an engine code. metric: "cosine", "ip" or "l2". Insert metadata:
 * empty for none, else count entries of {len u32 LE, JSON object}. Search format 0 returns
 * {count u32, {id u64, distance f32, metadata_len u32, metadata JSON}*count} (little-endian),
 * format 1 TOON text; ef_search 0 = the collection's default; an empty filter is none. */
int toondb_collection_create(ToonDBDatabase *db, const char *name, uint32_t dimension, const char *metric,
                             uint32_t m, uint32_t ef_construction, uint32_t ef_search);
/* As toondb_collection_create, with the index's encoding: "f32" (NULL), "f16" or "int8". */
int toondb_collection_create_encoded(ToonDBDatabase *db, const char *name, uint32_t dimension, const char *metric,
                                     uint32_t m, uint32_t ef_construction, uint32_t ef_search, const char *encoding);
int toondb_collection_drop(ToonDBDatabase *db, const char *name);
int toondb_collection_list(ToonDBDatabase *db, uint8_t **out, size_t *out_len);  /* JSON array */
int toondb_collection_info(ToonDBDatabase *db, const char *name, uint8_t **out, size_t *out_len);  /* JSON */
int64_t toondb_collection_insert(ToonDBDatabase *db, const char *name, const uint64_t *ids, size_t count,
                                 const float *vectors, size_t dimension, const uint8_t *metadata,
                                 size_t metadata_len);  /* the commit LSN */
int toondb_collection_delete(ToonDBDatabase *db, const char *name, uint64_t id);  /* 0, or 1 missing */
int toondb_collection_get(ToonDBDatabase *db, const char *name, uint64_t id, uint8_t **out,
                          size_t *out_len);  /* 0 with the item record, or 1 missing */
int toondb_collection_search(ToonDBDatabase *db, const char *name, const float *query, size_t dimension,
                             uint32_t k, uint32_t ef_search, const uint8_t *filter, size_t filter_len,
                             uint32_t format, uint8_t **out, size_t *out_len);

/* Maintenance and introspection. */
uint64_t toondb_checkpoint(ToonDBDatabase *db);  /* the checkpoint LSN; 0 on error */
/* ToonDB extension: the same, with errors told apart from LSN 0 (an empty database). */
int toondb_checkpoint_lsn(ToonDBDatabase *db, uint64_t *lsn_out);
C_StorageStats toondb_stats(ToonDBDatabase *db);
/* ToonDB extension: every engine statistic as one JSON object (UTF-8, not NUL-terminated). */
int toondb_stats_json(ToonDBDatabase *db, uint8_t **out, size_t *out_len);
int toondb_set_table_index_policy(ToonDBDatabase *db, const char *table, uint8_t policy);
uint8_t toondb_get_table_index_policy(ToonDBDatabase *db, const char *table);  /* 255 on error */

/* Memory. */
void toondb_free_bytes(uint8_t *ptr, size_t len);

/* ToonDB extension: errors and version. The message describes the last failure on the calling
 * thread and stays valid until that thread's next failing call; never NULL. */
const char *toondb_last_error(void);
int32_t toondb_last_error_code(void);  /* 0 when this thread has had no failure */
const char *toondb_version(void);

#ifdef __cplusplus
}
#endif

#endif /* TOONDB_H */

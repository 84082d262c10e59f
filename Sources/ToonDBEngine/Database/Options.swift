import Logging
import ToonDBFormat
import ToonDBIO

/// When a commit counts as durable.
public enum SyncMode: String, Sendable, CaseIterable {
    /// Never fsync (the OS writes back when it likes): a crash of the machine may lose recent
    /// commits; a crash of the process loses nothing.
    case off
    /// fsync the WAL every ``DatabaseOptions/syncInterval`` seconds: a machine crash loses at
    /// most that window.
    case normal
    /// fsync before acknowledging each commit (batched by group commit). The default.
    case full
}

/// How a database is opened. Every field is honoured.
public struct DatabaseOptions: Sendable {
    public var syncMode: SyncMode = .full
    /// Interval of the background WAL sync in sync mode `normal`, in seconds.
    public var syncInterval: Double = 0.1
    /// Log every commit to the WAL before applying it. With false, commits live only in the
    /// memtable until a flush: a crash (of the process or the machine) loses everything
    /// written since the last flush or checkpoint; ``Database/close()`` flushes first, so a
    /// clean close loses nothing. For bulk loads that can be redone.
    public var walEnabled = true
    /// Batch concurrent committers into one WAL write and one sync. With false, each commit
    /// is written (and synced) on its own.
    public var groupCommit = true
    /// Create the directory and an empty database when none exists.
    public var createIfMissing = true
    /// Memtable size that triggers a flush to an SSTable.
    public var memtableSize = 64 << 20
    /// Memtables waiting to be flushed before writers wait (back-pressure).
    public var maxImmutableMemtables = 2
    /// Largest value accepted, in bytes.
    public var maxValueSize = 16 << 20
    /// Keys are limited to 64 KiB.
    public static let maxKeySize = 64 << 10
    /// Target uncompressed size of SSTable data blocks.
    public var blockSize = 4096
    /// Capacity of the shared block cache, in bytes. 128 MiB, the default of PostgreSQL's
    /// shared_buffers and InnoDB's buffer pool: 1M random reads of a 105 MB database ran
    /// 1.3–1.5× faster than with 64 MiB (321,856 block misses against 25,004; BENCHMARKS.md).
    public var blockCacheSize = 128 << 20
    /// Capacity of the row cache, in bytes (0 turns it off): the tables' answers for keys read
    /// at least twice, so that a repeated point read of a key that is not in a memtable skips
    /// the table search (see ``RowCache``). Pipelined GETs of 100k keys after 3M SETs: the
    /// server answered ~1.2M/s without it (BENCHMARKS.md).
    public var rowCacheSize = 16 << 20
    /// Bloom filter bits per key.
    public var bloomBitsPerKey = 10
    /// Tables kept open at once (file descriptors).
    public var maxOpenTables = 1000
    /// Level-0 table counts that start compaction, slow writers by 1 ms each, and stop them.
    public var level0CompactionTrigger = 4
    public var level0SlowdownTrigger = 8
    public var level0StopTrigger = 12
    /// Size limit of level 1; each deeper level is ``levelSizeMultiplier`` times larger.
    public var level1MaxBytes: Int64 = 256 << 20
    public var levelSizeMultiplier: Int64 = 10
    /// Size at which compaction output tables are cut.
    public var targetTableSize: Int64 = 64 << 20
    /// WAL segment size.
    public var walSegmentSize: Int64 = 64 << 20
    /// Small WAL appends are stored into a shared mapping of the preallocated segment instead
    /// of written with `pwrite` (the same page-cache pages, no system call per commit; see
    /// docs/wal-format.md). Off: every append is written through the I/O backend.
    public var walMappedAppends = true
    /// Point lookups read SSTable data blocks in place from a read-only mapping of the file
    /// instead of through the block cache (see `MappedBlocks` and docs/io.md): 12–23% faster
    /// random gets when the data is in the page cache. A page the kernel cannot read is an I/O
    /// error, not a crash. Off: every lookup reads through the block cache and the I/O backend.
    public var tableMappedReads = true
    /// Leader epoch (term) stamped on WAL records.
    public var epoch: UInt64 = 0
    /// I/O backend: automatic (io_uring when allowed), io_uring or posix. `TOONDB_IO` overrides.
    public var ioBackend: IOBackendSelector.Preference = .automatic
    /// Run flushes and compactions on a background thread (off only in tests that drive them).
    public var backgroundWork = true
    public var logger = Logger(label: "toondb.engine")

    public init() {}
}

extension DatabaseOptions {
    /// Throws ``StorageError/Code/invalidArgument`` naming the first field out of range;
    /// `name` maps a field's Swift name to what the caller calls it (a configuration key).
    public func validate(naming name: (String) -> String = { $0 }) throws(StorageError) {
        func require(_ condition: Bool, _ field: String, _ rule: String, _ value: Any) throws(StorageError) {
            if !condition { throw .invalidArgument("invalid option \(name(field)) = \(value): \(rule)") }
        }
        try require(memtableSize >= 4096, "memtableSize", "must be at least 4096 bytes", memtableSize)
        try require(maxImmutableMemtables >= 1, "maxImmutableMemtables", "must be at least 1", maxImmutableMemtables)
        try require(maxValueSize >= 0 && maxValueSize <= 1 << 30, "maxValueSize", "must be between 0 and 1 GiB", maxValueSize)
        try require(blockSize >= 256 && blockSize <= 16 << 20, "blockSize", "must be between 256 bytes and 16 MiB", blockSize)
        try require(blockCacheSize >= 0, "blockCacheSize", "must not be negative", blockCacheSize)
        try require(rowCacheSize >= 0, "rowCacheSize", "must not be negative", rowCacheSize)
        try require(bloomBitsPerKey >= 0 && bloomBitsPerKey <= 64, "bloomBitsPerKey", "must be between 0 and 64", bloomBitsPerKey)
        try require(maxOpenTables >= 1, "maxOpenTables", "must be at least 1", maxOpenTables)
        try require(level0CompactionTrigger >= 1, "level0CompactionTrigger", "must be at least 1", level0CompactionTrigger)
        try require(level0SlowdownTrigger >= level0CompactionTrigger, "level0SlowdownTrigger",
                    "must be at least level0CompactionTrigger (\(level0CompactionTrigger))", level0SlowdownTrigger)
        try require(level0StopTrigger >= level0SlowdownTrigger, "level0StopTrigger",
                    "must be at least level0SlowdownTrigger (\(level0SlowdownTrigger))", level0StopTrigger)
        try require(level1MaxBytes >= 4096, "level1MaxBytes", "must be at least 4096 bytes", level1MaxBytes)
        try require(levelSizeMultiplier >= 2, "levelSizeMultiplier", "must be at least 2", levelSizeMultiplier)
        try require(targetTableSize >= 4096, "targetTableSize", "must be at least 4096 bytes", targetTableSize)
        try require(walSegmentSize >= 4096, "walSegmentSize", "must be at least 4096 bytes", walSegmentSize)
        try require(syncInterval > 0 && syncInterval.isFinite, "syncInterval", "must be a positive number of seconds", syncInterval)
    }
}

import CToonDBMemory
import Synchronization
import ToonDBFormat
import ToonDBIO

/// A table's data blocks read in place from a read-only mapping of its file: the point-lookup
/// path when ``TableOptions/mapReads`` is on, as LevelDB reads its tables on 64-bit systems.
///
/// A lookup through the block cache pays for the cache itself (a lock, a hash probe, the LRU
/// update, reference counting, and cache misses on the entry and on the block object) before
/// it reaches the block's bytes; the kernel's page cache already holds those bytes, and a
/// mapping reaches them with a plain load. Replacing the cache on this path made 1M random gets
/// from Python 12–23% faster (BENCHMARKS.md).
///
/// Integrity is checked as on the read path: the first lookup to use a block checks its
/// trailer (type and CRC32C) and its restart array, and one bit per block (indexed by the
/// block's position in the index) records that it passed, so later lookups go straight to the
/// bytes. A block that fails is never marked and fails again on every lookup.
///
/// A page the kernel cannot read (an I/O error, the file truncated under us) reads as zeros
/// (see ``ReadOnlyFileMapping``): the lookup that met it throws an I/O error, and from then on
/// the table is read through the block cache and the I/O backend, which report such failures
/// as errors.
final class MappedBlocks: @unchecked Sendable {
    private let mapping: ReadOnlyFileMapping
    /// One bit per data block: set once the block passed its checks. Words are read and
    /// updated atomically; a lost race only means a block is checked twice.
    private let checked: UnsafeMutablePointer<Atomic<UInt64>>
    private let wordCount: Int
    private let path: String

    /// Maps `file` (`length` bytes) for `blockCount` data blocks, or returns nil when the
    /// kernel refuses the mapping (the caller reads through the block cache instead).
    init?(_ file: borrowing File, length: Int64, blockCount: Int) {
        guard length > 0, let mapping = try? ReadOnlyFileMapping(file, length: Int(length)) else { return nil }
        self.mapping = mapping
        path = file.path
        wordCount = Swift.max(1, (blockCount + 63) / 64)
        checked = .allocate(capacity: wordCount)
        for i in 0..<wordCount { (checked + i).initialize(to: Atomic(0)) }
    }

    deinit {
        checked.deinitialize(count: wordCount)
        checked.deallocate()
    }

    /// Whether every load from the mapping was served so far; once one was not, its page
    /// reads as zeros and the mapping must not be used again.
    @inline(__always)
    var isIntact: Bool { mapping.faults == 0 }

    /// Runs `read` with the data block at `handle` (checked against the file by the caller),
    /// the `ordinal`-th in the index, checking the block first if no lookup has yet. `read`
    /// passes what it found to `deliver`, which calls the caller's body only when every byte
    /// read so far was served. Throws an I/O error when one was not.
    @inline(__always)
    func read<R>(_ handle: BlockHandle, ordinal: Int,
                 _ read: (BlockBytes, _ deliver: (BorrowedLookup) -> Bool) throws(StorageError) -> R) throws(StorageError) -> R {
        // Faults are only ever counted up: once the mapping is not intact it stays so, and the
        // check after `read` also covers a fault met before `deliver` or while `body` copied.
        let result: R
        do throws(StorageError) {
            result = try read(try block(handle, ordinal: ordinal)) { found in
                // The value is copied out by the caller's body: fault its pages in first.
                if case .value(let value, _) = found, let start = value.baseAddress { toondb_map_guard_touch(start, value.count) }
                return isIntact
            }
        } catch {
            // A page of zeros fails the checks: report what really happened.
            if !isIntact { throw unreadable(handle) }
            throw error
        }
        if !isIntact { throw unreadable(handle) }
        return result
    }

    private func unreadable(_ handle: BlockHandle) -> StorageError {
        StorageError(.io, "reading table \(path): the data block at offset \(handle.offset) could not be read through the file's mapping (an I/O error, or the file was truncated); the table is read with the I/O backend from now on")
    }

    /// The data block at `handle`, checked the first time it is read.
    @inline(__always)
    private func block(_ handle: BlockHandle, ordinal: Int) throws(StorageError) -> BlockBytes {
        let base = mapping.base + Int(handle.offset)
        let size = Int(handle.size)
        let word = ordinal >> 6
        let bit = UInt64(1) << UInt64(ordinal & 63)
        if word < wordCount, checked[word].load(ordering: .relaxed) & bit != 0 {
            // Checked before: the file does not change, so its restart array is still valid.
            let count = Int(loadFixed32(base, size &- 4))
            let restartsOffset = size &- 4 &- 4 &* count
            return BlockBytes(base: base, size: size, layout: (restartsOffset, restartsOffset == 0 ? 0 : count),
                              fileOffset: Int64(handle.offset))
        }
        try verifyBlockTrailer(base, size: size, path: path, offset: Int64(handle.offset), what: "data")
        guard let layout = Block.validate(base, size: size) else {
            throw .corruption("data block has a malformed restart array (\(size) bytes)", path: path, offset: Int64(handle.offset))
        }
        // Marked only when every load of the check was served (a zeroed page fails the CRC
        // anyway; this keeps the rule obvious).
        if word < wordCount, isIntact { checked[word].bitwiseOr(bit, ordering: .relaxed) }
        return BlockBytes(base: base, size: size, layout: layout, fileOffset: Int64(handle.offset))
    }
}

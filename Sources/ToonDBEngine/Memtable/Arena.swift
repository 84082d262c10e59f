import Atomics
import Synchronization

/// Bump allocator for memtable nodes: memory is freed all at once when the memtable goes.
/// Only the memtable's single writer allocates; `memoryUsage` may be read from any thread.
final class Arena: @unchecked Sendable {
    static let blockSize = 1 << 20
    /// Blocks of `blockSize` (they go back to the pool), and blocks of single large entries.
    private var blocks: [UnsafeMutableRawPointer] = []
    private var largeBlocks: [UnsafeMutableRawPointer] = []
    private var cursor: UnsafeMutableRawPointer? = nil
    private var remaining = 0
    private let usage = ManagedAtomic<Int>(0)

    /// Bytes handed out (what the memtable's contents occupy, including node overhead).
    var memoryUsage: Int { usage.load(ordering: .relaxed) }

    /// `size` bytes aligned to 8.
    func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        let rounded = (size + 7) & ~7
        if rounded > remaining {
            if rounded > Self.blockSize / 4 {
                // Large entries get their own block so the current block's tail is not wasted.
                let block = UnsafeMutableRawPointer.allocate(byteCount: rounded, alignment: 8)
                largeBlocks.append(block)
                usage.wrappingIncrement(by: rounded, ordering: .relaxed)
                return block
            }
            let block = ArenaBlockPool.take()
            blocks.append(block)
            cursor = block
            remaining = Self.blockSize
        }
        let result = cursor!
        cursor = result + rounded
        remaining -= rounded
        usage.wrappingIncrement(by: rounded, ordering: .relaxed)
        return result
    }

    deinit {
        ArenaBlockPool.give(blocks[...])
        for block in largeBlocks { block.deallocate() }
    }
}

/// Arena blocks of memtables that are gone, kept (up to ``capacity``) for the next ones.
///
/// A fresh block's pages are not mapped yet: a memtable filling new memory takes a page fault,
/// and the kernel zeroes a page, every 4 KiB, on the committing thread (a sixth of a
/// write-heavy server's event loop was in those faults). A recycled block is already mapped.
/// Process-wide, so every database in the process shares the bound.
enum ArenaBlockPool {
    /// 64 MiB: the blocks of one memtable of the default size.
    static let capacity = 64

    private struct Blocks: @unchecked Sendable {
        var free: [UnsafeMutableRawPointer] = []
    }

    private static let pool = Mutex(Blocks())

    static func take() -> UnsafeMutableRawPointer {
        pool.withLock { $0.free.popLast() } ?? UnsafeMutableRawPointer.allocate(byteCount: Arena.blockSize, alignment: 8)
    }

    static func give(_ blocks: ArraySlice<UnsafeMutableRawPointer>) {
        let kept: Int = pool.withLock { pool in
            let kept = min(blocks.count, capacity - pool.free.count)
            pool.free.append(contentsOf: blocks.prefix(kept))
            return kept
        }
        for block in blocks.dropFirst(kept) { block.deallocate() }
    }

    /// Blocks waiting for reuse (for tests).
    static var count: Int { pool.withLock { $0.free.count } }
}

import Atomics

/// Bump allocator for memtable nodes: memory is freed all at once when the memtable goes.
/// Only the memtable's single writer allocates; `memoryUsage` may be read from any thread.
final class Arena: @unchecked Sendable {
    private static let blockSize = 1 << 20
    private var blocks: [UnsafeMutableRawPointer] = []
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
                blocks.append(block)
                usage.wrappingIncrement(by: rounded, ordering: .relaxed)
                return block
            }
            let block = UnsafeMutableRawPointer.allocate(byteCount: Self.blockSize, alignment: 8)
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
        for block in blocks { block.deallocate() }
    }
}

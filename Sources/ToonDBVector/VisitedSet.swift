/// A set of node slots visited during one layer search, cleared in O(1).
///
/// Each slot holds the generation in which it was last marked; clearing bumps the generation
/// (the array is zeroed only when the 32-bit generation wraps). Sets are pooled by
/// ``HNSWIndex`` so a search does not allocate one per call.
final class VisitedSet {
    private(set) var capacity: Int
    private var marks: UnsafeMutablePointer<UInt32>
    private var generation: UInt32 = 1

    init(capacity: Int) {
        self.capacity = capacity
        marks = .allocate(capacity: max(capacity, 1))
        marks.initialize(repeating: 0, count: max(capacity, 1))
    }

    deinit { marks.deallocate() }

    /// Empties the set, making room for at least `capacity` slots.
    func reset(capacity needed: Int) {
        if needed > capacity {
            marks.deallocate()
            capacity = needed
            marks = .allocate(capacity: needed)
            marks.initialize(repeating: 0, count: needed)
            generation = 1
            return
        }
        generation &+= 1
        if generation == 0 {
            marks.update(repeating: 0, count: max(capacity, 1))
            generation = 1
        }
    }

    /// Marks `node`; returns `true` if it was not marked yet.
    @inline(__always)
    func insert(_ node: UInt32) -> Bool {
        let p = marks + Int(node)
        if p.pointee == generation { return false }
        p.pointee = generation
        return true
    }
}

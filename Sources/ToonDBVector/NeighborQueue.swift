/// A graph node (its slot in the index's storage) with a distance to some reference vector.
struct Neighbor {
    var distance: Float
    var node: UInt32
}

/// A binary max-heap of ``Neighbor`` by distance: the farthest element is on top.
///
/// Used for the bounded result set of a beam search (pop the farthest when it grows past `ef`).
/// The candidate queue of the beam search is the same heap keyed by the negated distance, see
/// ``CandidateQueue``.
///
/// Noncopyable, over one heap block it owns: pushes and pops are the innermost operations of
/// every search and insert, and an `Array` there paid for uniqueness and bounds checks on each
/// (about an eighth of a build's time in a profile).
struct FarthestFirstHeap: ~Copyable {
    private var items: UnsafeMutablePointer<Neighbor>
    private var capacity: Int
    private(set) var count = 0

    /// An empty heap with room for `capacity` elements (it grows past that if needed).
    init(capacity: Int) {
        self.capacity = max(capacity, 4)
        items = .allocate(capacity: self.capacity)
    }

    deinit { items.deallocate() }

    var isEmpty: Bool { count == 0 }
    /// The farthest element. - Precondition: not empty.
    var top: Neighbor { items[0] }

    @inline(__always)
    mutating func push(_ element: Neighbor) {
        if count == capacity { grow() }
        var child = count
        count += 1
        while child > 0 {
            let parent = (child - 1) >> 1
            if items[parent].distance >= element.distance { break }
            items[child] = items[parent]
            child = parent
        }
        items[child] = element
    }

    @inline(__always)
    @discardableResult
    mutating func pop() -> Neighbor {
        let top = items[0]
        count -= 1
        let n = count
        if n > 0 {
            let last = items[n]
            var parent = 0
            while true {
                var child = 2 * parent + 1
                if child >= n { break }
                if child + 1 < n && items[child + 1].distance > items[child].distance { child += 1 }
                if items[child].distance <= last.distance { break }
                items[parent] = items[child]
                parent = child
            }
            items[parent] = last
        }
        return top
    }

    private mutating func grow() {
        let bigger = UnsafeMutablePointer<Neighbor>.allocate(capacity: capacity * 2)
        bigger.moveInitialize(from: items, count: count)
        items.deallocate()
        items = bigger
        capacity *= 2
    }

    /// The elements sorted closest first (ties by node slot, so the order is deterministic).
    func sortedClosestFirst() -> [Neighbor] {
        UnsafeBufferPointer(start: items, count: count).sorted {
            $0.distance < $1.distance || ($0.distance == $1.distance && $0.node < $1.node)
        }
    }
}

/// A min-heap of ``Neighbor`` by distance (the closest element on top): the beam search's
/// queue of nodes still to expand.
struct CandidateQueue: ~Copyable {
    private var heap: FarthestFirstHeap

    init(capacity: Int) { heap = FarthestFirstHeap(capacity: capacity) }

    var isEmpty: Bool { heap.isEmpty }

    @inline(__always)
    mutating func push(_ element: Neighbor) {
        heap.push(Neighbor(distance: -element.distance, node: element.node))
    }

    /// Removes and returns the closest element. - Precondition: not empty.
    @inline(__always)
    mutating func pop() -> Neighbor {
        let e = heap.pop()
        return Neighbor(distance: -e.distance, node: e.node)
    }
}

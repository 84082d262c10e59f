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
struct FarthestFirstHeap {
    private(set) var items: [Neighbor] = []

    init(capacity: Int) { items.reserveCapacity(capacity) }

    var count: Int { items.count }
    var isEmpty: Bool { items.isEmpty }
    /// The farthest element. - Precondition: not empty.
    var top: Neighbor { items[0] }

    mutating func push(_ element: Neighbor) {
        items.append(element)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) >> 1
            if items[parent].distance >= element.distance { break }
            items[child] = items[parent]
            child = parent
        }
        items[child] = element
    }

    @discardableResult
    mutating func pop() -> Neighbor {
        let top = items[0]
        let last = items.removeLast()
        let n = items.count
        if n > 0 {
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

    /// The elements sorted closest first (ties by node slot, so the order is deterministic).
    func sortedClosestFirst() -> [Neighbor] {
        items.sorted { $0.distance < $1.distance || ($0.distance == $1.distance && $0.node < $1.node) }
    }
}

/// A min-heap of ``Neighbor`` by distance (the closest element on top): the beam search's
/// queue of nodes still to expand.
struct CandidateQueue {
    private var heap: FarthestFirstHeap

    init(capacity: Int) { heap = FarthestFirstHeap(capacity: capacity) }

    var isEmpty: Bool { heap.isEmpty }

    mutating func push(_ element: Neighbor) {
        heap.push(Neighbor(distance: -element.distance, node: element.node))
    }

    /// Removes and returns the closest element. - Precondition: not empty.
    mutating func pop() -> Neighbor {
        let e = heap.pop()
        return Neighbor(distance: -e.distance, node: e.node)
    }
}

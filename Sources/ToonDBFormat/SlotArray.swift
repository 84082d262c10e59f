/// Stores `element` at an index taken from `free` (indexes of `elements` no longer in use),
/// or appends it; returns the index. The caches keep their entries in one array this way, so
/// that a warm cache allocates no node per insert.
@inlinable
public func storeReusingFreeIndex<Element>(_ element: Element, in elements: inout [Element], free: inout [Int32]) -> Int32 {
    if let reused = free.popLast() {
        elements[Int(reused)] = element
        return reused
    }
    elements.append(element)
    return Int32(elements.count - 1)
}

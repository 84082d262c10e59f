extension GraphSearch {
    /// Makes every layer-0 node reachable from the entry point again; returns how many nodes
    /// needed a new incoming link.
    ///
    /// The neighbour-selection heuristic may prune a node out of every list that pointed to it,
    /// or leave a small group of nodes that only point at each other; a search can then never
    /// return them. Measured on 1,500 random 16-d vectors with M = 4: 4–5 such nodes per build,
    /// on one thread or four (parallel linking makes them likelier at larger M). ``HNSWIndex``
    /// runs this after large bulk inserts.
    ///
    /// A breadth-first walk of layer 0 from the entry point marks what a search can reach.
    /// Each unmarked node `x` is then searched for like an insert would (beam `ef` at layer 0,
    /// which only returns reachable nodes), and the closest result with a free slot gets a
    /// link to `x`; if all are full, `x` replaces the member farthest from the closest result
    /// among those that still have another incoming link, when `x` is closer. Whatever `x`
    /// reaches is then marked too. Lists are changed under their node's lock, so concurrent
    /// inserts stay safe (a node they add meanwhile is at worst left for the next repair).
    func repairUnreachable(count: Int, entry: UInt32, topLayer: Int, ef: Int, visited: VisitedSet,
                           buffer: UnsafeMutablePointer<UInt32>) -> Int {
        guard count > 1 else { return 0 }
        var reachable = [Bool](repeating: false, count: count)
        var indegree = [UInt32](repeating: 0, count: count)
        for n in 0..<count {
            let copied = copyLinks(UInt32(n), layer: 0, into: buffer)
            for i in 0..<copied where Int(buffer[i]) < count { indegree[Int(buffer[i])] += 1 }
        }
        func markReachable(from start: Int) {
            guard !reachable[start] else { return }
            reachable[start] = true
            var stack = [start]
            while let n = stack.popLast() {
                let copied = copyLinks(UInt32(n), layer: 0, into: buffer)
                for i in 0..<copied {
                    let m = Int(buffer[i])
                    if m < count && !reachable[m] {
                        reachable[m] = true
                        stack.append(m)
                    }
                }
            }
        }
        markReachable(from: Int(entry))

        var repaired = 0
        for x in 0..<count where !reachable[x] {
            let row = s.row(x)
            var current = Neighbor(distance: s.distance(row, node: entry), node: entry)
            var layer = topLayer
            while layer > 0 {
                current = greedyClosest(row, from: current, layer: layer, buffer: buffer)
                layer -= 1
            }
            let found = searchLayer(row, entries: [current], ef: ef, layer: 0, visited: visited,
                                    buffer: buffer, eligible: nil).sortedClosestFirst()
            let candidates = found.filter { Int($0.node) != x && Int($0.node) < count && reachable[Int($0.node)] }
            guard !candidates.isEmpty else { continue }
            if linkFromFreeSlot(x, candidates: candidates, indegree: &indegree)
                || linkByReplacing(x, from: candidates[0], count: count, indegree: &indegree) {
                repaired += 1
                markReachable(from: x)
            }
        }
        return repaired
    }

    /// Appends `x` to the first candidate's layer-0 list that has room.
    private func linkFromFreeSlot(_ x: Int, candidates: [Neighbor], indegree: inout [UInt32]) -> Bool {
        for y in candidates {
            let node = Int(y.node)
            locks.lock(node)
            defer { locks.unlock(node) }
            let list = s.links(node, layer: 0)
            let used = Int(list[0])
            if used < s.maxM0 {
                list[1 + used] = UInt32(x)
                list[0] = UInt32(used + 1)
                indegree[x] += 1
                return true
            }
        }
        return false
    }

    /// Puts `x` in `y`'s full layer-0 list in place of the member farthest from `y` that has
    /// another incoming link, if that member is farther from `y` than `x` is.
    private func linkByReplacing(_ x: Int, from y: Neighbor, count: Int, indegree: inout [UInt32]) -> Bool {
        let node = Int(y.node)
        locks.lock(node)
        defer { locks.unlock(node) }
        let list = s.links(node, layer: 0)
        let base = s.row(node)
        var victim = -1
        var victimDistance = y.distance
        for i in 0..<Int(list[0]) {
            let z = Int(list[1 + i])
            guard z < count, indegree[z] >= 2 else { continue }
            let d = s.distance(base, node: UInt32(z))
            if d > victimDistance {
                victim = i
                victimDistance = d
            }
        }
        guard victim >= 0 else { return false }
        indegree[Int(list[1 + victim])] -= 1
        list[1 + victim] = UInt32(x)
        indegree[x] += 1
        return true
    }
}

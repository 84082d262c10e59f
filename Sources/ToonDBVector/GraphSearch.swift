import CToonDBPrefetch
import CToonDBVectorKernels
/// The HNSW algorithms (Malkov & Yashunin, "Efficient and robust approximate nearest neighbor
/// search using Hierarchical Navigable Small World graphs", 2016/2018) over one snapshot of
/// ``GraphStorage``.
///
/// Adjacency lists are read and written only while holding their node's stripe in `locks`
/// (readers copy the list out, then unlock before computing distances); vectors, ids and
/// levels of a reachable node are immutable. The caller holds the index's structure lock for
/// reading, so the storage cannot move underneath.
struct GraphSearch {
    let s: GraphStorage
    let locks: MutexArray

    /// Copies node `n`'s adjacency list at `layer` into `buffer` (room for `maxM0`) under the
    /// node's lock; returns the number of slots copied.
    @inline(__always)
    func copyLinks(_ n: UInt32, layer: Int, into buffer: UnsafeMutablePointer<UInt32>) -> Int {
        let node = Int(n)
        locks.lock(node)
        let list = s.links(node, layer: layer)
        let count = Int(list[0])
        buffer.update(from: list + 1, count: count)
        locks.unlock(node)
        return count
    }

    /// Greedy descent at one layer (a beam of 1): moves to the closest neighbour while that
    /// improves on the current node.
    func greedyClosest(_ query: UnsafeRawPointer, from start: Neighbor, layer: Int,
                       buffer: UnsafeMutablePointer<UInt32>) -> Neighbor {
        var current = start
        var improved = true
        while improved {
            improved = false
            let count = copyLinks(current.node, layer: layer, into: buffer)
            for i in 0..<count {
                let n = buffer[i]
                let d = s.distance(query, node: n)
                if d < current.distance {
                    current = Neighbor(distance: d, node: n)
                    improved = true
                }
            }
        }
        return current
    }

    /// The ef-bounded beam search of one layer (the paper's SEARCH-LAYER).
    ///
    /// Every reached node is expanded as a candidate, but only nodes for which `eligible`
    /// returns true (all when `nil`) enter the result set: tombstoned or filtered-out nodes
    /// still route the search. The search stops when the closest unexpanded candidate is
    /// farther than the worst of `ef` results (so with a very selective filter it may visit
    /// much of the graph).
    func searchLayer(_ query: UnsafeRawPointer, entries: [Neighbor], ef: Int, layer: Int,
                     visited: VisitedSet, buffer: UnsafeMutablePointer<UInt32>,
                     eligible: ((UInt32) -> Bool)?) -> FarthestFirstHeap {
        visited.reset(capacity: s.capacity)
        var candidates = CandidateQueue(capacity: ef * 2)
        var results = FarthestFirstHeap(capacity: ef + 1)
        for e in entries where visited.insert(e.node) {
            candidates.push(e)
            if eligible?(e.node) ?? true {
                results.push(e)
                if results.count > ef { results.pop() }
            }
        }
        while !candidates.isEmpty {
            let c = candidates.pop()
            if results.count >= ef && c.distance > results.top.distance { break }
            let linked = copyLinks(c.node, layer: layer, into: buffer)
            // Keep only the neighbours not seen yet (compacted in place), then compute their
            // distances while the rows `prefetchDepth` ahead are on their way from memory: the
            // rows are scattered, and overlapping their cache misses is most of a build's speed.
            var fresh = 0
            for i in 0..<linked where visited.insert(buffer[i]) {
                buffer[fresh] = buffer[i]
                fresh &+= 1
            }
            let depth = Self.prefetchDepth
            for i in 0..<min(depth, fresh) { toondb_prefetch(s.row(Int(buffer[i])), s.rowBytes) }
            for i in 0..<fresh {
                if i &+ depth < fresh { toondb_prefetch(s.row(Int(buffer[i &+ depth])), s.rowBytes) }
                let n = buffer[i]
                let d = s.distance(query, node: n)
                if results.count < ef || d < results.top.distance {
                    let e = Neighbor(distance: d, node: n)
                    candidates.push(e)
                    if eligible?(n) ?? true {
                        results.push(e)
                        if results.count > ef { results.pop() }
                    }
                }
            }
        }
        return results
    }

    /// How many rows ahead the beam search prefetches. Measured building 30k random 768-d
    /// and 20k MiniLM vectors (f32 and int8, one thread): depth 1 (the row after this one) was
    /// 5–15% slower than 2–4, which were within noise of each other.
    static let prefetchDepth = 3

    /// The neighbour-selection heuristic (the paper's SELECT-NEIGHBORS-HEURISTIC without
    /// extending or keeping pruned candidates): walking `candidates` closest first, keep one
    /// only if it is closer to the base than to every neighbour kept so far; stop at `limit`.
    ///
    /// - Parameter candidates: sorted by distance to the base, closest first.
    func selectNeighbors(_ candidates: [Neighbor], limit: Int) -> [Neighbor] {
        var kept: [Neighbor] = []
        kept.reserveCapacity(limit)
        for c in candidates {
            if kept.count >= limit { break }
            let v = s.row(Int(c.node))
            var diverse = true
            for r in kept where s.distance(v, node: r.node) < c.distance {
                diverse = false
                break
            }
            if diverse { kept.append(c) }
        }
        return kept
    }

    /// Adds `newNode` (at distance `distance` from `node`) to `node`'s list at `layer`; when the
    /// list is full, re-selects it from its members plus `newNode` with the heuristic.
    func addLink(to node: UInt32, newNode: UInt32, distance: Float, layer: Int) {
        let n = Int(node)
        let limit = s.maxLinks(layer: layer)
        locks.lock(n)
        defer { locks.unlock(n) }
        let list = s.links(n, layer: layer)
        let count = Int(list[0])
        for i in 0..<count where list[1 + i] == newNode { return }
        if count < limit {
            list[1 + count] = newNode
            list[0] = UInt32(count + 1)
            return
        }
        let base = s.row(n)
        var pool: [Neighbor] = [Neighbor(distance: distance, node: newNode)]
        pool.reserveCapacity(count + 1)
        for i in 0..<count {
            let m = list[1 + i]
            pool.append(Neighbor(distance: s.distance(base, node: m), node: m))
        }
        pool.sort { $0.distance < $1.distance || ($0.distance == $1.distance && $0.node < $1.node) }
        let kept = selectNeighbors(pool, limit: limit)
        for (i, k) in kept.enumerated() { list[1 + i] = k.node }
        list[0] = UInt32(kept.count)
    }

    /// Links slot `q` (already initialised, not yet reachable) into the graph, starting from
    /// `entry` whose top layer is `topLayer` (the paper's INSERT, after the level draw).
    func insert(_ q: UInt32, entry: UInt32, topLayer: Int, efConstruction: Int,
                visited: VisitedSet, buffer: UnsafeMutablePointer<UInt32>) {
        let query = s.row(Int(q))
        let level = Int(s.levels[Int(q)])
        var current = Neighbor(distance: s.distance(query, node: entry), node: entry)
        var layer = topLayer
        while layer > level {
            current = greedyClosest(query, from: current, layer: layer, buffer: buffer)
            layer -= 1
        }
        var entries = [current]
        layer = min(level, topLayer)
        while layer >= 0 {
            let found = searchLayer(query, entries: entries, ef: efConstruction, layer: layer,
                                    visited: visited, buffer: buffer, eligible: nil)
            let sorted = found.sortedClosestFirst()
            let chosen = selectNeighbors(sorted, limit: s.m)
            let own = Int(q)
            locks.lock(own)
            let list = s.links(own, layer: layer)
            for (i, c) in chosen.enumerated() { list[1 + i] = c.node }
            list[0] = UInt32(chosen.count)
            locks.unlock(own)
            for c in chosen {
                addLink(to: c.node, newNode: q, distance: c.distance, layer: layer)
            }
            entries = sorted
            layer -= 1
        }
    }
}

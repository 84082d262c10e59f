import Synchronization

/// Maps the opaque handles C callers hold to live objects.
///
/// A handle is never a pointer to the object: it encodes a table id and a sequence number, so a
/// stale (closed, freed), duplicated or made-up handle is looked up and refused with an error
/// instead of being dereferenced. The table keeps the ids of recently removed handles, so using
/// one gets "closed" rather than "unknown".
final class HandleTable<Object: AnyObject & Sendable>: Sendable {
    private struct State {
        var next: UInt = 0
        var live: [UInt: Object] = [:]
        /// Recently removed handles, oldest first (bounded).
        var removed: [UInt] = []
        var removedSet: Set<UInt> = []
    }

    enum Lookup {
        case live(Object)
        case removed
        case unknown
    }

    private let tag: UInt
    private let state = Mutex(State())
    private static var removedLimit: Int { 1 << 16 }

    /// `tag` (1...15) tells the kinds of handle apart: a scan handle passed as a database is unknown.
    init(tag: UInt) {
        precondition(tag > 0 && tag < 16)
        self.tag = tag
    }

    func insert(_ object: Object) -> OpaquePointer {
        let raw = state.withLock { s -> UInt in
            s.next += 1
            let raw = s.next << 4 | tag
            s.live[raw] = object
            return raw
        }
        return OpaquePointer(bitPattern: raw)!
    }

    func lookup(_ handle: OpaquePointer?) -> Lookup {
        guard let handle else { return .unknown }
        let raw = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle)))
        return state.withLock { s in
            if let object = s.live[raw] { return .live(object) }
            return s.removedSet.contains(raw) ? .removed : .unknown
        }
    }

    /// Removes the handle; nil when it was not live.
    func remove(_ handle: OpaquePointer?) -> Object? {
        guard let handle else { return nil }
        let raw = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle)))
        return state.withLock { s in
            guard let object = s.live.removeValue(forKey: raw) else { return nil }
            s.removed.append(raw)
            s.removedSet.insert(raw)
            if s.removed.count > Self.removedLimit {
                let drop = s.removed.count / 2
                for old in s.removed.prefix(drop) { s.removedSet.remove(old) }
                s.removed.removeFirst(drop)
            }
            return object
        }
    }
}

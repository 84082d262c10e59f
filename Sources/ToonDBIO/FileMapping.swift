#if canImport(Glibc)
import Glibc
#endif
import CToonDBMemory

/// A shared, writable memory mapping of the start of a file, unmapped when the value is
/// destroyed.
///
/// Stores into the mapping land in the kernel's page cache, the same pages a `pwrite` would
/// fill, so they survive the process (a crash of the process loses nothing once the store is
/// done) and an `fdatasync` of the file makes them durable. Only bytes inside the file may be
/// touched: a store beyond its end raises SIGBUS, so callers reserve the space first
/// (``File/preallocate(offset:length:)``).
public struct FileMapping: ~Copyable, @unchecked Sendable {
    /// The first byte of the mapping (offset 0 of the file).
    public let base: UnsafeMutableRawPointer
    /// Bytes mapped (a multiple of the page size); the file may be shorter.
    public let length: Int

    /// Maps the first `length` bytes of `file` (rounded up to whole pages) for reading and
    /// writing, shared with the file.
    public init(_ file: borrowing File, length: Int) throws(IOError) {
        (base, self.length) = try mapShared(file, length: length, protection: PROT_READ | PROT_WRITE)
    }

    deinit { munmap(base, length) }

    /// Copies `bytes` to byte `offset` of the mapping front to back, so a process killed
    /// mid-copy leaves a prefix of them in the file (as a cut-short write would), never a later
    /// part without the earlier one.
    public func store(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        Self.store(bytes, to: base + offset)
    }

    /// ``store(_:at:)`` at an address inside a mapping (for holders that keep only its base).
    public static func store(_ bytes: UnsafeRawBufferPointer, to destination: UnsafeMutableRawPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        toondb_copy_in_order(destination, source, bytes.count)
    }
}

/// A read-only, shared memory mapping of a whole immutable file, unmapped when the value is
/// destroyed.
///
/// Reads from it are loads from the kernel's page cache: no system call, no copy, no cache of
/// our own in between. A load the kernel cannot serve (a media error, or the file truncated by
/// someone else after it was mapped) would raise SIGBUS and kill the process; the mapping is
/// registered with a guard (`toondb_map_guard_register`) that turns such a fault into a page of
/// zeros and a count, ``faults``. A reader compares the count before and after it reads, and
/// reports an I/O error when it changed.
public struct ReadOnlyFileMapping: ~Copyable, @unchecked Sendable {
    /// The first byte of the file.
    public let base: UnsafeRawPointer
    /// The file's length when it was mapped; bytes from `base` to `base + length` may be read.
    public let length: Int
    private let mappedLength: Int
    private let guardSlot: Int32

    /// Maps all `length` bytes of `file` for reading.
    ///
    /// - Throws: ``IOError`` when `mmap` fails, or when the guard has no free slot (4,096
    ///   mappings at once).
    public init(_ file: borrowing File, length: Int) throws(IOError) {
        let (start, rounded) = try mapShared(file, length: length, protection: PROT_READ)
        let slot = toondb_map_guard_register(start, rounded)
        guard slot >= 0 else {
            munmap(start, rounded)
            throw IOError(errno: EMFILE, operation: "mmap", path: file.path, detail: "no free slot in the SIGBUS guard")
        }
        base = UnsafeRawPointer(start)
        self.length = length
        mappedLength = rounded
        guardSlot = slot
    }

    deinit {
        toondb_map_guard_unregister(guardSlot)
        munmap(UnsafeMutableRawPointer(mutating: base), mappedLength)
    }

    /// Loads from the mapping the kernel could not serve so far (each left a page of zeros).
    @inline(__always)
    public var faults: UInt64 { toondb_map_guard_faults(guardSlot) }
}

/// Maps the first `length` bytes of `file` (rounded up to whole pages, at least one) shared
/// with the file; returns the mapping's start and length.
private func mapShared(_ file: borrowing File, length: Int, protection: Int32) throws(IOError) -> (UnsafeMutableRawPointer, Int) {
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let rounded = max(page, (length + page - 1) / page * page)
    guard let start = mmap(nil, rounded, protection, MAP_SHARED, file.descriptor, 0),
          start != UnsafeMutableRawPointer(bitPattern: -1) else {
        throw IOError.last("mmap", path: file.path, detail: "length \(rounded)\(protection & PROT_WRITE == 0 ? ", read-only" : "")")
    }
    return (start, rounded)
}


import Synchronization
import ToonDBFormat
import ToonDBIO

/// Owns the manifest and the current ``Version``; every change to the live tables goes through
/// ``logAndApply(_:)``, which makes the edit durable before anyone can see the new version.
///
/// At open the manifest named by `CURRENT` is replayed, then a fresh manifest holding one
/// snapshot edit is written and `CURRENT` switched to it, so each run starts from a clean log.
final class VersionSet: Sendable {
    static let levelCount = 7
    /// Roll to a new manifest once the current one is larger than this.
    static let manifestRollBytes: Int64 = 4 << 20

    private struct State {
        var current: Version
        var nextFileNumber: UInt64
        var flushedLSN: LSN
        var lastLSN: LSN
        var epoch: UInt64
        var compactionPointers: [[UInt8]]
        var manifest: ManifestHandle
        var manifestNumber: UInt64
        var manifestSize: Int64
        /// Set when a manifest write failed in a way that leaves its contents unknown.
        var broken: StorageError? = nil
    }

    /// The open manifest file (a class so the ~Copyable file can live in the state).
    private final class ManifestHandle: Sendable {
        let file: File
        init(_ file: consuming File) { self.file = file }
    }

    let directory: String
    let tablesDirectory: String
    private let backend: any IOBackend
    private let sink: any ObsoleteFileSink
    private let state: Mutex<State>

    private init(directory: String, backend: any IOBackend, sink: any ObsoleteFileSink, state: State) {
        self.directory = directory
        self.tablesDirectory = directory + "/tables"
        self.backend = backend
        self.sink = sink
        self.state = Mutex(state)
    }

    static func tablePath(_ directory: String, _ number: UInt64) -> String {
        directory + "/tables/" + ManifestLog.padded(number) + ".sst"
    }

    /// The live-table object for a manifest entry.
    static func metadata(for t: VersionEdit.NewTable, directory: String, sink: any ObsoleteFileSink) -> FileMetadata {
        FileMetadata(number: t.number, path: tablePath(directory, t.number), size: t.size, smallest: t.smallest, largest: t.largest,
                     minLSN: t.minLSN, maxLSN: t.maxLSN, entries: t.entries, sink: sink)
    }

    /// Opens (or, with `create`, initialises) the version set of `directory`.
    static func open(directory: String, backend: any IOBackend, sink: any ObsoleteFileSink, create: Bool) throws(StorageError) -> VersionSet {
        let currentPath = directory + "/CURRENT"
        var version = Version()
        var nextFileNumber: UInt64 = 2
        var flushedLSN: LSN = 0
        var lastLSN: LSN = 0
        var epoch: UInt64 = 0
        var pointers = [[UInt8]](repeating: [], count: levelCount)
        var oldManifest: String? = nil
        do { try FileSystem.createDirectory(directory + "/tables") } catch { throw StorageError(error, context: "creating the tables directory") }

        if FileSystem.exists(currentPath) {
            let name: String
            do {
                let bytes = try FileSystem.readAll(currentPath, backend: backend)
                name = String(decoding: bytes, as: UTF8.self).trimmingSuffix("\n")
            } catch { throw StorageError(error, context: "reading CURRENT") }
            guard name.hasPrefix("MANIFEST-"), !name.contains("/") else {
                throw .corruption("CURRENT does not name a manifest (\(name.prefix(40)))", path: currentPath)
            }
            let path = directory + "/" + name
            guard FileSystem.exists(path) else { throw .corruption("CURRENT names \(name), which does not exist", path: currentPath) }
            oldManifest = path
            let make = { (t: VersionEdit.NewTable) in metadata(for: t, directory: directory, sink: sink) }
            for edit in try ManifestLog.read(path, backend: backend) {
                version = version.applying(edit, make: make)
                if let n = edit.nextFileNumber { nextFileNumber = max(nextFileNumber, n) }
                if let l = edit.flushedLSN { flushedLSN = max(flushedLSN, l) }
                if let l = edit.lastLSN { lastLSN = max(lastLSN, l) }
                if let e = edit.epoch { epoch = e }
                for (level, key) in edit.compactionPointers { pointers[level] = key }
            }
            if let number = UInt64(name.dropFirst("MANIFEST-".count)) { nextFileNumber = max(nextFileNumber, number + 1) }
            for table in version.allTables {
                nextFileNumber = max(nextFileNumber, table.number + 1)
                lastLSN = max(lastLSN, table.maxLSN)
                guard FileSystem.exists(table.path) else {
                    throw .corruption("table \(table.number) listed in the manifest is missing", path: table.path)
                }
            }
        } else if !create {
            throw StorageError(.invalidArgument, "no database at \(directory) (CURRENT is missing)")
        }

        // Start a fresh manifest holding a snapshot of the recovered state.
        let manifestNumber = nextFileNumber
        nextFileNumber += 1
        let snapshot = Self.snapshotEdit(version: version, nextFileNumber: nextFileNumber, flushedLSN: flushedLSN,
                                         lastLSN: lastLSN, epoch: epoch, pointers: pointers)
        let (handle, size) = try writeManifest(directory: directory, number: manifestNumber, snapshot: snapshot, backend: backend)
        if let oldManifest { try? FileSystem.remove(oldManifest) }
        return VersionSet(directory: directory, backend: backend, sink: sink, state: State(
            current: version, nextFileNumber: nextFileNumber, flushedLSN: flushedLSN, lastLSN: lastLSN, epoch: epoch,
            compactionPointers: pointers, manifest: handle, manifestNumber: manifestNumber, manifestSize: size))
    }

    private static func snapshotEdit(version: Version, nextFileNumber: UInt64, flushedLSN: LSN, lastLSN: LSN, epoch: UInt64, pointers: [[UInt8]]) -> VersionEdit {
        var edit = VersionEdit()
        edit.nextFileNumber = nextFileNumber
        edit.flushedLSN = flushedLSN
        edit.lastLSN = lastLSN
        edit.epoch = epoch
        for (level, tables) in version.levels.enumerated() {
            for t in tables {
                edit.added.append(t.manifestEntry(level: level))
            }
        }
        for (level, key) in pointers.enumerated() where !key.isEmpty { edit.compactionPointers.append((level, key)) }
        return edit
    }

    /// Writes a new manifest with `snapshot`, syncs it and points CURRENT at it.
    private static func writeManifest(directory: String, number: UInt64, snapshot: VersionEdit, backend: any IOBackend) throws(StorageError) -> (ManifestHandle, Int64) {
        let name = ManifestLog.manifestName(number)
        let path = directory + "/" + name
        do {
            let file = try File.open(path, .createTruncate)
            let bytes = ManifestLog.frame(snapshot.encode())
            try bytes.withBytes { (raw) throws(IOError) in try backend.write(file, raw, at: 0) }
            try backend.sync(file, dataOnly: false)
            try FileSystem.writeAtomically(directory + "/CURRENT", Array((name + "\n").utf8), backend: backend)
            return (ManifestHandle(file), Int64(bytes.count))
        } catch {
            throw StorageError(error, context: "writing manifest \(path)")
        }
    }

    var current: Version { state.withLock { $0.current } }

    /// The current version with the flushed LSN and epoch that go with it.
    func snapshotForCopy() -> (Version, LSN, UInt64) { state.withLock { ($0.current, $0.flushedLSN, $0.epoch) } }

    /// Writes `CURRENT` and a manifest describing `version` into another directory (checkpoints).
    static func writeCopy(of version: Version, flushedLSN: LSN, epoch: UInt64, to directory: String, backend: any IOBackend) throws(StorageError) {
        let nextFileNumber = (version.allTables.map(\.number).max() ?? 1) + 2
        let edit = snapshotEdit(version: version, nextFileNumber: nextFileNumber, flushedLSN: flushedLSN, lastLSN: flushedLSN,
                                epoch: epoch, pointers: Array(repeating: [], count: levelCount))
        _ = try writeManifest(directory: directory, number: nextFileNumber - 1, snapshot: edit, backend: backend)
    }
    var flushedLSN: LSN { state.withLock { $0.flushedLSN } }
    var recoveredLastLSN: LSN { state.withLock { $0.lastLSN } }
    var epoch: UInt64 { state.withLock { $0.epoch } }
    func compactionPointer(level: Int) -> [UInt8] { state.withLock { $0.compactionPointers[level] } }

    /// Reserves a file number for a new table.
    func newFileNumber() -> UInt64 {
        state.withLock { s in
            defer { s.nextFileNumber += 1 }
            return s.nextFileNumber
        }
    }

    /// Makes `edit` durable in the manifest, then installs the version it produces. Tables the
    /// edit deletes are marked obsolete (their files go when the last reader lets go).
    @discardableResult
    func logAndApply(_ edit: VersionEdit) throws(StorageError) -> Version {
        try state.withLock { (s) throws(StorageError) -> Version in
            var edit = edit
            edit.nextFileNumber = s.nextFileNumber
            if let l = edit.flushedLSN { edit.flushedLSN = max(l, s.flushedLSN) }
            // A table the edit moves between levels keeps its metadata object: one object per
            // file, so the file is deleted only when no version at all references it.
            var live: [UInt64: FileMetadata] = [:]
            for table in s.current.allTables { live[table.number] = table }
            let next = s.current.applying(edit) { t in
                live[t.number] ?? Self.metadata(for: t, directory: directory, sink: sink)
            }
            if s.manifestSize >= Self.manifestRollBytes {
                // Roll: the new manifest's snapshot already includes this edit.
                let number = s.nextFileNumber
                s.nextFileNumber += 1
                let snapshot = Self.snapshotEdit(version: next, nextFileNumber: s.nextFileNumber, flushedLSN: edit.flushedLSN ?? s.flushedLSN,
                                                 lastLSN: max(edit.lastLSN ?? 0, s.lastLSN), epoch: edit.epoch ?? s.epoch,
                                                 pointers: mergedPointers(s.compactionPointers, edit))
                let (handle, size) = try Self.writeManifest(directory: directory, number: number, snapshot: snapshot, backend: backend)
                try? FileSystem.remove(directory + "/" + ManifestLog.manifestName(s.manifestNumber))
                s.manifest = handle
                s.manifestNumber = number
                s.manifestSize = size
            } else {
                if let broken = s.broken { throw broken }
                let bytes = ManifestLog.frame(edit.encode())
                do throws(IOError) {
                    try bytes.withBytes { (raw) throws(IOError) in try backend.writeAndSync(s.manifest.file, raw, at: s.manifestSize) }
                } catch {
                    // Cut a partial record off so the next edit does not leave stale bytes after
                    // it (recovery would call those corruption). After a failed sync, or if the
                    // cut fails, the manifest's state is unknown: refuse further edits.
                    let failure = StorageError(error, context: "appending to the manifest")
                    let syncFailed = error.operation.contains("sync")
                    if syncFailed || (try? s.manifest.file.truncate(to: s.manifestSize)) == nil {
                        s.broken = StorageError(.writesStopped, "the manifest stopped accepting edits after an earlier failure (\(failure.message)); reopen the database")
                    }
                    throw failure
                }
                s.manifestSize += Int64(bytes.count)
            }
            // A table deleted and re-added by one edit moved levels; it stays alive.
            let deleted = Set(edit.deleted.map(\.number)).subtracting(edit.added.map(\.number))
            for table in s.current.allTables where deleted.contains(table.number) { table.markObsolete() }
            s.current = next
            if let l = edit.flushedLSN { s.flushedLSN = l }
            if let l = edit.lastLSN { s.lastLSN = max(s.lastLSN, l) }
            if let e = edit.epoch { s.epoch = e }
            s.compactionPointers = mergedPointers(s.compactionPointers, edit)
            return next
        }
    }

    private func mergedPointers(_ pointers: [[UInt8]], _ edit: VersionEdit) -> [[UInt8]] {
        var result = pointers
        for (level, key) in edit.compactionPointers { result[level] = key }
        return result
    }

    /// Names of manifests other than the live one (left behind by a crash during a roll).
    func staleManifests() throws(StorageError) -> [String] {
        let live = ManifestLog.manifestName(state.withLock { $0.manifestNumber })
        do {
            return try FileSystem.listDirectory(directory).filter { $0.hasPrefix("MANIFEST-") && $0 != live }
        } catch { throw StorageError(error, context: "listing the database directory") }
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        var s = self
        while s.hasSuffix(suffix) { s.removeLast(suffix.count) }
        return s
    }
}

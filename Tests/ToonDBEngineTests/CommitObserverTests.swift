import Synchronization
import Testing
import ToonDBFormat
import ToonDBTestSupport
@testable import ToonDBEngine

@Suite struct CommitObserverTests {
    final class Log: Sendable {
        let entries = Mutex<[(lsn: LSN, keys: [String])]>([])
    }

    @Test func observerSeesEveryCommitUnderItsPrefixInLSNOrder() throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(path: dir.child("db"), options: testOptions())
        defer { try? db.close() }
        try db.put(bytes("w/before"), bytes("x"))
        let log = Log()
        let registeredAt = try db.observeCommits(prefix: bytes("w/")) { lsn, ops in
            log.entries.withLock { $0.append((lsn, ops.map { String(decoding: $0.key, as: UTF8.self) + ($0.kind == .deletion ? "-" : "") })) }
        }
        #expect(registeredAt == db.currentSnapshot)
        let a = try db.put(bytes("w/a"), bytes("1"))
        _ = try db.put(bytes("other"), bytes("1"))  // not under the prefix: not reported
        var batch = WriteBatch()
        batch.put(bytes("w/b"), bytes("2"))
        batch.put(bytes("elsewhere"), bytes("2"))
        batch.delete(bytes("w/a"))
        let b = try db.write(batch)
        let txn = try db.beginTransaction()
        try txn.put(bytes("w/c"), bytes("3"))
        let c = try txn.commit()
        var single = WriteBatch()
        single.put(bytes("w/d"), bytes("4"))
        let d = try db.writeEach([single, single])
        let entries = log.entries.withLock { $0 }
        #expect(entries.map(\.lsn) == [a, b, c, try d[0].get(), try d[1].get()])
        #expect(entries.map(\.keys) == [["w/a"], ["w/b", "w/a-"], ["w/c"], ["w/d"], ["w/d"]])
        #expect(entries.allSatisfy { $0.lsn > registeredAt })
    }

    @Test func atCommitBoundarySeesTheLastCommitVisible() throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(path: dir.child("db"), options: testOptions())
        let lsn = try db.put(bytes("k"), bytes("v"))
        let seen = try db.atCommitBoundary { boundary in boundary }
        #expect(seen == lsn && db.currentSnapshot == lsn)
        try db.close()
        #expect(throws: StorageError.self) { _ = try db.atCommitBoundary { $0 } }
    }
}

import ArgumentParser
import ToonDBEngine
import ToonDBVector

/// Loads a deterministic sample dataset of hierarchical paths.
struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Load a deterministic sample dataset of hierarchical paths.",
        discussion: """
            Writes COUNT pairs in batches: users/<id>/{name,email,role,bio} and docs/<id>/{title,body,author,tags},
            alternating users and docs. The same COUNT and --seed always give the same pairs, so loading twice
            overwrites rather than adds.
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("Number of key-value pairs to write.", valueName: "n")) var count = 100_000
    @Option(name: .customLong("batch-size"), help: ArgumentHelp("Pairs per write batch.", valueName: "n")) var batchSize = 1000
    @Option(help: ArgumentHelp("Seed of the generator.", valueName: "n")) var seed: UInt64 = 1

    func validate() throws {
        guard count >= 0 else { throw ValidationError("--count must not be negative") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
    }

    func run() throws {
        let context = try global.makeContext()
        var generator = SampleData(count: count, seed: seed)
        let start = monotonicNanoseconds()
        var bytes = 0
        let lsn: LSN = try context.withDatabase { db in
            var lsn = db.currentSnapshot
            var batch = WriteBatch()
            while let (path, value) = generator.next() {
                batch.put(try PathKeys.key(path), value)
                bytes += path.utf8.count + value.count
                if batch.count >= batchSize {
                    lsn = try db.write(batch)
                    batch = WriteBatch()
                }
            }
            if !batch.isEmpty { lsn = try db.write(batch) }
            return lsn
        }
        let seconds = Double(monotonicNanoseconds() - start) / 1e9
        let rate = seconds > 0 ? Double(count) / seconds : 0
        Output.stdout("loaded \(grouped(count)) pairs (\(grouped(generator.users)) users, \(grouped(generator.docs)) docs, "
                      + "\(fixed(Double(bytes) / 1_048_576, 1)) MiB) into \(context.path) in \(fixed(seconds, 3)) s "
                      + "(\(grouped(Int(rate))) pairs/s), last LSN \(lsn)\n")
    }
}

/// The sample pairs: pair n belongs to entity n / 4 (even entities are users, odd ones
/// docs) and is its field n % 4. Values come from a seeded SplitMix64 generator per entity.
struct SampleData {
    let count: Int
    let seed: UInt64
    let idWidth: Int
    private var n = 0
    private(set) var users = 0
    private(set) var docs = 0

    init(count: Int, seed: UInt64) {
        self.count = count
        self.seed = seed
        idWidth = max(6, String(max(count / 8, 1)).count)
    }

    static let first = ["Ada", "Alan", "Barbara", "Claude", "Donald", "Edsger", "Frances", "Grace", "Hedy", "Ivan",
                        "John", "Katherine", "Leslie", "Margaret", "Niklaus", "Radia", "Shafi", "Tim", "Vint", "Whitfield"]
    static let last = ["Lovelace", "Turing", "Liskov", "Shannon", "Knuth", "Dijkstra", "Allen", "Hopper", "Lamarr",
                       "Sutherland", "McCarthy", "Johnson", "Lamport", "Hamilton", "Wirth", "Perlman", "Goldwasser",
                       "Berners-Lee", "Cerf", "Diffie"]
    static let roles = ["admin", "editor", "viewer", "analyst", "agent"]
    static let words = ["context", "retrieval", "embedding", "token", "window", "memory", "agent", "tool", "prompt",
                        "vector", "index", "snapshot", "ledger", "segment", "compaction", "summary", "policy", "graph",
                        "schema", "cache", "latency", "batch", "stream", "query", "document", "model", "session",
                        "history", "plan", "result"]
    static let tags = ["draft", "published", "archived", "internal", "public", "faq", "howto", "spec", "notes", "log"]

    mutating func next() -> (path: String, value: [UInt8])? {
        guard n < count else { return nil }
        defer { n += 1 }
        let entity = n / 4
        let field = n % 4
        let id = pad(entity / 2)
        var random = SplitMix64(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(entity))
        if entity % 2 == 0 {
            if field == 0 { users += 1 }
            let firstName = Self.first[random.index(Self.first.count)]
            let lastName = Self.last[random.index(Self.last.count)]
            switch field {
            case 0: return ("users/\(id)/name", Array("\(firstName) \(lastName)".utf8))
            case 1: return ("users/\(id)/email", Array("\(firstName.lowercased()).\(lastName.lowercased())\(entity / 2)@example.com".utf8))
            case 2: return ("users/\(id)/role", Array(Self.roles[random.index(Self.roles.count)].utf8))
            default: return ("users/\(id)/bio", Array(sentence(&random, words: 12 + random.index(12)).utf8))
            }
        } else {
            if field == 0 { docs += 1 }
            switch field {
            case 0: return ("docs/\(id)/title", Array(sentence(&random, words: 3 + random.index(5)).utf8))
            case 1:
                var body = ""
                for _ in 0..<(2 + random.index(4)) { body += sentence(&random, words: 8 + random.index(16)) + " " }
                return ("docs/\(id)/body", Array(body.dropLast().utf8))
            case 2: return ("docs/\(id)/author", Array("users/\(pad(random.index(max(count / 8, 1))))".utf8))
            default:
                let chosen = (0..<(1 + random.index(3))).map { _ in Self.tags[random.index(Self.tags.count)] }
                return ("docs/\(id)/tags", Array(chosen.joined(separator: ",").utf8))
            }
        }
    }

    private func pad(_ id: Int) -> String {
        let digits = String(id)
        return String(repeating: "0", count: max(0, idWidth - digits.count)) + digits
    }

    private func sentence(_ random: inout SplitMix64, words count: Int) -> String {
        var words: [String] = []
        for _ in 0..<count { words.append(Self.words[random.index(Self.words.count)]) }
        let text = words.joined(separator: " ")
        return text.prefix(1).uppercased() + text.dropFirst() + "."
    }
}

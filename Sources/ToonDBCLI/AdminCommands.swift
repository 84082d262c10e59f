import ArgumentParser
import ToonDBEngine

struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Flush the memtable to tables, trim the WAL and print the checkpoint LSN.",
        discussion: "With --to, also write a consistent copy of the database to DIR (which must not exist or be empty) and print the LSN it holds.")

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("Write a copy of the database to this directory.", valueName: "dir")) var to: String?

    func run() throws {
        let context = try global.makeContext()
        let lsn = try context.withDatabase { db in
            if let to { return try db.checkpoint(to: to) }
            return try db.checkpoint()
        }
        Output.stdout("\(lsn)\n")
    }
}

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Print the engine's statistics as name: value lines (or one JSON object).")

    @OptionGroup var global: GlobalOptions
    @Flag(help: "One JSON object (numbers as numbers, \"none\" as null).") var json = false

    func run() throws {
        let context = try global.makeContext()
        let stats = try context.withDatabase { db in db.stats() }
        Output.stdout(json ? stats.json + "\n" : stats.fields.map { "\($0.0): \($0.1)\n" }.joined())
    }
}

struct CompactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact", abstract: "Flush the memtable and compact every level into the next.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let context = try global.makeContext()
        let start = monotonicNanoseconds()
        let stats = try context.withDatabase { db in
            try db.flush()
            try db.compactAll()
            return db.stats()
        }
        let seconds = Double(monotonicNanoseconds() - start) / 1e9
        let levels = stats.levels.filter { $0.tables > 0 }.map { "L\($0.level): \($0.tables)" }.joined(separator: ", ")
        Output.stdout("compacted in \(fixed(seconds, 3)) s: \(stats.tableCount) tables, \(grouped(Int(stats.tableBytes))) bytes\(levels.isEmpty ? "" : " (\(levels))")\n")
    }
}

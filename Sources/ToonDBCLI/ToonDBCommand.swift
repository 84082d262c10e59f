import ArgumentParser
import ToonDBConfig
import ToonDBEngine
import ToonDBServer

#if canImport(Glibc)
import Glibc
#endif

/// `toondb`: operate a ToonDB database from the shell.
struct ToonDBCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "toondb",
        abstract: "ToonDB: an embedded log-structured key-value store for LLM context retrieval.",
        discussion: """
            Every command opens the database (--db, else the configuration's
            storage.data_dir, else ./data), does its work and closes it. Options
            go after the command name; flags override --config. Keys and values
            are UTF-8 text; get writes the value's bytes unchanged. Errors exit 1,
            malformed command lines exit 2.
            """,
        subcommands: [
            PutCommand.self, GetCommand.self, DeleteCommand.self, ScanCommand.self,
            PutPathCommand.self, GetPathCommand.self, DeletePathCommand.self, ScanPathCommand.self,
            CheckpointCommand.self, StatsCommand.self, CompactCommand.self,
            SampleCommand.self, BenchCommand.self, ServeCommand.self,
        ])

    /// Parses the arguments, runs the command and exits: 0 on success, 1 on a storage,
    /// configuration or I/O error (`toondb: error: <message>` on stderr), 2 on a usage error.
    static func runMain() {
        let command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            // --help and --version exit 0; malformed command lines exit 2 (not EX_USAGE, 64).
            let code = exitCode(for: error)
            if code == .validationFailure {
                Output.stderr(fullMessage(for: error) + "\n")
                Glibc.exit(2)
            }
            exit(withError: error)
        }
        do {
            var running = command
            try running.run()
            Glibc.exit(0)
        } catch let error as StorageError {
            fail(error.message)
        } catch let error as ConfigurationError {
            fail(error.message)
        } catch let error as ServerError {
            fail(error.message)
        } catch let error as CLIError {
            fail(error.message)
        } catch let error as ExitCode {
            Glibc.exit(error.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                Output.stderr(fullMessage(for: error) + "\n")
                Glibc.exit(2)
            }
            if code.isSuccess { exit(withError: error) }
            fail("\(error)")
        }
    }

    static func fail(_ message: String) -> Never {
        Output.stderr("toondb: error: \(message)\n")
        Glibc.exit(1)
    }
}

/// An error of the tool itself (a file it cannot read, a bad flag combination found late).
struct CLIError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

// `toondb-server`: the same as `toondb serve` (ToonDB's server binary name).
import ArgumentParser
import ToonDBServer

#if canImport(Glibc)
import Glibc
#endif

signal(SIGPIPE, SIG_IGN)

struct ToonDBServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "toondb-server",
        abstract: ServeCommand.configuration.abstract,
        discussion: ServeCommand.configuration.discussion)

    @OptionGroup var serve: ServeCommand

    func run() throws { try serve.run() }
}

ToonDBServerCommand.main()

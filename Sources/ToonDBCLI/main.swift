// The `toondb` command-line tool: see ToonDBCommand.swift for the commands.
ToonDBCommand.runMain()

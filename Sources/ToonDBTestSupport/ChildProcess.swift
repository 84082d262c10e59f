#if canImport(Glibc)
import Glibc
#endif

/// A child process with its stdout on a pipe, for tests that kill processes on purpose.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    private let stdoutFD: Int32
    private var buffer: [UInt8] = []
    private var reachedEOF = false

    /// Starts `path` with `arguments`; stderr is inherited (shown in test logs), or with
    /// `mergeStderr` sent to the same pipe as stdout.
    public init(_ path: String, _ arguments: [String], environment: [String: String] = [:], mergeStderr: Bool = false) throws {
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else { throw ChildProcessError("pipe failed: errno \(errno)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        if mergeStderr { posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 2) }
        posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var env: [UnsafeMutablePointer<CChar>?] = []
        var inherited: [String: String] = [:]
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") { inherited[String(text[..<eq])] = String(text[text.index(after: eq)...]) }
            cursor += 1
        }
        for (key, value) in environment { inherited[key] = value }
        env = inherited.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in env { free(pointer) } }
        var child = pid_t()
        let rc = posix_spawn(&child, path, &actions, nil, argv, env)
        close(pipeFDs[1])
        guard rc == 0 else {
            close(pipeFDs[0])
            throw ChildProcessError("posix_spawn \(path) failed: \(String(cString: strerror(rc)))")
        }
        pid = child
        stdoutFD = pipeFDs[0]
    }

    deinit {
        close(stdoutFD)
    }

    /// Reads whatever stdout has produced within `seconds`; returns complete lines. With
    /// `until`, returns as soon as a line satisfying it has arrived.
    public func readLines(for seconds: Double, until stop: ((String) -> Bool)? = nil) -> [String] {
        let deadline = monotonicNow() + seconds
        var lines: [String] = []
        while !reachedEOF {
            let remaining = deadline - monotonicNow()
            if remaining <= 0 { break }
            var descriptor = pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(max(1, remaining * 1000)))
            if ready <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = read(stdoutFD, &chunk, chunk.count)
            if n <= 0 { reachedEOF = true; lines += takeRest(); break }
            buffer += chunk[0..<n]
            lines += takeLines()
            if let stop, lines.contains(where: stop) { break }
        }
        return lines
    }

    /// Reads until end of file (after the child exited or was killed).
    public func readRemainingLines() -> [String] {
        var lines: [String] = []
        while !reachedEOF {
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = read(stdoutFD, &chunk, chunk.count)
            if n <= 0 { reachedEOF = true; lines += takeRest(); break }
            buffer += chunk[0..<n]
            lines += takeLines()
        }
        return lines
    }

    /// At end of file: an unterminated last line, if any.
    private func takeRest() -> [String] {
        defer { buffer.removeAll() }
        return buffer.isEmpty ? [] : [String(decoding: buffer, as: UTF8.self)]
    }

    private func takeLines() -> [String] {
        var lines: [String] = []
        while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(String(decoding: buffer[..<newline], as: UTF8.self))
            buffer.removeSubrange(...newline)
        }
        return lines
    }

    public func kill(_ signal: Int32 = SIGKILL) { _ = Glibc.kill(pid, signal) }

    /// Waits for the child; returns its exit status or, negated, the signal that ended it.
    @discardableResult
    public func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if status & 0x7F == 0 { return (status >> 8) & 0xFF }
        return -(status & 0x7F)
    }
}

public struct ChildProcessError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Runs a program to completion (bounded by `timeout` seconds, then killed) and returns its
/// exit status and its output (stdout, plus stderr when `mergeStderr`).
public func runProgram(_ path: String, _ arguments: [String], mergeStderr: Bool = true, timeout: Double = 60) throws -> (status: Int32, output: String) {
    let child = try ChildProcess(path, arguments, mergeStderr: mergeStderr)
    var lines = child.readLines(for: timeout)
    child.kill()  // a no-op once it has exited
    let status = child.wait()
    lines += child.readRemainingLines()
    return (status, lines.joined(separator: "\n"))
}

public func monotonicNow() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

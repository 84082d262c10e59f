#if canImport(Glibc)
import Glibc
import ToonDBEngine
#endif

/// Writing to stdout and stderr through file descriptors (buffered for stdout).
enum Output {
    static func stderr(_ text: String) {
        var bytes = Array(text.utf8)
        writeAll(2, &bytes)
    }

    static func stdout(_ text: String) {
        var bytes = Array(text.utf8)
        writeAll(1, &bytes)
    }

    static func stdout(bytes: [UInt8]) {
        var copy = bytes
        writeAll(1, &copy)
    }

    static func writeAll(_ fd: Int32, _ bytes: inout [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return  // stdout closed or full: nothing sensible to do
                }
                offset += n
            }
        }
    }

    /// A line-oriented writer for large outputs (scans), flushed every 64 KiB and at the end.
    final class Buffered {
        private var buffer: [UInt8] = []
        private let fd: Int32

        init(fd: Int32 = 1) {
            self.fd = fd
            buffer.reserveCapacity(1 << 16)
        }

        func append(_ bytes: some Sequence<UInt8>) {
            buffer.append(contentsOf: bytes)
            if buffer.count >= 1 << 16 { flush() }
        }

        func append(_ text: String) { append(text.utf8) }

        func flush() {
            Output.writeAll(fd, &buffer)
            buffer.removeAll(keepingCapacity: true)
        }

        deinit { flush() }
    }

    /// Bytes for a `key<TAB>value` line: printable ASCII and valid UTF-8 text pass through;
    /// `\` becomes `\\`, tab `\t`, and every other byte (control characters, invalid UTF-8)
    /// `\xNN`. The result never contains a tab or a newline.
    static func escape(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\\") {
                out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
                i += 1
            } else if b == 0x09 {
                out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
                i += 1
            } else if b >= 0x20 && b < 0x7F {
                out.append(b)
                i += 1
            } else if b >= 0xC2, let length = utf8SequenceLength(bytes, at: i) {
                out += bytes[i..<(i + length)]
                i += length
            } else {
                out += hexEscape(b)
                i += 1
            }
        }
        return out
    }

    private static func hexEscape(_ b: UInt8) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        return [UInt8(ascii: "\\"), UInt8(ascii: "x"), digits[Int(b >> 4)], digits[Int(b & 15)]]
    }

    /// The length of the valid UTF-8 sequence for a printable scalar (not C1 controls, not
    /// line or paragraph separators) starting at `i`, or nil.
    private static func utf8SequenceLength(_ bytes: [UInt8], at i: Int) -> Int? {
        let lead = bytes[i]
        let length = lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : lead < 0xF5 ? 4 : 0
        guard length > 0, i + length <= bytes.count,
              let text = String(validating: bytes[i..<(i + length)], as: UTF8.self),
              let scalar = text.unicodeScalars.first, text.unicodeScalars.count == 1 else { return nil }
        switch scalar.properties.generalCategory {
        case .control, .lineSeparator, .paragraphSeparator, .format, .surrogate, .unassigned, .privateUse:
            return nil
        default:
            return length
        }
    }

    /// A JSON string literal.
    static func jsonString(_ text: String) -> String { JSON.string(text) }

    /// Reads a whole file (`-` is stdin).
    static func readFile(_ path: String) throws -> [UInt8] {
        let fd = path == "-" ? 0 : open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw CLIError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { if fd != 0 { close(fd) } }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CLIError("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { return result }
            result += chunk[0..<n]
        }
    }
}

/// Formats a number with thousands separators (`1,234,567`).
func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (index, c) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return (value < 0 ? "-" : "") + out
}

/// A fixed number of decimals.
func fixed(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    var text = "\(rounded)"
    if text.contains("e") { return text }
    if decimals == 0 { return String(Int64(rounded)) }
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    let fraction = parts.count > 1 ? String(parts[1]) : ""
    text = String(parts[0]) + "." + fraction.padding(decimals)
    return text
}

private extension String {
    func padding(_ count: Int) -> String {
        self.count >= count ? String(prefix(count)) : self + String(repeating: "0", count: count - self.count)
    }
}

/// The current monotonic time in nanoseconds.
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

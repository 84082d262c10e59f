#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import ToonDBProtocol

func le16(_ value: UInt16) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
func le32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
func le64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }

/// The code of an ERROR reply; nil for any other reply.
func errorCode(_ reply: Reply) -> WireError.Code? {
    if case .error(let error) = reply { return error.code }
    return nil
}

struct ClientError: Error, CustomStringConvertible {
    var description: String
}

/// A blocking Unix-socket client for the tests: raw bytes or protocol requests, with a
/// receive timeout so a test can never hang.
final class SocketClient {
    let fd: Int32
    private var inbox = ByteBuffer()

    init(_ path: String, timeout: Double = 10) throws {
        fd = try Self.connected(to: path)
        var interval = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
    }

    /// A socket connected to `path`. It is closed here on failure and by deinit otherwise,
    /// never both: a class whose stored properties are all set runs deinit even when its init
    /// throws, and a second close(2) would close whatever file another test had since been
    /// given that number (a table file in the crash test, seen as EBADF).
    private static func connected(to path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClientError(description: "socket: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            throw ClientError(description: "connect \(path): errno \(code)")
        }
        return fd
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }  // other tests' child processes signal this one
            guard n > 0 else { throw ClientError(description: "send: errno \(errno)") }
            sent += n
        }
    }

    func send(_ request: Request) throws {
        var buffer = ByteBuffer()
        request.encode().write(into: &buffer)
        try send(buffer.readBytes(length: buffer.readableBytes)!)
    }

    /// The next frame; nil when the server closed the connection.
    func readFrame() throws -> Frame? {
        while true {
            if case .frame(let frame) = Frame.parse(&inbox, maxPayload: 1 << 30) { return frame }
            var chunk = [UInt8](repeating: 0, count: 64 << 10)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return nil }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw ClientError(description: "recv: errno \(errno) (EAGAIN: the receive timeout)") }
            inbox.writeBytes(chunk[0..<n])
        }
    }

    func readReply() throws -> Reply {
        guard let frame = try readFrame() else { throw ClientError(description: "connection closed") }
        guard let reply = Reply(frame) else { throw ClientError(description: "unparseable reply opcode \(frame.opcode)") }
        return reply
    }

    func call(_ request: Request) throws -> Reply {
        try send(request)
        return try readReply()
    }

    /// Whether the server has closed the connection (reads EOF within the timeout).
    func isClosedByServer() -> Bool {
        (try? readFrame()) == .some(nil)
    }

    // Conveniences.

    func put(_ key: String, _ value: String, txn: UInt64 = 0) throws -> Reply {
        try call(.put(transaction: txn, .key(Array(key.utf8)), value: Array(value.utf8)))
    }

    func get(_ key: String, txn: UInt64 = 0) throws -> String? {
        switch try call(.get(transaction: txn, .key(Array(key.utf8)), .flagged)) {
        case .value(var payload):
            let found = payload.readInteger(as: UInt8.self)
            return found == 1 ? payload.readString(length: payload.readableBytes) : nil
        case let other:
            throw ClientError(description: "GET answered \(other)")
        }
    }

    func begin() throws -> UInt64 {
        guard case .transactionID(let id) = try call(.beginTransaction) else { throw ClientError(description: "BEGIN_TXN failed") }
        return id
    }

    /// A SCAN_STREAM's pairs, checking the stream's framing.
    func scanStream(_ range: ScanRange, txn: UInt64 = 0, limit: UInt32 = 0) throws -> (pairs: [(String, String)], rows: Int) {
        try send(.scanStream(transaction: txn, range, limit: limit))
        var pairs: [(String, String)] = []
        var rows = 0
        while true {
            switch try readReply() {
            case .row(var payload):
                rows += 1
                let count = payload.readInteger(endianness: .little, as: UInt32.self)!
                for _ in 0..<count {
                    let k = payload.readInteger(endianness: .little, as: UInt32.self)!
                    let key = payload.readString(length: Int(k))!
                    let v = payload.readInteger(endianness: .little, as: UInt32.self)!
                    pairs.append((key, payload.readString(length: Int(v))!))
                }
                guard payload.readableBytes == 0 else { throw ClientError(description: "trailing bytes in ROW") }
            case .endStream(let total):
                guard total == UInt64(pairs.count) else { throw ClientError(description: "END_STREAM total \(total) != \(pairs.count)") }
                return (pairs, rows)
            case let other:
                throw ClientError(description: "unexpected \(other) in a stream")
            }
        }
    }
}

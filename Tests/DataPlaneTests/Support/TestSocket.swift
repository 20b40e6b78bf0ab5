import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP client on 127.0.0.1 for talking HTTP/1.1 byte by byte (smuggling vectors,
/// partial heads, PROXY headers, upgrades). Every wait has a deadline.
final class TestSocket {
    struct Closed: Error, CustomStringConvertible {
        var description: String { "the peer closed the connection" }
    }

    let fd: Int32
    private var pending: [UInt8] = []
    private var pendingStart = 0
    private var scratch = [UInt8](repeating: 0, count: 256 * 1024)

    init(port: Int, timeout: Double = 5) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSupportError("socket(): \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeoutValue = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeoutValue, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let message = String(cString: strerror(errno))
            Glibc.close(fd)
            throw TestSupportError("connect to 127.0.0.1:\(port): \(message)")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        self.fd = fd
    }

    deinit { Glibc.close(fd) }

    /// Closes the socket now (later calls fail).
    func close() { shutdown(fd, Int32(SHUT_RDWR)) }

    /// Half-closes: no more bytes from us.
    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    // MARK: Sending

    func send(_ text: String, timeout: Double = 10) throws { try send(Array(text.utf8), timeout: timeout) }

    func send(_ bytes: [UInt8], timeout: Double = 10) throws {
        try bytes.withUnsafeBytes { try send(raw: $0, timeout: timeout) }
    }

    /// Writes every byte or throws (the peer closed, or nothing could be written for `timeout` seconds).
    func send(raw bytes: UnsafeRawBufferPointer, timeout: Double = 10) throws {
        var offset = 0
        while offset < bytes.count {
            try wait(for: Int16(POLLOUT), timeout: timeout, what: "writing (\(offset) of \(bytes.count) bytes sent)")
            let sent = Glibc.send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            if sent < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                if errno == EPIPE || errno == ECONNRESET { throw Closed() }
                throw TestSupportError("send: \(String(cString: strerror(errno)))")
            }
            offset += sent
        }
    }

    // MARK: Receiving

    private func wait(for events: Int16, timeout: Double, what: String) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            var descriptor = pollfd(fd: fd, events: events, revents: 0)
            let remaining = max(0, Int32(deadline.timeIntervalSinceNow * 1000))
            let ready = poll(&descriptor, 1, remaining)
            if ready > 0 { return }
            if ready < 0 && errno == EINTR { continue }
            if ready == 0 && Date() >= deadline { throw TestSupportError("timed out after \(timeout) s \(what)") }
        }
    }

    /// Reads what is available (waiting up to `timeout`); returns 0 at end of stream (or reset).
    private func fill(timeout: Double) throws -> Int {
        try wait(for: Int16(POLLIN), timeout: timeout, what: "waiting for bytes")
        let count = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT)) }
        if count < 0 {
            if errno == EAGAIN || errno == EINTR { return try fill(timeout: timeout) }
            if errno == ECONNRESET { return 0 }
            throw TestSupportError("recv: \(String(cString: strerror(errno)))")
        }
        if count > 0 {
            if pendingStart > 0 && pendingStart == pending.count { pending.removeAll(keepingCapacity: true); pendingStart = 0 }
            if pendingStart > 1 << 20 { pending.removeFirst(pendingStart); pendingStart = 0 }
            pending.append(contentsOf: scratch[0..<count])
        }
        return count
    }

    private var available: Int { pending.count - pendingStart }

    private func take(_ count: Int) -> [UInt8] {
        let bytes = Array(pending[pendingStart..<pendingStart + count])
        pendingStart += count
        return bytes
    }

    /// Bytes as they arrive: at least one, or nil at end of stream.
    func receiveSome(timeout: Double = 10) throws -> [UInt8]? {
        if available == 0, try fill(timeout: timeout) == 0 { return nil }
        return take(available)
    }

    /// Exactly `count` bytes.
    func receive(exactly count: Int, timeout: Double = 10) throws -> [UInt8] {
        while available < count {
            if try fill(timeout: timeout) == 0 { throw Closed() }
        }
        return take(count)
    }

    /// Waits until the peer closes the connection (discarding anything it still sends); returns
    /// what arrived before the close, or throws when it is still open after `timeout`.
    @discardableResult
    func waitForClose(timeout: Double) throws -> [UInt8] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let remaining = deadline.timeIntervalSinceNow
            let open = TestSupportError("the connection is still open after \(timeout) s")
            if remaining <= 0 { throw open }
            let count: Int
            do { count = try fill(timeout: remaining) } catch { throw open }
            if count == 0 { return take(available) }
        }
    }

    private func readLine(timeout: Double) throws -> String {
        while true {
            if let index = pending[pendingStart...].firstIndex(of: 0x0a) {
                var line = take(index - pendingStart + 1)
                line.removeLast()
                if line.last == 0x0d { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            if try fill(timeout: timeout) == 0 { throw Closed() }
        }
    }

    // MARK: HTTP

    /// Reads a response head (status line and headers).
    func readHead(timeout: Double = 10) throws -> TestResponse {
        let statusLine = try readLine(timeout: timeout)
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw TestSupportError("not an HTTP status line: \(statusLine)")
        }
        var response = TestResponse(status: status, version: String(parts[0]))
        while true {
            let line = try readLine(timeout: timeout)
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { throw TestSupportError("bad header line: \(line)") }
            response.headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        return response
    }

    /// Reads the body of `head` (chunked, Content-Length, or to end of stream), handing each piece to `consume`.
    func readBody(of head: TestResponse, method: String = "GET", timeout: Double = 10,
                  consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        if method == "HEAD" || head.status / 100 == 1 || head.status == 204 || head.status == 304 { return }
        if head.header("transfer-encoding")?.lowercased().contains("chunked") == true {
            while true {
                let sizeLine = try readLine(timeout: timeout)
                guard let size = Int(sizeLine.split(separator: ";")[0].trimmingCharacters(in: .whitespaces), radix: 16) else {
                    throw TestSupportError("bad chunk size line: \(sizeLine)")
                }
                if size == 0 {
                    while try !readLine(timeout: timeout).isEmpty {}  // trailers
                    return
                }
                try readExactly(size, timeout: timeout, consume: consume)
                _ = try readLine(timeout: timeout)
            }
        } else if let lengthText = head.header("content-length") {
            guard let length = Int(lengthText) else { throw TestSupportError("bad content-length \(lengthText)") }
            try readExactly(length, timeout: timeout, consume: consume)
        } else {
            while true {
                if available > 0 {
                    let bytes = take(available)
                    try bytes.withUnsafeBytes(consume)
                }
                if try fill(timeout: timeout) == 0 {
                    let bytes = take(available)
                    try bytes.withUnsafeBytes(consume)
                    return
                }
            }
        }
    }

    /// Streams `count` bytes to `consume` without collecting them.
    private func readExactly(_ count: Int, timeout: Double, consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        var remaining = count
        if available > 0 {
            let first = min(available, remaining)
            try pending[pendingStart..<pendingStart + first].withUnsafeBytes(consume)
            pendingStart += first
            remaining -= first
        }
        while remaining > 0 {
            try wait(for: Int16(POLLIN), timeout: timeout, what: "reading a body (\(count - remaining) of \(count) bytes)")
            let wanted = min(remaining, scratch.count)
            let got = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, wanted, Int32(MSG_DONTWAIT)) }
            if got < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                throw TestSupportError("recv: \(String(cString: strerror(errno)))")
            }
            if got == 0 { throw TestSupportError("the connection closed after \(count - remaining) of \(count) body bytes") }
            try scratch.withUnsafeBytes { try consume(UnsafeRawBufferPointer(rebasing: $0[0..<got])) }
            remaining -= got
        }
    }

    /// Reads a whole response.
    func readResponse(method: String = "GET", timeout: Double = 10) throws -> TestResponse {
        var response = try readHead(timeout: timeout)
        var body: [UInt8] = []
        try readBody(of: response, method: method, timeout: timeout) { body.append(contentsOf: $0) }
        response.body = body
        return response
    }

    /// Sends one request (keep-alive unless `headers` say otherwise).
    func sendRequest(_ method: String = "GET", _ target: String, host: String?, headers: [(String, String)] = [],
                     body: [UInt8]? = nil, timeout: Double = 10) throws {
        var text = "\(method) \(target) HTTP/1.1\r\n"
        if let host { text += "Host: \(host)\r\n" }
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if let body { text += "Content-Length: \(body.count)\r\n" }
        text += "\r\n"
        try send(Array(text.utf8) + (body ?? []), timeout: timeout)
    }

    func request(_ method: String = "GET", _ target: String, host: String?, headers: [(String, String)] = [],
                 body: [UInt8]? = nil, timeout: Double = 10) throws -> TestResponse {
        try sendRequest(method, target, host: host, headers: headers, body: body, timeout: timeout)
        return try readResponse(method: method, timeout: timeout)
    }
}

/// One request on a fresh connection.
func httpRequest(port: Int, _ target: String, method: String = "GET", host: String?, headers: [(String, String)] = [],
                 body: [UInt8]? = nil, timeout: Double = 10) throws -> TestResponse {
    let socket = try TestSocket(port: port)
    defer { socket.close() }
    return try socket.request(method, target, host: host, headers: headers, body: body, timeout: timeout)
}

struct TestResponse: CustomStringConvertible {
    var status: Int
    var version: String
    var headers: [(String, String)] = []
    var body: [UInt8] = []

    init(status: Int, version: String) {
        self.status = status
        self.version = version
    }

    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    func headers(named name: String) -> [String] { headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1) }
    var text: String { String(decoding: body, as: UTF8.self) }

    /// The echo upstream's report of what it received.
    var echo: EchoReport? { try? EchoReport(json: body) }

    var description: String {
        "\(version) \(status)\n" + headers.map { "\($0.0): \($0.1)" }.joined(separator: "\n") + "\n\n" + String(text.prefix(2000))
    }
}

/// What the echo upstream saw: its name, the request line and the headers.
struct EchoReport {
    var server: String
    var method: String
    var uri: String
    var headers: [(String, String)]
    var bodyLength: Int

    init(json: [UInt8]) throws {
        guard let object = try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any],
              let server = object["server"] as? String, let method = object["method"] as? String, let uri = object["uri"] as? String,
              let headers = object["headers"] as? [[String]], let length = object["body_length"] as? Int else {
            throw TestSupportError("not an echo report: \(String(decoding: json, as: UTF8.self))")
        }
        self.server = server
        self.method = method
        self.uri = uri
        self.headers = headers.map { ($0[0], $0[1]) }
        self.bodyLength = length
    }

    func header(_ name: String) -> [String] { headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1) }
}

import Foundation

/// One HTTP health check: `GET <path>` on a replica's port, with a deadline. Blocking, on plain
/// sockets (the controller's pass thread runs it; nothing here touches an event loop).
public enum HealthProbe {
    public enum Outcome: Sendable, Equatable {
        /// A 2xx or 3xx answer.
        case healthy(status: Int)
        /// Any other answer, with the start of its body.
        case unhealthy(status: Int, body: String)
        /// No answer: refused, reset, timed out.
        case unreachable(String)

        public var isHealthy: Bool { if case .healthy = self { return true }; return false }

        public var description: String {
            switch self {
            case .healthy(let status): "HTTP \(status)"
            case .unhealthy(let status, let body): "HTTP \(status)" + (body.isEmpty ? "" : ": \(body)")
            case .unreachable(let reason): reason
            }
        }
    }

    /// The address to check a replica on: its bind address, or loopback for a wildcard one.
    public static func address(for bindAddress: String) -> String {
        switch bindAddress {
        case "0.0.0.0": "127.0.0.1"
        case "::": "::1"
        default: bindAddress
        }
    }

    /// `nil` path: a TCP connect is the whole check (instances declared without `health`).
    public static func check(address: String, port: Int, path: String?, timeoutMilliseconds: Int) -> Outcome {
        let deadline = Date().addingTimeInterval(Double(timeoutMilliseconds) / 1000)
        var storage = sockaddr_storage()
        var length: socklen_t
        let family: Int32
        if address.contains(":") {
            family = AF_INET6
            var v6 = sockaddr_in6()
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET6, address, &v6.sin6_addr) == 1 else { return .unreachable("bad address \(address)") }
            withUnsafeBytes(of: v6) { bytes in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: bytes) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            family = AF_INET
            var v4 = sockaddr_in()
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET, address, &v4.sin_addr) == 1 else { return .unreachable("bad address \(address)") }
            withUnsafeBytes(of: v4) { bytes in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: bytes) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        }
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return .unreachable("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }

        func wait(_ events: Int16) -> Bool {
            let remaining = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            var poller = pollfd(fd: fd, events: events, revents: 0)
            return poll(&poller, 1, remaining) == 1
        }
        let connected = withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
        }
        if connected != 0 {
            guard errno == EINPROGRESS else { return .unreachable("connect to \(address):\(port): \(String(cString: strerror(errno)))") }
            guard wait(Int16(POLLOUT)) else { return .unreachable("connect to \(address):\(port) timed out after \(timeoutMilliseconds) ms") }
            var error: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size)
            if error != 0 { return .unreachable("connect to \(address):\(port): \(String(cString: strerror(error)))") }
        }
        guard let path else { return .healthy(status: 0) }

        let host = address.contains(":") ? "[\(address)]" : address
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUser-Agent: berth-health\r\nAccept: */*\r\nConnection: close\r\n\r\n".utf8)
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { sent += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK), wait(Int16(POLLOUT)) { continue }
            return .unreachable("sending the check to \(address):\(port) failed")
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while answer.count < 8192 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { answer += buffer[0..<n]; if answer.count >= 8192 { break }; continue }
            if n == 0 { break }
            if errno == EAGAIN || errno == EWOULDBLOCK {
                if wait(Int16(POLLIN)) { continue }
                if answer.isEmpty { return .unreachable("no answer from \(address):\(port)\(path) within \(timeoutMilliseconds) ms") }
                break
            }
            return .unreachable("reading from \(address):\(port): \(String(cString: strerror(errno)))")
        }
        // "HTTP/1.x NNN reason"
        let text = String(decoding: answer, as: UTF8.self)
        let parts = text.prefix(64).split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            return .unreachable("\(address):\(port) did not answer HTTP")
        }
        if (200..<400).contains(status) { return .healthy(status: status) }
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...].prefix(200)) } ?? ""
        return .unhealthy(status: status, body: body.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

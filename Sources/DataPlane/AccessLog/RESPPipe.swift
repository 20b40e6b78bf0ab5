import Foundation
import RedisClient
#if canImport(Glibc)
import Glibc
#endif

/// A blocking Redis connection for one job: writing many commands already encoded as RESP in
/// one write and counting their replies, parsed in place (no reply objects). The access log's
/// XADDs arrive already encoded (`AccessLogEncoder`), which made shipping several times cheaper
/// per entry than `RedisConnection.pipeline`. Used from one thread.
final class RESPPipe {
    struct Failure: Error, CustomStringConvertible { var description: String }

    private var fd: Int32 = -1
    /// Replies read and not parsed yet: `input[inputStart..<inputEnd]`.
    private let input = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 1)
    private var inputStart = 0
    private var inputEnd = 0

    /// Connects, authenticates and selects the URL's database.
    init(url: RedisURL, timeout: TimeInterval) throws {
        switch url.endpoint {
        case .tcp(let host, let port): fd = try Self.connectTCP(host: host, port: port)
        case .unix(let path): fd = try Self.connectUnix(path: path)
        }
        var time = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - floor(timeout)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        var handshake: [UInt8] = []
        var count = 0
        if url.password != nil || url.username != nil {
            Self.appendCommand(&handshake, ["AUTH"] + [url.username].compactMap { $0 } + [url.password ?? ""])
            count += 1
        }
        if url.database != 0 {
            Self.appendCommand(&handshake, ["SELECT", String(url.database)])
            count += 1
        }
        if count > 0 {
            do {
                try write(handshake)
                if try readReplies(count) > 0 { throw Failure(description: "AUTH or SELECT refused") }
            } catch {
                close()
                throw error
            }
        }
    }

    deinit {
        close()
        input.deallocate()
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBufferPointer { try write($0) }
    }

    /// Writes every byte (blocking, limited by the timeout).
    func write(_ bytes: UnsafeBufferPointer<UInt8>) throws {
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let written = send(fd, base + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if written < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "write to Redis failed (errno \(errno))")
            }
            offset += written
        }
    }

    /// Reads `count` replies; returns how many were errors. Parsed in place from the receive
    /// buffer: the shipper reads one reply per access-log entry.
    func readReplies(_ count: Int) throws -> Int {
        var errors = 0
        for _ in 0..<count where try readReply() { errors += 1 }
        return errors
    }

    /// One reply (nested for arrays); true when it is an error.
    private func readReply() throws -> Bool {
        let type = try nextByte()
        switch type {
        case UInt8(ascii: "+"), UInt8(ascii: ":"):
            try skipLine()
            return false
        case UInt8(ascii: "-"):
            try skipLine()
            return true
        case UInt8(ascii: "$"):
            let length = try readNumberLine()
            if length >= 0 { try skip(length + 2) }
            return false
        case UInt8(ascii: "*"):
            var error = false
            for _ in 0..<max(0, try readNumberLine()) where try readReply() { error = true }
            return error
        default:
            throw Failure(description: "unexpected reply type \(type)")
        }
    }

    private func nextByte() throws -> UInt8 {
        if inputStart == inputEnd { try fill() }
        defer { inputStart += 1 }
        return input[inputStart]
    }

    /// A decimal number (maybe negative) up to CRLF, as in `$20` or `*-1`.
    private func readNumberLine() throws -> Int {
        var value = 0
        var negative = false
        while true {
            let byte = try nextByte()
            switch byte {
            case UInt8(ascii: "-"): negative = true
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = value &* 10 &+ Int(byte &- UInt8(ascii: "0"))
            case 0x0d:
                guard try nextByte() == 0x0a else { throw Failure(description: "malformed reply line") }
                return negative ? -value : value
            default: throw Failure(description: "malformed number in reply")
            }
        }
    }

    private func skipLine() throws {
        while try nextByte() != 0x0a {}
    }

    private func skip(_ count: Int) throws {
        var left = count
        while left > 0 {
            if inputStart == inputEnd { try fill() }
            let step = min(left, inputEnd - inputStart)
            inputStart += step
            left -= step
        }
    }

    /// Called only when everything received has been parsed, so the buffer starts over.
    private func fill() throws {
        inputStart = 0
        inputEnd = 0
        let received = recv(fd, input.baseAddress!, input.count, 0)
        if received <= 0 { throw Failure(description: received == 0 ? "Redis closed the connection" : "read from Redis failed (errno \(errno))") }
        inputEnd = received
    }

    // MARK: Encoding

    static func appendCommand(_ out: inout [UInt8], _ arguments: [String]) {
        out.append(UInt8(ascii: "*"))
        appendDecimal(&out, arguments.count)
        out.append(contentsOf: [0x0d, 0x0a])
        for argument in arguments { appendBulk(&out, argument) }
    }

    @inline(__always) static func appendBulk(_ out: inout [UInt8], _ value: String) {
        out.append(UInt8(ascii: "$"))
        appendDecimal(&out, value.utf8.count)
        out.append(contentsOf: [0x0d, 0x0a])
        out.append(contentsOf: value.utf8)
        out.append(contentsOf: [0x0d, 0x0a])
    }

    @inline(__always) static func appendDecimal(_ out: inout [UInt8], _ value: Int) {
        if value < 10 { out.append(UInt8(ascii: "0") + UInt8(value)); return }
        appendDecimal(&out, value / 10)
        out.append(UInt8(ascii: "0") + UInt8(value % 10))
    }

    // MARK: Connecting

    private static func connectTCP(host: String, port: Int) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
            throw Failure(description: "cannot resolve \(host)")
        }
        defer { freeaddrinfo(first) }
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if fd >= 0 {
                if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                    var one: Int32 = 1
                    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                    return fd
                }
                Glibc.close(fd)
            }
            cursor = info.pointee.ai_next
        }
        throw Failure(description: "cannot connect to \(host):\(port) (errno \(errno))")
    }

    private static func connectUnix(path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket failed (errno \(errno))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Glibc.close(fd)
            throw Failure(description: "unix socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard status == 0 else {
            Glibc.close(fd)
            throw Failure(description: "cannot connect to \(path) (errno \(errno))")
        }
        return fd
    }
}

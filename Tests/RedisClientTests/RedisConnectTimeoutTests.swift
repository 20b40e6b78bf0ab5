import Foundation
import RedisClient
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A loopback listener that never accepts (backlog 0): the first connection completes and then hears nothing, the
/// following ones are never accepted (Linux drops their SYNs), so both connect-phase timeouts can be provoked.
private final class SilentListener {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 && listen(fd, 0) == 0
            }
        }
        try #require(ok)
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}

@Suite("Connect-phase timeouts and strangers")
struct RedisConnectTimeoutTests {
    @Test("a server that never answers or never accepts times out, saying after how long")
    func connectTimeouts() throws {
        let listener = try SilentListener()
        var messages: [String] = []
        for _ in 0..<3 {
            let error = try #require(throws: RedisError.self) {
                try RedisConnection("redis://:hunter2@127.0.0.1:\(listener.port)", connectTimeout: .milliseconds(300))
            }
            #expect(error.kind == .timeout)
            #expect(error.message.hasPrefix("cannot connect to Redis at 127.0.0.1:\(listener.port): "))
            #expect(!error.message.contains("hunter2"))
            messages.append(error.message)
        }
        // The first connection sits in the backlog (no reply); later ones cannot even connect.
        #expect(messages[0].hasSuffix("it accepted the connection but did not answer within 300 ms"))
        #expect(messages[2].hasSuffix("timed out after 300 ms"))
        withExtendedLifetime(listener) {}
    }

    @Test("something that is not Redis is reported as such")
    func notRedis() throws {
        let listener = try SilentListener()
        let fd = listener.fd
        let responder = Thread {
            let client = accept(fd, nil, nil)
            let answer = Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8)
            _ = answer.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
            Thread.sleep(forTimeInterval: 0.5)
            close(client)
        }
        responder.start()
        let error = try #require(throws: RedisError.self) {
            try RedisConnection("redis://127.0.0.1:\(listener.port)", connectTimeout: .seconds(5))
        }
        #expect(error.kind == .connect)
        #expect(error.message.hasPrefix("cannot connect to Redis at 127.0.0.1:\(listener.port): its answer is not RESP"))
        #expect(error.message.hasSuffix("is it a Redis server?"))
        withExtendedLifetime(listener) {}
    }
}

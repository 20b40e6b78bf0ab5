import Foundation
import Testing
import TestSupport

extension ProxyEndToEndTests {
    /// The test upstreams and client, without berth-proxy in between: when a proxy test fails,
    /// these passing shows the failure is the proxy's.
    @Suite struct UpstreamHarness {
        @Test func uploadSinkChecksLengthAndContent() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let files = try env.http("files")
            let size = 32 << 20 + 12_345
            let client = try TestSocket(port: files.port)
            try client.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: \(size)\r\n\r\n")
            var sent = 0, block = 0
            while sent < size {
                let piece = Pattern.block(block, count: min(Pattern.blockSize, size - sent))
                try client.send(piece)
                sent += piece.count
                block += 1
            }
            let report = try #require(try JSONSerialization.jsonObject(with: Data(try client.readResponse().body)) as? [String: Any])
            #expect(report["length"] as? Int == size && report["valid"] as? Bool == true, "\(report)")

            // A corrupted byte is caught at its offset.
            let bad = try TestSocket(port: files.port)
            var corrupt = Pattern.block(0) + Pattern.block(1)
            corrupt[70_000] ^= 0xff
            let badReport = try #require(try JSONSerialization.jsonObject(
                with: Data(try bad.request("POST", "/upload", host: "x", body: corrupt).body)) as? [String: Any])
            #expect(badReport["valid"] as? Bool == false && badReport["first_mismatch"] as? Int == 70_000, "\(badReport)")
        }

        @Test func downloadAndEchoAndEventsAndUpgradeEcho() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web")
            let client = try TestSocket(port: web.port)
            let head = try client.readHeadAfter("GET /big?size=5000000 HTTP/1.1\r\nHost: x\r\n\r\n")
            var verifier = PatternVerifier()
            try client.readBody(of: head) { verifier.consume($0) }
            #expect(verifier.offset == 5_000_000 && verifier.valid)
            let echo = try #require(try client.request("PUT", "/e?x=1", host: "h", body: [1, 2, 3]).echo)
            #expect(echo.server == "web" && echo.method == "PUT" && echo.uri == "/e?x=1" && echo.bodyLength == 3)
            try client.send((0..<2).map { "GET /p/\($0) HTTP/1.1\r\nHost: x\r\n\r\n" }.joined())
            #expect(try client.readResponse().echo?.uri == "/p/0")
            #expect(try client.readResponse().echo?.uri == "/p/1")

            let events = try TestSocket(port: web.port)
            let eventsHead = try events.readHeadAfter("GET /sse HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(eventsHead.header("content-type") == "text/event-stream")
            var text = ""
            while !text.contains("data: event 2\n"), let bytes = try events.receiveSome(timeout: 3) { text += String(decoding: bytes, as: UTF8.self) }
            #expect(text.contains("data: event 1\n") && web.stats.openStreams == 1)

            let upgrade = try env.raw(.upgradeEcho)
            let tunnel = try TestSocket(port: upgrade.port)
            #expect(try tunnel.readHeadAfter("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n").status == 101)
            try tunnel.send("ping")
            #expect(try tunnel.receive(exactly: 4) == Array("ping".utf8))
            try tunnel.send("bye")
            #expect(try tunnel.receive(exactly: 3) == Array("bye".utf8))
            try tunnel.waitForClose(timeout: 3)
        }
    }
}

extension TestSocket {
    func readHeadAfter(_ request: String) throws -> TestResponse {
        try send(request)
        return try readHead(timeout: 5)
    }
}

import Foundation
import Testing
import TestSupport

extension ProxyEndToEndTests {
    @Suite struct Hardening {
        /// Request-smuggling vectors, each on its own connection: every one is refused with 400
        /// and none reaches the upstream.
        @Test func smugglingVectorsAreRefusedAndNeverReachTheUpstream() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let (web, proxy) = try env.shop(upstream: "web", route: "web")

            func smuggled(_ index: Int) -> String { "GET /smuggled/\(index) HTTP/1.1\r\nHost: \(shopHost)\r\n\r\n" }
            let vectors: [(name: String, request: (Int) -> String)] = [
                ("Content-Length and Transfer-Encoding", {
                    "POST /a HTTP/1.1\r\nHost: \(shopHost)\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled($0) }),
                ("Transfer-Encoding and Content-Length", {
                    "POST /b HTTP/1.1\r\nHost: \(shopHost)\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" + smuggled($0) }),
                ("two different Content-Lengths", {
                    "POST /c HTTP/1.1\r\nHost: \(shopHost)\r\nContent-Length: 5\r\nContent-Length: 47\r\n\r\nhello" + smuggled($0) }),
                ("a bad chunk size", {
                    "POST /d HTTP/1.1\r\nHost: \(shopHost)\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n" + smuggled($0) }),
                ("Transfer-Encoding: gzip, chunked", {
                    "POST /e HTTP/1.1\r\nHost: \(shopHost)\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + smuggled($0) }),
                ("Transfer-Encoding: chunked twice", {
                    "POST /f HTTP/1.1\r\nHost: \(shopHost)\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled($0) }),
                ("Transfer-Encoding with a space before the colon", {
                    "POST /g HTTP/1.1\r\nHost: \(shopHost)\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled($0) }),
            ]
            for (index, vector) in vectors.enumerated() {
                let client = try TestSocket(port: proxy.httpPort)
                try client.send(vector.request(index))
                do {
                    let response = try client.readResponse(timeout: 5)
                    #expect(response.status == 400, "\(vector.name): \(response)")
                    #expect(response.header("connection")?.lowercased() == "close", "\(vector.name): the connection is not reused")
                } catch {
                    Issue.record("\(vector.name): no 400 answer (\(error))")
                }
                #expect(throws: Never.self, "\(vector.name): the proxy closes the connection") { try client.waitForClose(timeout: 3) }
                #expect(try httpRequest(port: proxy.httpPort, "/control/\(index)", host: shopHost).status == 200)
            }
            // The controls went through after each vector; anything smuggled would have been sent
            // upstream before them. Each smuggled request names its vector.
            let arrived = web.stats.requests
            #expect(arrived.filter { $0.hasPrefix("GET /control/") }.count == vectors.count)
            for line in arrived where !line.hasPrefix("GET /control/") {
                let vector = Int(line.split(separator: "/").last ?? "").map { vectors[$0].name } ?? "?"
                Issue.record("\(vector): a request reached the upstream: \(line)")
            }
        }

        @Test func aSlowRequestHeadIsCutOff() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let (web, proxy) = try env.shop(upstream: "web", route: "web", arguments: ["--header-timeout", "1"])

            let client = try TestSocket(port: proxy.httpPort)
            let start = Date()
            try client.send("GET / HTTP/1.1\r\nHost: \(shopHost)\r\n")
            var closed = false, answer: [UInt8] = [], line = 0
            while !closed, Date().timeIntervalSince(start) < 8 {
                do {
                    try client.send("X-Trickle-\(line): a\r\n")
                    line += 1
                } catch {
                    closed = true
                    break
                }
                do {
                    if let bytes = try client.receiveSome(timeout: 0.3) { answer += bytes } else { closed = true }
                } catch is TestSocket.Closed {
                    closed = true
                } catch {
                    // nothing within 0.3 s: trickle on
                }
            }
            let elapsed = Date().timeIntervalSince(start)
            #expect(closed, "a client trickling its head for \(elapsed) s is still connected")
            #expect(elapsed < 3.5, "closed after \(elapsed) s with --header-timeout 1")
            let text = String(decoding: answer, as: UTF8.self)
            #expect(text.isEmpty || text.hasPrefix("HTTP/1.1 408"), "\(text)")
            #expect(web.stats.requestCount == 0)

            // A prompt client is served after (berth-proxy survived cutting off the slow one).
            let after = try? httpRequest(port: proxy.httpPort, "/", host: shopHost)
            #expect(after?.status == 200, "berth-proxy no longer answers:\n\(proxy.output.prefix(1200))")
        }

        @Test func anOversizedHeadIsAnswered431() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let (web, proxy) = try env.shop(upstream: "web", route: "web")

            let oneHuge = "GET / HTTP/1.1\r\nHost: \(shopHost)\r\nX-Big: \(String(repeating: "a", count: 40 * 1024))\r\n\r\n"
            let manySmall = "GET / HTTP/1.1\r\nHost: \(shopHost)\r\n"
                + (0..<1000).map { "X-Header-\($0): \(String(repeating: "b", count: 40))\r\n" }.joined() + "\r\n"
            for (name, request) in [("one 40 KiB header", oneHuge), ("1000 headers", manySmall)] {
                let client = try TestSocket(port: proxy.httpPort)
                do { try client.send(request) } catch {}  // the proxy may stop reading early
                let response = try? client.readResponse(timeout: 5)
                #expect(response?.status == 431, "\(name): \(response.map { "\($0)" } ?? "no response")")
            }
            #expect(web.stats.requestCount == 0)
            #expect(try httpRequest(port: proxy.httpPort, "/", host: shopHost, headers: [("X-Fine", String(repeating: "c", count: 8 * 1024))]).status == 200)
        }
    }

    @Suite struct ConnectionLimits {
        @Test func idleKeepAliveConnectionsAreClosed() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let (web, proxy) = try env.shop(upstream: "web", route: "web", arguments: ["--idle-timeout", "1"])

            let client = try TestSocket(port: proxy.httpPort)
            #expect(try client.request("GET", "/", host: shopHost).status == 200)
            let start = Date()
            try client.waitForClose(timeout: 4)
            let elapsed = Date().timeIntervalSince(start)
            #expect(elapsed > 0.7 && elapsed < 3, "closed after \(elapsed) s idle with --idle-timeout 1")
        }

        @Test func connectionsBeyondTheLimitAreRefused() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let (web, proxy) = try env.shop(upstream: "web", route: "web", arguments: ["--max-connections", "2"])

            let first = try TestSocket(port: proxy.httpPort), second = try TestSocket(port: proxy.httpPort)
            #expect(try first.request("GET", "/1", host: shopHost).status == 200)
            #expect(try second.request("GET", "/2", host: shopHost).status == 200)
            let third = try TestSocket(port: proxy.httpPort)
            try? third.sendRequest("GET", "/3", host: shopHost)
            let answer = try? third.waitForClose(timeout: 3)
            #expect(answer != nil && !String(decoding: answer ?? [], as: UTF8.self).contains("200 OK"), "a third connection is refused")
            #expect(web.stats.requests == ["GET /1", "GET /2"])

            first.close()
            #expect(eventually(timeout: 3) { (try? proxy.metrics())?.contains("berth_proxy_open_connections 1") == true })
            #expect(try httpRequest(port: proxy.httpPort, "/4", host: shopHost).status == 200, "room again once one closed")
        }
    }

    @Suite struct ProxyProtocol {
        static func v2Header(source: [UInt8], destination: [UInt8], sourcePort: UInt16, destinationPort: UInt16, local: Bool = false) -> [UInt8] {
            var bytes: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
            bytes.append(local ? 0x20 : 0x21)
            if local {
                bytes += [0x00, 0x00, 0x00]
                return bytes
            }
            bytes.append(0x11)  // TCP over IPv4
            bytes += [0x00, 12]
            bytes += source + destination
            bytes += [UInt8(sourcePort >> 8), UInt8(sourcePort & 0xff), UInt8(destinationPort >> 8), UInt8(destinationPort & 0xff)]
            return bytes
        }

        @Test func trustedLoadBalancersMustSendAValidHeaderWhoseAddressIsUsed() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let (web, proxy) = try env.shop(upstream: "web", route: "web", arguments: ["--proxy-protocol-trusted", "127.0.0.0/8"])
            let request = Array("GET /pp HTTP/1.1\r\nHost: \(shopHost)\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n".utf8)

            func forwardedFor(_ prefix: [UInt8]) throws -> [String]? {
                let client = try TestSocket(port: proxy.httpPort)
                try client.send(prefix + request)
                return try client.readResponse(timeout: 5).echo?.header("x-forwarded-for")
            }
            #expect(try forwardedFor(Array("PROXY TCP4 203.0.113.9 127.0.0.1 51000 80\r\n".utf8)) == ["203.0.113.9"])
            #expect(try forwardedFor(Array("PROXY TCP6 2001:db8::7 ::1 51000 80\r\n".utf8)) == ["2001:db8::7"])
            #expect(try forwardedFor(Self.v2Header(source: [198, 51, 100, 4], destination: [127, 0, 0, 1], sourcePort: 40000, destinationPort: 80))
                    == ["198.51.100.4"])
            #expect(try forwardedFor(Self.v2Header(source: [], destination: [], sourcePort: 0, destinationPort: 0, local: true)) == ["127.0.0.1"],
                    "v2 LOCAL (a health check): the socket address")
            // Keep-alive behind a PROXY header: the header comes once, then many requests.
            let keepAlive = try TestSocket(port: proxy.httpPort)
            try keepAlive.send("PROXY TCP4 203.0.113.10 127.0.0.1 51000 80\r\n")
            for index in 0..<3 {
                let echo = try keepAlive.request("GET", "/ka/\(index)", host: shopHost).echo
                #expect(echo?.header("x-forwarded-for") == ["203.0.113.10"])
            }
            let arrived = web.stats.requestCount
            #expect(arrived == 7)

            let refused: [(name: String, bytes: [UInt8])] = [
                ("no header", request),
                ("malformed v1 address", Array("PROXY TCP4 not-an-address 127.0.0.1 51000 80\r\n".utf8) + request),
                ("v1 without CRLF in 107 bytes", Array(("PROXY TCP4 203.0.113.9 127.0.0.1 51000 80" + String(repeating: " ", count: 120)).utf8)),
                ("v2 with a bad version", Array(Self.v2Header(source: [1, 2, 3, 4], destination: [127, 0, 0, 1], sourcePort: 1, destinationPort: 2)
                    .enumerated().map { $0.offset == 12 ? 0x31 : $0.element }) + request),
            ]
            for item in refused {
                let client = try TestSocket(port: proxy.httpPort)
                do { try client.send(item.bytes) } catch {}
                do {
                    let answer = try client.waitForClose(timeout: 7)
                    #expect(!String(decoding: answer, as: UTF8.self).contains("200 OK"), "\(item.name): \(String(decoding: answer, as: UTF8.self))")
                } catch {
                    Issue.record("\(item.name): the connection is not closed: \(error)")
                }
            }
            #expect(web.stats.requestCount == arrived, "refused connections never reach the upstream: \(web.stats.requests)")
        }

        @Test func untrustedPeersCannotSendAProxyHeader() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let (web, proxy) = try env.shop(upstream: "web", route: "web")

            for header in [Array("PROXY TCP4 203.0.113.9 127.0.0.1 51000 80\r\n".utf8),
                           Self.v2Header(source: [203, 0, 113, 9], destination: [127, 0, 0, 1], sourcePort: 1, destinationPort: 80)] {
                let client = try TestSocket(port: proxy.httpPort)
                try client.send(header + Array("GET / HTTP/1.1\r\nHost: \(shopHost)\r\n\r\n".utf8))
                let answer = try client.waitForClose(timeout: 3)
                #expect(!String(decoding: answer, as: UTF8.self).contains("200 OK"))
            }
            #expect(web.stats.requestCount == 0)
            let plain = try #require(try httpRequest(port: proxy.httpPort, "/", host: shopHost).echo)
            #expect(plain.header("x-forwarded-for") == ["127.0.0.1"])
        }
    }
}

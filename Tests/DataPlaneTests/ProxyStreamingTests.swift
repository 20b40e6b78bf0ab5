import Foundation
import Testing
import TestSupport

extension ProxyEndToEndTests {
    @Suite struct Streaming {
        @Test func serverSentEventsReachTheClientWhileTheUpstreamHoldsTheStream() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let events = try env.http("events")
            try env.apply([Manifest.domain("shop", hosts: [shopHost]), Manifest.route("events", domain: "shop", path: "/sse", url: events.url)])
            let proxy = try env.proxy()

            let client = try TestSocket(port: proxy.httpPort)
            let start = Date()
            try client.sendRequest("GET", "/sse", host: shopHost, headers: [("Accept", "text/event-stream")])
            let head = try client.readHead(timeout: 5)
            #expect(head.status == 200 && head.header("content-type") == "text/event-stream", "\(head)")

            var received = ""
            var arrivals: [Int: Double] = [:]
            while arrivals.count < 3, Date().timeIntervalSince(start) < 5 {
                guard let bytes = try client.receiveSome(timeout: 5) else { break }
                received += String(decoding: bytes, as: UTF8.self)
                for number in 1...3 where arrivals[number] == nil && received.contains("data: event \(number)\n\n") {
                    arrivals[number] = Date().timeIntervalSince(start)
                    if number == 1 {
                        #expect(events.stats.openStreams == 1, "the first event arrived while the upstream still holds the stream open")
                    }
                }
            }
            let first = try #require(arrivals[1], "no event arrived: \(received)")
            #expect(first < 1.5, "the first event (sent at 200 ms) arrived after \(first) s")
            let third = try #require(arrivals[3])
            #expect(third - first >= 0.25, "events arrive as they are written, not batched: \(arrivals)")

            client.close()
            #expect(eventually(timeout: 3) { events.stats.openStreams == 0 }, "closing the client ends the upstream stream")
        }

        @Test func upgradedConnectionsEchoBothWaysUntilEitherSideCloses() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let echo = try env.raw(.upgradeEcho)
            try env.apply([Manifest.domain("shop", hosts: [shopHost]), Manifest.route("ws", domain: "shop", path: "/ws", url: echo.url)])
            let proxy = try env.proxy()

            func open() throws -> TestSocket {
                let client = try TestSocket(port: proxy.httpPort)
                try client.send("GET /ws/chat HTTP/1.1\r\nHost: \(shopHost)\r\nConnection: Upgrade\r\nUpgrade: echo\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n")
                let head = try client.readHead(timeout: 5)
                #expect(head.status == 101, "\(head)")
                #expect(head.header("upgrade") == "echo")
                return client
            }

            // Upstream closes: the echo server hangs up after echoing "bye".
            let first = try open()
            for index in 0..<20 {
                let message = Array("message \(index) ".utf8) + [UInt8](repeating: UInt8(0x61 + index % 26), count: index * 100)
                try first.send(message)
                #expect(try first.receive(exactly: message.count, timeout: 5) == message, "message \(index)")
            }
            for index in 0..<16 {  // 1 MiB in 64 KiB pieces, through the tunnel and back
                let piece = Pattern.block(index)
                try first.send(piece)
                #expect(try first.receive(exactly: piece.count, timeout: 10) == piece, "piece \(index)")
            }
            let upstreamHead = try #require(echo.stats.requests.first).lowercased()
            #expect(upstreamHead.hasPrefix("get /ws/chat http/1.1"), "\(upstreamHead)")
            #expect(upstreamHead.contains("upgrade: echo") && upstreamHead.contains("connection: upgrade"), "\(upstreamHead)")
            #expect(upstreamHead.contains("x-forwarded-for: 127.0.0.1") && !upstreamHead.contains("6.6.6.6"), "\(upstreamHead)")
            try first.send("bye")
            #expect(try first.receive(exactly: 3, timeout: 5) == Array("bye".utf8))
            try first.waitForClose(timeout: 3)
            #expect(eventually { echo.stats.openStreams == 0 })

            // Client closes: the upstream side of the tunnel closes too.
            let second = try open()
            try second.send("ping")
            #expect(try second.receive(exactly: 4, timeout: 5) == Array("ping".utf8))
            #expect(echo.stats.openStreams == 1)
            second.close()
            #expect(eventually(timeout: 3) { echo.stats.openStreams == 0 && echo.stats.openConnections == 0 },
                    "the upstream connection of a tunnel closes with the client")
        }

        /// A client may start speaking the new protocol right behind its upgrade request, before
        /// the 101: those bytes reach the upstream once it has switched, in order.
        @Test func bytesSentRightAfterAnUpgradeRequestReachTheUpstream() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let echo = try env.raw(.upgradeEcho)
            try env.apply([Manifest.domain("shop", hosts: [shopHost]), Manifest.route("ws", domain: "shop", path: "/ws", url: echo.url)])
            let proxy = try env.proxy()

            let client = try TestSocket(port: proxy.httpPort)
            try client.send("GET /ws/chat HTTP/1.1\r\nHost: \(shopHost)\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly bytes, ")
            let head = try client.readHead(timeout: 5)
            #expect(head.status == 101, "\(head)")
            try client.send("then more")
            #expect(try client.receive(exactly: 22, timeout: 5) == Array("early bytes, then more".utf8))
        }

        @Test func openStreamsAreNotCutByAReload() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let events = try env.http("events"), next = try env.http("next")
            let base = [Manifest.domain("shop", hosts: [shopHost]), Manifest.route("events", domain: "shop", path: "/sse", url: events.url)]
            try env.apply(base)
            let proxy = try env.proxy()

            let client = try TestSocket(port: proxy.httpPort)
            try client.sendRequest("GET", "/sse", host: shopHost)
            #expect(try client.readHead(timeout: 5).status == 200)
            var received = ""
            func readUntil(_ text: String) throws -> Bool {
                let deadline = Date().addingTimeInterval(5)
                while !received.contains(text), Date() < deadline {
                    guard let bytes = try client.receiveSome(timeout: 5) else { return false }
                    received += String(decoding: bytes, as: UTF8.self)
                }
                return received.contains(text)
            }
            #expect(try readUntil("data: event 1\n"))
            try env.apply(base + [Manifest.route("new", domain: "shop", path: "/new", url: next.url)])
            #expect(eventually(timeout: 3) { (try? httpRequest(port: proxy.httpPort, "/new", host: shopHost))?.echo?.server == "next" })
            let seen = received.components(separatedBy: "data: event ").dropFirst().compactMap { Int($0.prefix { $0.isNumber }) }.max() ?? 0
            #expect(try readUntil("data: event \(seen + 3)\n"),
                    "events keep flowing on the stream opened before the reload: \(received.suffix(200))")
            #expect(events.stats.openStreams == 1 && events.stats.requestCount == 1)
        }

        static let largeSize = 256 << 20
        static let memoryLimitKiB = 200 * 1024

        @Test func largeDownloadPassesIntactWithBoundedMemory() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let (files, proxy) = try env.shop(upstream: "files", route: "files")
            let before = proxy.residentKiB ?? 0
            let sampler = MemorySampler(proxy)

            let client = try TestSocket(port: proxy.httpPort)
            try client.sendRequest("GET", "/big?size=\(Self.largeSize)", host: shopHost)
            let head = try client.readHead(timeout: 10)
            #expect(head.status == 200 && head.header("content-length") == String(Self.largeSize), "\(head)")

            // A client that reads nothing for a while: the proxy must stop reading from the upstream
            // (backpressure) instead of buffering the body.
            var last = -1, stableSince = Date()
            let settled = eventually(timeout: 5) {
                let sent = files.stats.bodyBytesSent
                if sent != last { last = sent; stableSince = Date() }
                return sent == Self.largeSize || Date().timeIntervalSince(stableSince) > 0.4
            }
            #expect(settled && last < 64 << 20,
                    "the upstream wrote \(last >> 20) MiB while the client read nothing: the proxy does not push back")
            #expect((proxy.residentKiB ?? 0) < Self.memoryLimitKiB)

            var verifier = PatternVerifier()
            try client.readBody(of: head, timeout: 20) { verifier.consume($0) }
            let peak = sampler.stop()

            #expect(verifier.offset == Self.largeSize)
            #expect(verifier.valid, "first wrong byte at \(verifier.firstMismatch ?? -1)")
            #expect(peak < Self.memoryLimitKiB, "berth-proxy RSS peaked at \(peak / 1024) MiB (started at \(before / 1024) MiB) for a \(Self.largeSize >> 20) MiB download")
            #expect(try client.request("GET", "/after", host: shopHost).status == 200, "the connection is reusable after a large body")
        }

        @Test func largeUploadPassesIntactWithBoundedMemory() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let (files, proxy) = try env.shop(upstream: "files", route: "files")
            let before = proxy.residentKiB ?? 0
            let sampler = MemorySampler(proxy)

            let client = try TestSocket(port: proxy.httpPort)
            try client.send("POST /upload HTTP/1.1\r\nHost: \(shopHost)\r\nContent-Type: application/octet-stream\r\nContent-Length: \(Self.largeSize)\r\n\r\n")
            // 1 MiB writes of 16 pattern blocks.
            let blocksPerWrite = 16
            var chunk = [UInt8]()
            for _ in 0..<blocksPerWrite { chunk += Pattern.base }
            var sent = 0, block = 0
            while sent < Self.largeSize {
                chunk.withUnsafeMutableBytes { bytes in
                    for index in 0..<blocksPerWrite {
                        bytes.storeBytes(of: UInt64(block + index).littleEndian, toByteOffset: index * Pattern.blockSize, as: UInt64.self)
                    }
                }
                let count = min(chunk.count, Self.largeSize - sent)
                do {
                    try chunk.withUnsafeBytes { try client.send(raw: UnsafeRawBufferPointer(rebasing: $0[0..<count]), timeout: 5) }
                } catch {
                    Issue.record("the upload stalled after \(sent) of \(Self.largeSize) bytes written to the proxy; the upstream has received \(files.stats.bodyBytesReceived) body bytes: \(error)")
                    _ = sampler.stop()
                    return
                }
                sent += count
                block += blocksPerWrite
            }
            let response = try client.readResponse(timeout: 20)
            let peak = sampler.stop()
            let report = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any], "\(response)")
            #expect(report["length"] as? Int == Self.largeSize, "\(report)")
            #expect(report["valid"] as? Bool == true, "\(report)")
            #expect(peak < Self.memoryLimitKiB, "berth-proxy RSS peaked at \(peak / 1024) MiB (started at \(before / 1024) MiB) for a \(Self.largeSize >> 20) MiB upload")
        }

        @Test func requestBodiesAreForwardedWhateverTheirFraming() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let (web, proxy) = try env.shop(upstream: "web", route: "web")

            let client = try TestSocket(port: proxy.httpPort)
            try client.send("POST /chunked HTTP/1.1\r\nHost: \(shopHost)\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            let chunked = try client.readResponse()
            #expect(chunked.echo?.bodyLength == 11, "\(chunked)")
            let megabyte = [UInt8](repeating: 0x62, count: 1 << 20)
            let sized: TestResponse
            do {
                sized = try client.request("PUT", "/sized", host: shopHost, body: megabyte, timeout: 5)
            } catch {
                Issue.record("a 1 MiB PUT did not complete; the upstream received \(web.stats.bodyBytesReceived - 11) of its \(1 << 20) body bytes: \(error)")
                return
            }
            #expect(sized.echo?.method == "PUT" && sized.echo?.bodyLength == 1 << 20, "\(sized)")
        }
    }
}

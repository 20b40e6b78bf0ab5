@testable import DataPlane
import HTTPWire
import NIOCore
import NIOPosix
import Testing
import Spec

/// The request head berth-proxy sends upstream, from a client head given as header pairs
/// (parsed back to check it is itself a valid head).
struct RewrittenHead {
    var requestLine: String
    var headers: [(name: String, value: String)]
    var requestID: String

    subscript(_ name: String) -> [String] { headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value) }

    init(_ pairs: [(String, String)], upgrade: Bool = false, client: String = "203.0.113.7") throws {
        let text = "GET /p?q=1 HTTP/1.1\r\n" + pairs.map { "\($0.0): \($0.1)\r\n" }.joined() + "\r\n"
        let input = ByteBuffer(string: text)
        var fields: [HeaderField] = []
        let parsed = input.withUnsafeReadableBytes { HeadParser.parseRequest($0, fields: &fields) }
        guard case .head(let head) = parsed else { throw ParseFailure(outcome: "\(parsed)") }
        let (out, id) = HeadWriter.requestHead(head, bytes: input, rewrite: .init(
            method: "GET", uri: "/p?q=1", clientAddress: client, scheme: "http", upgrade: upgrade && head.isUpgrade),
            allocator: ByteBufferAllocator(), makeRequestID: { "gen-1" })
        requestID = id.description
        let again = out.withUnsafeReadableBytes { HeadParser.parseRequest($0, fields: &fields) }
        guard case .head(let written) = again, written.length == out.readableBytes else { throw ParseFailure(outcome: "\(again)") }
        requestLine = out.getString(at: 0, length: written.target.upperBound + 9)!
        headers = written.fields.map { field in
            (out.getString(at: field.name.lowerBound, length: field.name.count)!, out.getString(at: field.value.lowerBound, length: field.value.count)!)
        }
    }

    struct ParseFailure: Error { var outcome: String }
}

@Suite struct RequestHeadRewriteTests {
    @Test func forgedIdentityHeadersAreReplacedByWhatTheProxyKnows() throws {
        let out = try RewrittenHead([
            ("Host", "shop.example.test"), ("X-Forwarded-For", "6.6.6.6"), ("X-Real-IP", "6.6.6.6"), ("Forwarded", "for=6.6.6.6"),
            ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "evil.test"), ("X-Auth-User", "admin"), ("x-auth-scopes", "all"),
            ("X-Forwarded-Anything", "1"), ("True-Client-IP", "6.6.6.6"), ("X-Internal-Request", "1"), ("Accept", "*/*"),
        ])
        #expect(out.requestLine == "GET /p?q=1 HTTP/1.1")
        #expect(out["X-Forwarded-For"] == ["203.0.113.7"])
        #expect(out["X-Real-IP"] == ["203.0.113.7"])
        #expect(out["X-Forwarded-Proto"] == ["http"])
        #expect(out["X-Forwarded-Host"] == ["shop.example.test"])
        #expect(out["Forwarded"].isEmpty && out["True-Client-IP"].isEmpty && out["X-Forwarded-Anything"].isEmpty)
        #expect(out["X-Auth-User"].isEmpty && out["X-Auth-Scopes"].isEmpty)
        #expect(out["Host"] == ["shop.example.test"])
        #expect(out["Accept"] == ["*/*"])
        #expect(out["X-Internal-Request"] == ["1"], "unknown headers pass; only identity headers are stripped")
        #expect(out.requestID == "gen-1" && out["X-Request-Id"] == ["gen-1"])
        #expect(out["Connection"].isEmpty, "HTTP/1.1 to the upstream persists without saying so")
    }

    @Test func hopByHopAndConnectionNamedHeadersAreDropped() throws {
        let out = try RewrittenHead([("Host", "a"), ("Connection", "keep-alive, X-Secret-Hop, Content-Length, Host"), ("Keep-Alive", "timeout=5"),
                                     ("X-Secret-Hop", "x"), ("x-secret-hop", "y"), ("TE", "trailers"), ("Upgrade", "websocket"),
                                     ("Proxy-Authorization", "Basic x"), ("Proxy-Connection", "keep-alive"), ("Trailer", "X"),
                                     ("Transfer-Encoding", "chunked")])
        for name in ["Keep-Alive", "X-Secret-Hop", "TE", "Upgrade", "Proxy-Authorization", "Proxy-Connection", "Trailer"] {
            #expect(out[name].isEmpty, "\(name) must not reach the upstream")
        }
        #expect(out["Connection"].isEmpty, "the client's Connection header is not passed on")
        #expect(out["Transfer-Encoding"] == ["chunked"], "framing is kept")
        #expect(out["Host"] == ["a"], "Host is never dropped for being named in Connection")
    }

    @Test(arguments: [0, 1, 9, 10, 15, 16, 255, 256, 0xdead_beef, UInt64.max])
    func requestIDsEndInTheSequenceInHex(_ sequence: UInt64) {
        #expect(RequestID(stem: "a1b2c3d4-0-", sequence: sequence).description == "a1b2c3d4-0-" + String(sequence, radix: 16))
        #expect(RequestID(stem: "", sequence: sequence).description == String(sequence, radix: 16))
        // What the head and the log write is the same text, and exactly as long as announced.
        let id = RequestID(stem: "edge-1-", sequence: sequence)
        var bytes = [UInt8](repeating: 0, count: id.utf8Count + 1)
        let written = bytes.withUnsafeMutableBufferPointer { buffer in
            var cursor = ByteCursor(position: buffer.baseAddress!)
            id.write(to: &cursor)
            return cursor.position - buffer.baseAddress!
        }
        #expect(written == id.utf8Count && String(decoding: bytes[..<written], as: UTF8.self) == "edge-1-" + String(sequence, radix: 16))
    }

    @Test func aClientRequestIDIsKeptOnlyWhenSafe() throws {
        let kept = try RewrittenHead([("Host", "a"), ("X-Request-Id", "abc-123")])
        #expect(kept.requestID == "abc-123" && kept["X-Request-Id"] == ["abc-123"])
        let replaced = try RewrittenHead([("Host", "a"), ("X-Request-Id", "bad id")])
        #expect(replaced.requestID == "gen-1" && replaced["X-Request-Id"] == ["gen-1"])
        let long = try RewrittenHead([("Host", "a"), ("X-Request-Id", String(repeating: "x", count: 129))])
        #expect(long.requestID == "gen-1" && long["X-Request-Id"] == ["gen-1"])
        let two = try RewrittenHead([("Host", "a"), ("X-Request-Id", "first"), ("X-Request-Id", "second")])
        #expect(two.requestID == "first" && two["X-Request-Id"] == ["first"])
    }

    @Test func upgradesKeepTheirHandshakeHeaders() throws {
        let out = try RewrittenHead([("Host", "a"), ("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Key", "k")], upgrade: true)
        #expect(out["Upgrade"] == ["websocket"])
        #expect(out["Connection"] == ["upgrade"])
        #expect(out["Sec-WebSocket-Key"] == ["k"])
    }
}

@Suite struct ResponseHeadRewriteTests {
    static func rewrite(_ text: String, client minor: Int = 1, body: HeadWriter.ResponseBody = .asIs, keepAlive: Bool = true,
                        keepUpgrade: Bool = false) throws -> String {
        let input = ByteBuffer(string: text)
        var fields: [HeaderField] = []
        guard case .head(let head) = input.withUnsafeReadableBytes({ HeadParser.parseResponse($0, fields: &fields) }) else {
            throw RewrittenHead.ParseFailure(outcome: text)
        }
        let out = HeadWriter.responseHead(head, bytes: input, clientMinorVersion: minor, body: body, keepAlive: keepAlive,
                                          keepUpgrade: keepUpgrade, allocator: ByteBufferAllocator())
        return String(buffer: out)
    }

    /// A loop keeps the buffer of its last response for the next one. While the socket still
    /// holds it (a write not yet flushed), the next response must go to fresh storage, never over
    /// the bytes waiting to be sent; once nothing else holds it, its storage is written again.
    @Test func aKeptResponseBufferIsNeverWrittenWhileAWriteHoldsIt() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pool = UpstreamPool(eventLoop: group.next(), configuration: ProxyConfiguration(), counters: ProxyMetrics().makeCounters())
        let input = ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
        var fields: [HeaderField] = []
        guard case .head(let head) = input.withUnsafeReadableBytes({ HeadParser.parseResponse($0, fields: &fields) }) else {
            Issue.record("not parsed")
            return
        }
        func respond(_ body: String) -> ByteBuffer {
            var out = pool.takeResponseBuffer() ?? ByteBufferAllocator().buffer(capacity: 0)
            HeadWriter.responseHead(head, bytes: input, clientMinorVersion: 1, body: .asIs, keepAlive: true, keepUpgrade: false, into: &out)
            out.writeString(body)
            pool.giveBackResponseBuffer(out)
            return out
        }
        let inFlight = respond("ok")
        let address = inFlight.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        let next = respond("no")
        #expect(String(buffer: inFlight) == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "the held write is untouched")
        #expect(String(buffer: next) == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno")
        #expect(next.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } != address, "fresh storage while the write holds the old")
        // Nothing holds `next` but the pool once this scope lets go of it: the following
        // response reuses its storage.
        let reusedAddress = next.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        _ = consume next
        let third = respond("ab")
        #expect(String(buffer: third) == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab")
        #expect(third.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } == reusedAddress, "storage reused")
        try group.syncShutdownGracefully()
    }

    @Test func hopByHopHeadersAreDroppedAndFramingKept() throws {
        let out = try Self.rewrite("HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\nX-Kept: yes\r\n\r\n")
        #expect(out == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Kept: yes\r\n\r\n")
    }

    @Test func framingFollowsTheClient() throws {
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n"
        #expect(try Self.rewrite(chunked) == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "the encoding wins over a length")
        #expect(try Self.rewrite(chunked, client: 0, body: .dechunked, keepAlive: false) == "HTTP/1.0 200 OK\r\nConnection: close\r\n\r\n")
        #expect(try Self.rewrite("HTTP/1.0 200 OK\r\n\r\n", body: .rechunked) == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        #expect(try Self.rewrite("HTTP/1.1 204 No Content\r\n\r\n", client: 0) == "HTTP/1.0 204 No Content\r\nConnection: keep-alive\r\n\r\n")
        #expect(try Self.rewrite("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n", keepUpgrade: true)
                == "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
    }
}

@Suite struct UpstreamTargetTests {
    static func entry(_ path: String, strip: Bool) -> Spec.RouteTableDocument.RouteEntry {
        .init(route: "r", path: path, pathType: .prefix, methods: [], priority: 0, stripPrefix: strip, auth: nil, upstream: .url("http://h"))
    }

    @Test(arguments: [
        ("/api/users", "/api", true, "", "/users"),
        ("/api", "/api", true, "", "/"),
        ("/api/", "/api/", true, "", "/"),
        ("/api/users", "/api", false, "", "/api/users"),
        ("/api/users", "/api", true, "/base", "/base/users"),
        ("/x", "/", true, "/base/", "/base/x"),
    ])
    func upstreamPaths(_ path: String, _ prefix: String, _ strip: Bool, _ base: String, _ expected: String) {
        #expect(UpstreamTarget.upstreamPath(path: path, entry: Self.entry(prefix, strip: strip), basePath: base) == expected)
    }

    @Test func urls() throws {
        let parsed = try #require(ParsedURL("http://127.0.0.1:8081/base"))
        #expect(parsed.host == "127.0.0.1" && parsed.port == 8081 && parsed.path == "/base")
        let v6 = try #require(ParsedURL("http://[::1]/"))
        #expect(v6.host == "::1" && v6.port == 80)
        #expect(ParsedURL("http://h:99999/") == nil)
    }
}

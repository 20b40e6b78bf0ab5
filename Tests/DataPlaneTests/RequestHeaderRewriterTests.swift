@testable import DataPlane
import NIOHTTP1
import Testing
import Spec

@Suite struct RequestHeaderRewriterTests {
    static let context = RequestHeaderRewriter.Context(clientAddress: "203.0.113.7", scheme: "http", requestID: "gen-1", upgrade: false)

    @Test func forgedIdentityHeadersAreReplacedByWhatTheProxyKnows() {
        let headers = HTTPHeaders([
            ("Host", "shop.example.test"), ("X-Forwarded-For", "6.6.6.6"), ("X-Real-IP", "6.6.6.6"), ("Forwarded", "for=6.6.6.6"),
            ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "evil.test"), ("X-Auth-User", "admin"), ("x-auth-scopes", "all"),
            ("X-Internal-Request", "1"), ("Accept", "*/*"),
        ])
        let (out, id) = RequestHeaderRewriter.rewrite(headers, context: Self.context)
        #expect(out["X-Forwarded-For"] == ["203.0.113.7"])
        #expect(out["X-Real-IP"] == ["203.0.113.7"])
        #expect(out["X-Forwarded-Proto"] == ["http"])
        #expect(out["X-Forwarded-Host"] == ["shop.example.test"])
        #expect(out["Forwarded"].isEmpty)
        #expect(out["X-Auth-User"].isEmpty && out["X-Auth-Scopes"].isEmpty)
        #expect(out["Host"] == ["shop.example.test"])
        #expect(out["Accept"] == ["*/*"])
        #expect(out["X-Internal-Request"] == ["1"], "unknown headers pass; only identity headers are stripped")
        #expect(id == "gen-1" && out["X-Request-Id"] == ["gen-1"])
    }

    @Test func hopByHopAndConnectionNamedHeadersAreDropped() {
        let headers = HTTPHeaders([("Host", "a"), ("Connection", "keep-alive, X-Secret-Hop"), ("Keep-Alive", "timeout=5"),
                                   ("X-Secret-Hop", "x"), ("TE", "trailers"), ("Upgrade", "websocket"), ("Proxy-Authorization", "Basic x"),
                                   ("Transfer-Encoding", "chunked")])
        let (out, _) = RequestHeaderRewriter.rewrite(headers, context: Self.context)
        for name in ["Connection", "Keep-Alive", "X-Secret-Hop", "TE", "Upgrade", "Proxy-Authorization"] {
            #expect(out[name].isEmpty, "\(name) must not reach the upstream")
        }
        #expect(out["Transfer-Encoding"] == ["chunked"], "framing is kept")
    }

    @Test func aClientRequestIDIsKeptOnlyWhenSafe() {
        let (kept, id) = RequestHeaderRewriter.rewrite(HTTPHeaders([("Host", "a"), ("X-Request-Id", "abc-123")]), context: Self.context)
        #expect(id == "abc-123" && kept["X-Request-Id"] == ["abc-123"])
        let (replaced, newID) = RequestHeaderRewriter.rewrite(HTTPHeaders([("Host", "a"), ("X-Request-Id", "bad id\u{7f}")]), context: Self.context)
        #expect(newID == "gen-1" && replaced["X-Request-Id"] == ["gen-1"])
    }

    @Test func upgradesKeepTheirHandshakeHeaders() {
        var context = Self.context
        context.upgrade = true
        let (out, _) = RequestHeaderRewriter.rewrite(HTTPHeaders([("Host", "a"), ("Connection", "Upgrade"), ("Upgrade", "websocket"),
                                                                 ("Sec-WebSocket-Key", "k")]), context: context)
        #expect(out["Upgrade"] == ["websocket"])
        #expect(out["Connection"] == ["upgrade"])
        #expect(out["Sec-WebSocket-Key"] == ["k"])
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

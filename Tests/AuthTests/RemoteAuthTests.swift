import Spec
import Testing
@testable import Auth

/// The pure pieces the proxy's own auth requests rest on: URLs it may request, how long a fetched
/// key set lives, the verified-token cache, and what an auth server may never set upstream.
struct RemoteAuthTests {
    // MARK: OutboundURL

    struct URLCase: Sendable, CustomTestStringConvertible {
        var text: String
        /// tls, host, port, target, Host header — or nil when refused.
        var parsed: (Bool, String, Int, String, String)?
        var loopback = false
        var testDescription: String { text }
    }

    static let urlCases: [URLCase] = [
        URLCase(text: "https://id.example.com/.well-known/jwks.json", parsed: (true, "id.example.com", 443, "/.well-known/jwks.json", "id.example.com")),
        URLCase(text: "HTTPS://ID.Example.com:8443", parsed: (true, "id.example.com", 8443, "/", "id.example.com:8443")),
        URLCase(text: "http://127.0.0.1:4181/verify?rd=1&x", parsed: (false, "127.0.0.1", 4181, "/verify?rd=1&x", "127.0.0.1:4181"), loopback: true),
        URLCase(text: "http://[::1]:9000?x=1", parsed: (false, "::1", 9000, "/?x=1", "[::1]:9000"), loopback: true),
        URLCase(text: "http://localhost/jwks", parsed: (false, "localhost", 80, "/jwks", "localhost"), loopback: true),
        URLCase(text: "http://127.1.2.3:80/", parsed: (false, "127.1.2.3", 80, "/", "127.1.2.3"), loopback: true),
        URLCase(text: "http://auth_server.internal:9091/api/verify", parsed: (false, "auth_server.internal", 9091, "/api/verify", "auth_server.internal:9091")),
        URLCase(text: "https://user:pw@id.example.com/jwks", parsed: nil),
        URLCase(text: "https://id.example.com/jwks#frag", parsed: nil),
        URLCase(text: "https://id.example.com/a b", parsed: nil),
        URLCase(text: "https://id.exämple.com/", parsed: nil),
        URLCase(text: "ftp://id.example.com/", parsed: nil),
        URLCase(text: "https://:443/", parsed: nil),
        URLCase(text: "https://id.example.com:0/", parsed: nil),
        URLCase(text: "https://id.example.com:65536/", parsed: nil),
        URLCase(text: "https://id.example.com:+80/", parsed: nil),
        URLCase(text: "http://[::1/", parsed: nil),
        URLCase(text: "http://[fe80::1]x/", parsed: nil),
        URLCase(text: "http://evil.com\r\nX: 1/", parsed: nil),
    ]

    @Test("outbound URLs", arguments: urlCases)
    func outboundURL(_ testCase: URLCase) {
        let url = OutboundURL(testCase.text)
        guard let (tls, host, port, target, hostHeader) = testCase.parsed else {
            #expect(url == nil)
            return
        }
        #expect(url?.isTLS == tls)
        #expect(url?.host == host)
        #expect(url?.port == port)
        #expect(url?.target == target)
        #expect(url?.hostHeader == hostHeader)
        #expect(url?.isLoopback == testCase.loopback)
    }

    @Test("a JWKS URL must be https unless it is on loopback")
    func keySetURLs() {
        #expect((try? OutboundURL.keySet("https://id.example.com/jwks").get()) != nil)
        #expect((try? OutboundURL.keySet("http://127.0.0.1:5556/jwks").get()) != nil)
        #expect((try? OutboundURL.keySet("http://[::1]:5556/jwks").get()) != nil)
        for refused in ["http://id.example.com/jwks", "http://10.0.0.1/jwks", "http://128.0.0.1/jwks", "http://localhost.evil.com/jwks",
                        "http://[::2]/jwks", "file:///etc/jwks"] {
            guard case .failure(let failure) = OutboundURL.keySet(refused) else {
                Issue.record("\(refused) accepted")
                continue
            }
            #expect(failure.reason.contains("jwksURL"), "\(failure.reason)")
        }
    }

    // MARK: KeySetLifetime

    /// A `max-age` that is not well-formed (RFC 9111 §5.2.2.1: digits, no spaces around `=`) counts
    /// as `no-cache`: the minimum, never the default.
    @Test("key set lifetime from Cache-Control", arguments: [
        ([], 600.0), (["public, max-age=3600"], 3600), (["max-age=0"], 60), (["max-age=5"], 60), (["no-cache"], 60),
        (["no-store, max-age=3600"], 60), (["max-age=31536000"], 86_400), (["max-age=99999999999999999999999"], 86_400),
        (["max-age=\"1200\""], 1200), (["MAX-AGE=900"], 900), (["max-age=900", "max-age=300"], 300), (["max-age=300, max-age=900"], 300),
        (["max-age=-1"], 60), (["max-age=1e3"], 60), (["max-age"], 60), (["private"], 600), (["s-maxage=30"], 600),
        (["max-age = 700"], 60), (["max-age=700 , public"], 700), (["foo=\"a,b\", max-age=800"], 800), (["max-age=\"12"], 60),
    ] as [([String], Double)])
    func lifetime(values: [String], seconds: Double) {
        #expect(KeySetLifetime.seconds(cacheControl: values) == seconds)
    }

    // MARK: VerifiedTokenCache

    static let policy = try! CompiledAuthPolicy(name: "oauth", json: AuthPolicy(
        name: "oauth",
        mechanism: .jwt(.init(issuer: TestIssuer.issuer, audiences: ["https://api.example", "https://other.example"],
                              jwksURL: "https://issuer.example/jwks", requiredScopes: ["read"])),
        ipAllow: ["192.0.2.0/24"]).canonicalSpec)

    @Test("a verified token is remembered per policy and host, never past exp, and the address is still checked")
    func tokenCache() throws {
        let issuer = TestIssuer.shared
        let now = TestIssuer.now
        var claims = TestIssuer.claims()
        claims["exp"] = .int(Int(now) + 10)
        let token = issuer.token(.es256, claims: claims)
        let request = AuthRequest.make(authorization: ["Bearer " + token])
        var cache = VerifiedTokenCache(ttl: 30, capacity: 100)
        var lookups = 0
        let keys: (String) -> KeySetState = { _ in
            lookups += 1
            return .available(issuer.keySet, refetchAllowed: false)
        }
        #expect(Self.policy.evaluate(request, now: now, keys: keys, tokens: &cache).grant?.identity == "alice")
        #expect(cache.count == 1)
        // Served from the cache: no key lookup, no signature check.
        #expect(Self.policy.evaluate(request, now: now + 5, keys: keys, tokens: &cache).grant?.identity == "alice")
        #expect(lookups == 1)
        // Past exp (10 s), the cache no longer vouches: the full check runs (and the leeway still admits it).
        #expect(Self.policy.evaluate(request, now: now + 11, keys: keys, tokens: &cache).grant?.identity == "alice")
        #expect(lookups == 2)
        // Another host (other audiences) misses the cache and is refused on its own merits.
        let elsewhere = AuthRequest.make(host: "other.example", authorization: ["Bearer " + token])
        #expect(Self.policy.evaluate(elsewhere, now: now, keys: keys, tokens: &cache).denial?.bearerError == .invalidToken)
        // ipAllow is checked before the cache is consulted.
        let outside = AuthRequest.make(authorization: ["Bearer " + token], client: "198.51.100.1")
        #expect(Self.policy.evaluate(outside, now: now, keys: keys, tokens: &cache).denial?.status == 403)
        // A policy with other settings under the same name never reuses the entry.
        let stricter = try CompiledAuthPolicy(name: "oauth", json: AuthPolicy(
            name: "oauth", mechanism: .jwt(.init(issuer: TestIssuer.issuer, audiences: ["https://api.example"],
                                                 jwksURL: "https://issuer.example/jwks", requiredScopes: ["admin"])),
            ipAllow: ["192.0.2.0/24"]).canonicalSpec)
        #expect(stricter.evaluate(request, now: now + 1, keys: keys, tokens: &cache).denial?.status == 403)
    }

    @Test("the token cache stays within its capacity")
    func tokenCacheCapacity() {
        var cache = VerifiedTokenCache(ttl: 30, capacity: 3)
        let grant = AuthGrant(identity: "a", scopes: [], upstreamHeaders: [])
        for index in 0..<10 {
            let key = VerifiedTokenCache.key(policy: Self.policy.fingerprint, host: "h", token: [UInt8(index)])
            cache.insert(grant, for: key, expiresAt: 2000, now: 1000)
            #expect(cache.count <= 3)
        }
        let expired = VerifiedTokenCache.key(policy: Self.policy.fingerprint, host: "h", token: [99])
        cache.insert(grant, for: expired, expiresAt: 999, now: 1000)
        #expect(cache.grant(for: expired, now: 1000) == nil, "an already expired token is never cached")
    }

    // MARK: forward auth and metadata

    @Test("an auth server cannot set framing or forwarding headers upstream, even when copyHeaders names them")
    func uncopyableHeaders() throws {
        let policy = try CompiledAuthPolicy(name: "sso", json: AuthPolicy(name: "sso", mechanism: .forward(.init(
            url: "http://127.0.0.1:4181/auth", copyHeaders: ["Remote-User", "Content-Length", "Transfer-Encoding", "Host", "X-Forwarded-For"]))).canonicalSpec)
        let verdict = policy.forwardVerdict(status: 200, headers: [("Remote-User", "alice"), ("Content-Length", "0"), ("Transfer-Encoding", "chunked"),
                                                                   ("Host", "evil"), ("X-Forwarded-For", "10.0.0.1")])
        #expect(verdict == .allow(AuthGrant(identity: nil, scopes: [], upstreamHeaders: [HeaderField("remote-user", "alice")])))
    }

    @Test("path-suffixed protected resource metadata (RFC 9728 §3.1)")
    func suffixedMetadata() throws {
        let body = try #require(ProtectedResourceMetadata.body(host: "API.example", path: "/mcp", policies: [Self.policy]))
        let json = try JSONValue.parse(bytes: body)
        #expect(json["resource"] == .string("https://api.example/mcp"))
        #expect(json["scopes_supported"] == .array([.string("read")]))
        #expect(ProtectedResourceMetadata.body(host: "api.example\"x", path: "/mcp", policies: [Self.policy]) == nil)
    }
}

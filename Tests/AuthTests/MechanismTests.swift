import Crypto
import Foundation
import Spec
import Testing
@testable import Auth

/// Bearer, Basic, forward and ipAllow through `CompiledAuthPolicy.evaluate`. Policies are built
/// from Spec's model and its canonical JSON — exactly what the route table carries.
struct MechanismTests {
    static func compile(_ policy: AuthPolicy) -> CompiledAuthPolicy {
        try! CompiledAuthPolicy(name: policy.name, json: policy.canonicalSpec)
    }

    static func sha256Hex(_ text: String) -> String {
        Crypto.SHA256.hash(data: Array(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func basicHeader(_ user: String, _ password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    // MARK: bearer

    static let bearer = compile(AuthPolicy(name: "ci", mechanism: .bearer([
        .init(name: "deploy-bot", sha256: sha256Hex("s3cret-token")),
        .init(name: "grafana", sha256: sha256Hex("other-token")),
    ])))

    struct BearerCase: Sendable, CustomTestStringConvertible {
        var name: String
        var authorization: [String]
        /// nil: denied with 401 and this RFC 6750 error (nil for "no credentials").
        var identity: String?
        var error: BearerError?
        var testDescription: String { name }
    }

    static let bearerCases: [BearerCase] = [
        .init(name: "valid first token", authorization: ["Bearer s3cret-token"], identity: "deploy-bot"),
        .init(name: "valid second token", authorization: ["Bearer other-token"], identity: "grafana"),
        .init(name: "lower-case scheme", authorization: ["bearer other-token"], identity: "grafana"),
        .init(name: "missing", authorization: []),
        .init(name: "wrong scheme", authorization: ["Basic czNjcmV0LXRva2Vu"]),
        .init(name: "unknown token", authorization: ["Bearer guess"], error: .invalidToken),
        .init(name: "token with a suffix", authorization: ["Bearer s3cret-token2"], error: .invalidToken),
        .init(name: "empty credentials", authorization: ["Bearer "], error: .invalidRequest),
        .init(name: "not token68", authorization: ["Bearer s3cret token"], error: .invalidRequest),
        .init(name: "two Authorization fields", authorization: ["Bearer s3cret-token", "Bearer other-token"], error: .invalidRequest),
    ]

    @Test("bearer case table", arguments: bearerCases)
    func bearerTable(_ testCase: BearerCase) {
        let decision = Self.bearer.evaluate(.make(authorization: testCase.authorization), now: 0)
        if let identity = testCase.identity {
            #expect(decision.grant?.identity == identity)
            #expect(decision.grant?.upstreamHeaders == [HeaderField("x-auth-user", identity)])
        } else {
            let denial = decision.denial
            #expect(denial?.status == 401)
            #expect(denial?.bearerError == testCase.error)
            let expected = "Bearer realm=\"api.example\"" + (testCase.error.map { ", error=\"\($0.rawValue)\"" } ?? "")
            #expect(denial?.wwwAuthenticate == expected)
        }
    }

    // MARK: basic

    /// Hashes made with `Bcrypt.hash` (checked against published vectors in `BcryptTests`); bob's
    /// is `$2y$`, as `htpasswd -B` writes.
    static let basic = compile(AuthPolicy(name: "staff", mechanism: .basic([
        .init(name: "alice", bcrypt: Bcrypt.hash(password: Array("hunter2".utf8), variant: .b, cost: 4, salt: Array(0..<16))),
        .init(name: "bob", bcrypt: Bcrypt.hash(password: Array("pässwörd".utf8), variant: .y, cost: 4, salt: Array(16..<32))),
    ])))

    struct BasicCase: Sendable, CustomTestStringConvertible {
        var name: String
        var authorization: [String]
        /// .verifyBasic expected (then `verify()` gives `identity`, nil = denied); else an immediate 401.
        var needsBcrypt: Bool
        var identity: String? = nil
        var testDescription: String { name }
    }

    static let basicCases: [BasicCase] = [
        .init(name: "valid", authorization: [basicHeader("alice", "hunter2")], needsBcrypt: true, identity: "alice"),
        .init(name: "valid UTF-8 password, $2y$ hash", authorization: [basicHeader("bob", "pässwörd")], needsBcrypt: true, identity: "bob"),
        .init(name: "password with ':' is split at the first colon", authorization: [basicHeader("alice", "hunter2:x")], needsBcrypt: true),
        .init(name: "wrong password", authorization: [basicHeader("alice", "hunter3")], needsBcrypt: true),
        .init(name: "unknown user still costs a bcrypt run", authorization: [basicHeader("mallory", "hunter2")], needsBcrypt: true),
        .init(name: "missing", authorization: [], needsBcrypt: false),
        .init(name: "wrong scheme", authorization: ["Bearer hunter2"], needsBcrypt: false),
        .init(name: "not base64", authorization: ["Basic !!!!"], needsBcrypt: false),
        .init(name: "unpadded base64", authorization: ["Basic YWxpY2U6aHVudGVyMg"], needsBcrypt: false),
        .init(name: "no colon", authorization: ["Basic " + Data("alicehunter2".utf8).base64EncodedString()], needsBcrypt: false),
        .init(name: "NUL in password", authorization: ["Basic " + Data("alice:hunter2\u{0}x".utf8).base64EncodedString()], needsBcrypt: false),
    ]

    @Test("basic case table", arguments: basicCases)
    func basicTable(_ testCase: BasicCase) {
        let decision = Self.basic.evaluate(.make(authorization: testCase.authorization), now: 0)
        let final: AuthDecision
        if case .verifyBasic(let job) = decision {
            #expect(testCase.needsBcrypt)
            final = job.verify()
        } else {
            #expect(!testCase.needsBcrypt)
            final = decision
        }
        if let identity = testCase.identity {
            #expect(final.grant?.identity == identity)
        } else {
            #expect(final.denial?.status == 401)
            #expect(final.denial?.wwwAuthenticate == "Basic realm=\"api.example\", charset=\"UTF-8\"")
        }
    }

    @Test("credential cache: keyed by policy, user, password; expires; bounded")
    func cache() throws {
        func job(_ user: String, _ password: String, policy: CompiledAuthPolicy = MechanismTests.basic) throws -> BasicVerification {
            guard case .verifyBasic(let job) = policy.evaluate(.make(authorization: [Self.basicHeader(user, password)]), now: 0) else {
                throw CancellationError()
            }
            return job
        }
        let good = try job("alice", "hunter2")
        #expect(good.cacheKey.count == 32)
        #expect(try job("alice", "hunter2").cacheKey == good.cacheKey)
        #expect(try job("alice", "hunter3").cacheKey != good.cacheKey)
        let otherPolicy = Self.compile(AuthPolicy(name: "staff-2", mechanism: .basic([
            .init(name: "alice", bcrypt: Bcrypt.hash(password: Array("hunter2".utf8), variant: .b, cost: 4, salt: Array(0..<16))),
        ])))
        #expect(try job("alice", "hunter2", policy: otherPolicy).cacheKey != good.cacheKey)

        var cache = CredentialCache(ttl: 60, capacity: 2)
        if case .allow = good.verify() { cache.insert(good.cacheKey, now: 1000) }
        #expect(cache.contains(good.cacheKey, now: 1059))
        #expect(!cache.contains(good.cacheKey, now: 1060))
        #expect(good.cachedDecision.grant?.identity == "alice")
        cache.insert([1], now: 1000)
        cache.insert([2], now: 1000)
        #expect(cache.count <= 2)
    }

    // MARK: forward

    static let forward = compile(AuthPolicy(name: "sso", mechanism: .forward(.init(url: "http://127.0.0.1:4181/auth",
                                                                                    copyHeaders: ["X-Forwarded-User", "Remote-Email"]))))

    @Test("forward: subrequest carries the proxy's view of the request, not the client's X-Forwarded-*")
    func forwardSubrequest() throws {
        let request = AuthRequest.make(authorization: ["Bearer abc"],
                                       headers: [(name: "cookie", value: "session=1"), (name: "x-forwarded-for", value: "6.6.6.6"),
                                                 (name: "x-forwarded-user", value: "admin"), (name: "x-internal-request", value: "1")],
                                       client: "2001:db8::7", method: "POST", target: "/admin/..;/x?y=1")
        guard case .forward(let sub) = Self.forward.evaluate(request, now: 0) else { Issue.record("expected .forward"); return }
        #expect(sub.url == "http://127.0.0.1:4181/auth")
        #expect(sub.method == "GET")
        #expect(sub.headers == [
            HeaderField("x-forwarded-method", "POST"), HeaderField("x-forwarded-proto", "https"), HeaderField("x-forwarded-host", "api.example"),
            HeaderField("x-forwarded-uri", "/admin/..;/x?y=1"), HeaderField("x-forwarded-for", "2001:db8::7"),
            HeaderField("authorization", "Bearer abc"), HeaderField("cookie", "session=1"),
        ])
        #expect(Self.forward.headersToRemove == ["x-auth-user", "x-auth-scopes", "x-forwarded-user", "remote-email"])
    }

    @Test("forward: 2xx allows with copyHeaders; anything else goes back to the client", arguments: [
        (200, true), (204, true), (299, true), (301, false), (302, false), (401, false), (403, false), (500, false), (199, false),
    ])
    func forwardVerdict(status: Int, allows: Bool) {
        let answer: [(name: String, value: String)] = [("X-Forwarded-User", "alice"), ("Set-Cookie", "a=b"), ("remote-email", "a@example.com"),
                                                       ("Remote-Email", "evil\r\nX-Admin: 1")]
        let verdict = Self.forward.forwardVerdict(status: status, headers: answer)
        if allows {
            #expect(verdict == .allow(AuthGrant(identity: nil, scopes: [], upstreamHeaders: [
                HeaderField("x-forwarded-user", "alice"), HeaderField("remote-email", "a@example.com"),
            ])))
        } else {
            #expect(verdict == .returnToClient)
        }
        #expect(Self.forward.forwardUnavailable(reason: "timeout").status == 503)
    }

    // MARK: ipAllow

    static let officeOnly = compile(AuthPolicy(name: "office", mechanism: nil, ipAllow: ["10.0.0.0/8", "192.0.2.0/24", "2001:db8:abcd::/48"]))
    static let officeBearer = compile(AuthPolicy(name: "office-ci", mechanism: .bearer([.init(name: "bot", sha256: sha256Hex("t"))]),
                                                 ipAllow: ["192.0.2.0/24", "2001:db8::/32"]))

    @Test("ipAllow alone", arguments: [
        ("10.1.2.3", true), ("10.255.255.255", true), ("11.0.0.1", false), ("192.0.2.255", true), ("192.0.3.0", false),
        ("::ffff:10.0.0.1", true), ("::ffff:11.0.0.1", false), ("2001:db8:abcd:1::1", true), ("2001:db8:abce::1", false),
        ("::1", false), ("127.0.0.1", false),
    ])
    func ipAllowAlone(client: String, allowed: Bool) {
        let decision = Self.officeOnly.evaluate(.make(client: client), now: 0)
        if allowed {
            #expect(decision.grant == AuthGrant(identity: nil, scopes: [], upstreamHeaders: []))
        } else {
            #expect(decision.denial?.status == 403)
            #expect(decision.denial?.wwwAuthenticate == nil)
        }
    }

    /// Both must pass: the address check comes first (403 from outside whatever the token), then
    /// the mechanism (401 inside without a token).
    @Test("ipAllow with a mechanism", arguments: [
        ("192.0.2.1", "Bearer t", 200), ("192.0.2.1", nil, 401), ("198.51.100.1", "Bearer t", 403), ("2001:db8::1", "Bearer t", 200),
        ("2001:db9::1", "Bearer t", 403),
    ] as [(String, String?, Int)])
    func ipAllowWithBearer(client: String, authorization: String?, status: Int) {
        let decision = Self.officeBearer.evaluate(.make(authorization: authorization.map { [$0] } ?? [], client: client), now: 0)
        #expect((decision.grant != nil ? 200 : decision.denial?.status) == status)
    }

    @Test("a textual client address that is not an IP is refused by the initializer")
    func badAddress() {
        #expect(AuthRequest(method: "GET", host: "h", target: "/", headers: [], clientAddress: "example.com") == nil)
    }
}

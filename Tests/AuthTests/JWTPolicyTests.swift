import Crypto
import Spec
import Testing
@testable import Auth

/// The JWT mechanism through `CompiledAuthPolicy.evaluate`, with keys and tokens made in the test.
/// Expected outcomes follow from RFC 6750 §3.1 (no error code without credentials;
/// `invalid_request` for a malformed request → 401 here; `invalid_token` → 401;
/// `insufficient_scope` → 403) and from the policy below.
struct JWTPolicyTests {
    static let jwksURL = "https://issuer.example/.well-known/jwks.json"
    /// Two hosts' resource URIs plus a non-URL audience that counts everywhere.
    static let policy = try! CompiledAuthPolicy(name: "oauth", json: AuthPolicy(
        name: "oauth",
        mechanism: .jwt(.init(issuer: TestIssuer.issuer, audiences: ["https://api.example", "https://other.example", "api://shared"],
                              jwksURL: jwksURL, requiredScopes: ["read"])),
        ipAllow: []).canonicalSpec)

    enum Expected: Sendable, Equatable, CustomStringConvertible {
        case allow(user: String, scopes: [String])
        case deny(Int, BearerError?)
        var description: String {
            switch self {
            case .allow(let user, let scopes): "allow \(user) [\(scopes.joined(separator: " "))]"
            case .deny(let status, let error): "deny \(status) \(error?.rawValue ?? "-")"
            }
        }
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var authorization: @Sendable () -> [String]
        var host = "api.example"
        var expected: Expected
        /// A phrase of the denial's log reason: the case must fail for the reason it is about.
        var why: String? = nil
        var testDescription: String { "\(name) → \(expected)" }
    }

    static let issuer = TestIssuer.shared
    static let now = TestIssuer.now
    static func bearer(_ token: String) -> [String] { ["Bearer " + token] }
    static func claims(_ change: (inout [String: JSONValue]) -> Void) -> [String: JSONValue] {
        var claims = TestIssuer.claims()
        change(&claims)
        return claims
    }

    static let cases: [Case] = [
        // Valid: signed by the issuer's key of the token's type, iss/aud/exp/nbf/scope as the policy asks.
        Case(name: "valid RS256", authorization: { bearer(issuer.token(.rs256)) }, expected: .allow(user: "alice", scopes: ["read", "write"])),
        Case(name: "valid ES256", authorization: { bearer(issuer.token(.es256)) }, expected: .allow(user: "alice", scopes: ["read", "write"])),
        Case(name: "valid EdDSA", authorization: { bearer(issuer.token(.edDSA)) }, expected: .allow(user: "alice", scopes: ["read", "write"])),
        Case(name: "scheme name is case-insensitive (RFC 9110 §11.1)", authorization: { ["bEaReR " + issuer.token(.es256)] },
             expected: .allow(user: "alice", scopes: ["read", "write"])),
        Case(name: "aud as an array with one accepted value", authorization: {
            bearer(issuer.token(.rs256, claims: claims { $0["aud"] = .array([.string("https://nowhere.example"), .string("https://api.example")]) }))
        }, expected: .allow(user: "alice", scopes: ["read", "write"])),
        Case(name: "non-URL audience counts on every host", authorization: {
            bearer(issuer.token(.rs256, claims: claims { $0["aud"] = .string("api://shared") }))
        }, expected: .allow(user: "alice", scopes: ["read", "write"])),
        Case(name: "scp array instead of scope", authorization: {
            bearer(issuer.token(.es256, claims: claims { $0["scope"] = nil; $0["scp"] = .array([.string("read")]) }))
        }, expected: .allow(user: "alice", scopes: ["read"])),
        Case(name: "no kid, one key of the token's type", authorization: {
            let input = TestIssuer.signingInput(header: ["alg": .string("EdDSA")], claims: TestIssuer.claims())
            return bearer(input + "." + Base64URL.encode(issuer.sign(.edDSA, Array(input.utf8))))
        }, expected: .allow(user: "alice", scopes: ["read", "write"])),
        // Leeway is 60 s: 30 s past exp or 30 s before nbf still passes; 61 s does not.
        Case(name: "expired 30 s ago (within leeway)", authorization: { bearer(issuer.token(.rs256, claims: claims { $0["exp"] = .int(Int(now) - 30) })) },
             expected: .allow(user: "alice", scopes: ["read", "write"])),
        Case(name: "nbf 30 s ahead (within leeway)", authorization: { bearer(issuer.token(.rs256, claims: claims { $0["nbf"] = .int(Int(now) + 30) })) },
             expected: .allow(user: "alice", scopes: ["read", "write"])),

        // Missing or other scheme: 401 without an error code (RFC 6750 §3.1).
        Case(name: "missing", authorization: { [] }, expected: .deny(401, nil), why: "no Authorization header"),
        Case(name: "wrong scheme (Basic)", authorization: { ["Basic YWxpY2U6c2VjcmV0"] }, expected: .deny(401, nil), why: "is not Bearer"),
        // Malformed requests: invalid_request.
        Case(name: "Bearer without a token", authorization: { ["Bearer"] }, expected: .deny(401, .invalidRequest), why: "no credentials after the scheme"),
        Case(name: "token with a space inside", authorization: { ["Bearer abc def"] }, expected: .deny(401, .invalidRequest), why: "not token68"),
        Case(name: "two Authorization fields", authorization: { bearer(issuer.token(.rs256)) + bearer(issuer.token(.rs256)) },
             expected: .deny(401, .invalidRequest), why: "several Authorization fields"),
        Case(name: "two parts only", authorization: { bearer("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0") }, expected: .deny(401, .invalidRequest), why: "not three dot-separated parts"),
        Case(name: "padded base64", authorization: {
            let parts = issuer.token(.rs256).split(separator: ".")
            return bearer(parts[0] + "==." + parts[1] + "." + parts[2])
        }, expected: .deny(401, .invalidRequest), why: "not unpadded base64url"),
        Case(name: "five parts (JWE)", authorization: { bearer("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d") }, expected: .deny(401, .invalidRequest), why: "JWE"),
        Case(name: "header is not JSON", authorization: {
            let parts = issuer.token(.rs256).split(separator: ".")
            return bearer(Base64URL.encode(Array("{alg:RS256}".utf8)) + "." + parts[1] + "." + parts[2])
        }, expected: .deny(401, .invalidRequest), why: "not strict JSON"),

        // Invalid tokens: invalid_token.
        Case(name: "expired 61 s ago", authorization: { bearer(issuer.token(.rs256, claims: claims { $0["exp"] = .int(Int(now) - 61) })) },
             expected: .deny(401, .invalidToken), why: "token expired"),
        Case(name: "not yet valid (nbf 120 s ahead)", authorization: { bearer(issuer.token(.es256, claims: claims { $0["nbf"] = .int(Int(now) + 120) })) },
             expected: .deny(401, .invalidToken), why: "not yet valid"),
        Case(name: "no exp", authorization: { bearer(issuer.token(.rs256, claims: claims { $0["exp"] = nil })) }, expected: .deny(401, .invalidToken), why: "exp is missing"),
        Case(name: "wrong issuer", authorization: { bearer(issuer.token(.rs256, claims: claims { $0["iss"] = .string("https://evil.example") })) },
             expected: .deny(401, .invalidToken), why: "issuer not accepted"),
        Case(name: "wrong audience", authorization: { bearer(issuer.token(.rs256, claims: claims { $0["aud"] = .string("https://elsewhere.example") })) },
             expected: .deny(401, .invalidToken), why: "audience not accepted"),
        Case(name: "token for another host's audience", authorization: {
            bearer(issuer.token(.rs256, claims: claims { $0["aud"] = .string("https://other.example") }))
        }, expected: .deny(401, .invalidToken), why: "audience not accepted"),
        Case(name: "same token on its own host", authorization: {
            bearer(issuer.token(.rs256, claims: claims { $0["aud"] = .string("https://other.example") }))
        }, host: "other.example", expected: .allow(user: "alice", scopes: ["read", "write"])),
        Case(name: "alg none", authorization: { bearer(TestIssuer.unsecured()) }, expected: .deny(401, .invalidToken), why: "alg none"),
        Case(name: "HS256 signed with the RSA public key as secret", authorization: { bearer(issuer.hs256WithRSAPublicKey()) },
             expected: .deny(401, .invalidToken), why: "HMAC algorithm HS256 refused"),
        Case(name: "ES256 token naming the RSA key's kid", authorization: { bearer(issuer.token(.es256, kid: "rsa-1")) },
             expected: .deny(401, .invalidToken), why: "not of the type"),
        Case(name: "RS256 token naming the EC key's kid", authorization: { bearer(issuer.token(.rs256, kid: "ec-1")) },
             expected: .deny(401, .invalidToken), why: "not of the type"),
        Case(name: "truncated signature", authorization: { bearer(String(issuer.token(.rs256).dropLast(2))) }, expected: .deny(401, .invalidToken), why: "signature does not verify"),
        Case(name: "signature by another key under the same kid", authorization: { bearer(TestIssuer.rotated.token(.es256)) },
             expected: .deny(401, .invalidToken), why: "signature does not verify"),
        Case(name: "claims changed after signing", authorization: {
            let parts = issuer.token(.es256).split(separator: ".")
            let forged = Base64URL.encode(JSONValue.object(claims { $0["sub"] = .string("admin") }).canonicalBytes)
            return bearer(parts[0] + "." + forged + "." + parts[2])
        }, expected: .deny(401, .invalidToken), why: "signature does not verify"),
        Case(name: "typ of a DPoP proof", authorization: { bearer(issuer.token(.es256, extraHeader: ["typ": .string("dpop+jwt")])) },
             expected: .deny(401, .invalidToken), why: "typ"),
        Case(name: "crit header", authorization: { bearer(issuer.token(.es256, extraHeader: ["crit": .array([.string("exp")])])) },
             expected: .deny(401, .invalidToken), why: "crit"),
        Case(name: "sub with a line break (header injection)", authorization: {
            bearer(issuer.token(.es256, claims: claims { $0["sub"] = .string("alice\r\nX-Admin: 1") }))
        }, expected: .deny(401, .invalidToken), why: "sub cannot be sent"),
        Case(name: "RS384 (unsupported)", authorization: {
            let input = TestIssuer.signingInput(header: ["alg": .string("RS384"), "kid": .string("rsa-1")], claims: TestIssuer.claims())
            return bearer(input + "." + Base64URL.encode(issuer.sign(.rs256, Array(input.utf8))))
        }, expected: .deny(401, .invalidToken), why: "RS384 is not supported"),

        // Authenticated but not authorised: 403 insufficient_scope.
        Case(name: "missing scope", authorization: { bearer(issuer.token(.rs256, claims: claims { $0["scope"] = .string("write") })) },
             expected: .deny(403, .insufficientScope), why: "lacks scope read"),
        Case(name: "no scope at all", authorization: { bearer(issuer.token(.rs256, claims: claims { $0["scope"] = nil })) },
             expected: .deny(403, .insufficientScope), why: "lacks scope read"),
        Case(name: "scope that only contains the required one as a substring", authorization: {
            bearer(issuer.token(.rs256, claims: claims { $0["scope"] = .string("readonly") }))
        }, expected: .deny(403, .insufficientScope), why: "lacks scope read"),
    ]

    @Test("JWT case table", arguments: cases)
    func table(_ testCase: Case) {
        let request = AuthRequest.make(host: testCase.host, authorization: testCase.authorization())
        let decision = Self.policy.evaluate(request, now: Self.now) { _ in .available(Self.issuer.keySet, refetchAllowed: false) }
        switch (decision, testCase.expected) {
        case (.allow(let grant), .allow(let user, let scopes)):
            #expect(grant.identity == user)
            #expect(grant.scopes == scopes)
            #expect(grant.upstreamHeaders == [HeaderField("x-auth-user", user), HeaderField("x-auth-scopes", scopes.joined(separator: " "))])
        case (.deny(let denial), .deny(let status, let error)):
            #expect(denial.status == status, "\(denial.reason)")
            #expect(denial.bearerError == error, "\(denial.reason)")
            if let why = testCase.why { #expect(denial.reason.contains(why), "\(denial.reason)") }
            let challenge = denial.wwwAuthenticate ?? ""
            #expect(challenge.hasPrefix("Bearer realm=\"\(testCase.host)\""))
            #expect(challenge.hasSuffix("resource_metadata=\"https://\(testCase.host)/.well-known/oauth-protected-resource\""))
            #expect(challenge.contains("error=") == (error != nil))
        default:
            Issue.record("got \(decision), expected \(testCase.expected)")
        }
    }

    @Test("challenge strings, field by field (RFC 6750 §3, RFC 9728 §5.1)")
    func challenges() {
        let metadata = "resource_metadata=\"https://api.example/.well-known/oauth-protected-resource\""
        let missing = Self.policy.evaluate(.make(), now: Self.now) { _ in .available(Self.issuer.keySet, refetchAllowed: false) }
        #expect(missing.denial?.wwwAuthenticate == "Bearer realm=\"api.example\", \(metadata)")
        let scope = Self.policy.evaluate(.make(authorization: Self.bearer(Self.issuer.token(.rs256, claims: Self.claims { $0["scope"] = .string("write") }))),
                                         now: Self.now) { _ in .available(Self.issuer.keySet, refetchAllowed: false) }
        #expect(scope.denial?.wwwAuthenticate == "Bearer realm=\"api.example\", error=\"insufficient_scope\", scope=\"read\", \(metadata)")
        #expect(scope.denial?.body == "insufficient scope\n")
        let expired = Self.policy.evaluate(.make(authorization: Self.bearer(Self.issuer.token(.rs256, claims: Self.claims { $0["exp"] = .int(1) }))),
                                           now: Self.now) { _ in .available(Self.issuer.keySet, refetchAllowed: false) }
        #expect(expired.denial?.wwwAuthenticate == "Bearer realm=\"api.example\", error=\"invalid_token\", error_description=\"token expired\", \(metadata)")
    }

    /// Key rotation: the issuer starts signing with `rsa-2`, which the cached set lacks. With a
    /// refetch allowed the decision asks for keys; with the rotated set the token passes; when
    /// the limiter says no, the unknown kid is refused.
    @Test("unknown kid, then rotated JWKS")
    func rotation() throws {
        let newKeys = TestIssuer.rotated
        let token = newKeys.token(.rs256, kid: "rsa-2")
        let request = AuthRequest.make(authorization: Self.bearer(token))
        let old = Self.issuer.keySet

        let first = Self.policy.evaluate(request, now: Self.now) { _ in .available(old, refetchAllowed: true) }
        guard case .needKeys(let needed) = first else { Issue.record("expected needKeys, got \(first)"); return }
        #expect(needed == KeysNeeded(jwksURL: Self.jwksURL, keyID: "rsa-2"))

        let rotatedJWKS = JSONValue.object(["keys": .array([Self.issuer.rsaJWK(kid: "rsa-1"), newKeys.rsaJWK(kid: "rsa-2")])])
        let fresh = try JSONWebKeySet.parse(rotatedJWKS.canonicalBytes)
        let second = Self.policy.evaluate(request, now: Self.now) { _ in .available(fresh, refetchAllowed: false) }
        #expect(second.grant?.identity == "alice")

        let limited = Self.policy.evaluate(request, now: Self.now) { _ in .available(old, refetchAllowed: false) }
        #expect(limited.denial?.status == 401)
        #expect(limited.denial?.bearerError == .invalidToken)
    }

    @Test("no cached keys → needKeys; unavailable keys → 503; a foreign issuer never triggers a fetch")
    func keyStates() {
        let request = AuthRequest.make(authorization: Self.bearer(Self.issuer.token(.es256)))
        guard case .needKeys(let needed) = Self.policy.evaluate(request, now: Self.now, keys: { _ in .missing }) else {
            Issue.record("expected needKeys"); return
        }
        #expect(needed == KeysNeeded(jwksURL: Self.jwksURL, keyID: nil))

        let unavailable = Self.policy.evaluate(request, now: Self.now) { _ in .unavailable(reason: "connection refused") }
        #expect(unavailable.denial?.status == 503)
        #expect(unavailable.denial?.wwwAuthenticate == nil)

        let foreign = AuthRequest.make(authorization: Self.bearer(Self.issuer.token(.es256, claims: Self.claims { $0["iss"] = .string("https://evil.example") })))
        let decision = Self.policy.evaluate(foreign, now: Self.now, keys: { _ in .missing })
        #expect(decision.denial?.bearerError == .invalidToken)
    }

    @Test("the refetch limiter allows one fetch per URL per interval")
    func limiter() {
        var limiter = KeyRefetchLimiter(interval: 30)
        let results = [limiter.permit("u", now: 100), limiter.permit("u", now: 129), limiter.permit("other", now: 129),
                       limiter.wouldPermit("u", now: 129.9), limiter.permit("u", now: 130)]
        // 30 s after the first fetch of "u" the next one may start; other URLs are independent.
        #expect(results == [true, false, true, false, true])
    }

    /// RFC 9728 §2: `resource`, `authorization_servers`, `scopes_supported`,
    /// `bearer_methods_supported` — built from the policy above.
    @Test("protected resource metadata")
    func metadata() throws {
        let body = try #require(ProtectedResourceMetadata.body(host: "API.example", policies: [Self.policy]))
        let json = try JSONValue.parse(bytes: body)
        #expect(json == .object([
            "resource": .string("https://api.example"),
            "authorization_servers": .array([.string(TestIssuer.issuer)]),
            "scopes_supported": .array([.string("read")]),
            "bearer_methods_supported": .array([.string("header")]),
        ]))
        let bearerOnly = try CompiledAuthPolicy(name: "b", json: AuthPolicy(name: "b", mechanism: .bearer([.init(name: "ci", sha256: String(repeating: "ab", count: 32))])).canonicalSpec)
        #expect(ProtectedResourceMetadata.body(host: "api.example", policies: [bearerOnly]) == nil)
    }
}

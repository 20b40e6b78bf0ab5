import Spec
import Testing
@testable import Auth

/// The per-connection memo of the last credentials that passed: reused only for the same policy,
/// host and byte-identical `Authorization` value, from an allowed address, and never longer than
/// the verified-token cache would vouch for the grant.
struct CredentialMemoTests {
    static let bearer = MechanismTests.bearer
    static let officeBearer = MechanismTests.officeBearer
    static let jwt = RemoteAuthTests.policy

    /// The memo's answer for `value` as the proxy would ask for it (bytes as received).
    static func lookup(_ memo: CredentialMemo?, policy: CompiledAuthPolicy, host: String = "api.example", value: String,
                       client: String = "192.0.2.10", now: Double) -> AuthGrant? {
        let address = CIDR.parseAddress(client)!
        return Array(value.utf8).withUnsafeBytes { memo?.grant(policy: policy, host: host, authorization: $0, clientAddress: address, now: now) }
    }

    @Test("a bearer grant is memoized and reused only for the same value, policy, host and address")
    func bearerMemo() {
        var tokens = VerifiedTokenCache(ttl: 30, capacity: 10)
        var memo: CredentialMemo?
        let decision = Self.bearer.evaluate(.make(authorization: ["Bearer s3cret-token"]), now: 100, keys: { _ in .missing },
                                            tokens: &tokens, memo: &memo)
        #expect(decision.grant?.identity == "deploy-bot")
        #expect(memo?.grant == decision.grant)
        #expect(Self.lookup(memo, policy: Self.bearer, value: "Bearer s3cret-token", now: 101)?.identity == "deploy-bot")
        // One byte off, another length, another scheme spelling: evaluated again.
        for other in ["Bearer s3cret-tokem", "Bearer s3cret-toke", "Bearer s3cret-token2", "bearer s3cret-token", "Bearer  s3cret-token", ""] {
            #expect(Self.lookup(memo, policy: Self.bearer, value: other, now: 101) == nil, "\(other)")
        }
        #expect(Self.lookup(memo, policy: Self.bearer, host: "other.example", value: "Bearer s3cret-token", now: 101) == nil)
        #expect(Self.lookup(memo, policy: Self.officeBearer, value: "Bearer s3cret-token", now: 101) == nil, "another policy")
        #expect(Self.lookup(memo, policy: Self.bearer, value: "Bearer s3cret-token", now: 130) == nil, "past the cache lifetime")
    }

    @Test("ipAllow is checked on every memoized request")
    func memoChecksAddress() {
        var tokens = VerifiedTokenCache(ttl: 30, capacity: 10)
        var memo: CredentialMemo?
        _ = Self.officeBearer.evaluate(.make(authorization: ["Bearer t"]), now: 0, keys: { _ in .missing }, tokens: &tokens, memo: &memo)
        #expect(Self.lookup(memo, policy: Self.officeBearer, value: "Bearer t", now: 1)?.identity == "bot")
        #expect(Self.lookup(memo, policy: Self.officeBearer, value: "Bearer t", client: "198.51.100.1", now: 1) == nil)
    }

    @Test("refusals, several Authorization fields and a disabled cache memoize nothing")
    func nothingMemoized() {
        var tokens = VerifiedTokenCache(ttl: 30, capacity: 10)
        var memo: CredentialMemo?
        _ = Self.bearer.evaluate(.make(authorization: ["Bearer nope"]), now: 0, keys: { _ in .missing }, tokens: &tokens, memo: &memo)
        #expect(memo == nil)
        _ = Self.bearer.evaluate(.make(authorization: ["Bearer s3cret-token", "Bearer s3cret-token"]), now: 0, keys: { _ in .missing },
                                 tokens: &tokens, memo: &memo)
        #expect(memo == nil)
        var disabled = VerifiedTokenCache(capacity: 0)
        let decision = Self.bearer.evaluate(.make(authorization: ["Bearer s3cret-token"]), now: 0, keys: { _ in .missing },
                                            tokens: &disabled, memo: &memo)
        #expect(decision.grant != nil)
        #expect(memo == nil)
    }

    @Test("a JWT is memoized no longer than the cache keeps it, and never past exp")
    func jwtMemoLifetime() {
        let issuer = TestIssuer.shared
        let now = TestIssuer.now
        var claims = TestIssuer.claims()
        claims["exp"] = .int(Int(now) + 10)
        let value = "Bearer " + issuer.token(.es256, claims: claims)
        let keys: (String) -> KeySetState = { _ in .available(issuer.keySet, refetchAllowed: false) }
        var tokens = VerifiedTokenCache(ttl: 30, capacity: 10)
        var memo: CredentialMemo?
        #expect(Self.jwt.evaluate(.make(authorization: [value]), now: now, keys: keys, tokens: &tokens, memo: &memo).grant?.identity == "alice")
        #expect(Self.lookup(memo, policy: Self.jwt, value: value, now: now + 9)?.identity == "alice")
        #expect(Self.lookup(memo, policy: Self.jwt, value: value, now: now + 10) == nil)
        // From a cache hit, the memo takes the cache entry's expiry.
        var fromCache: CredentialMemo?
        #expect(Self.jwt.evaluate(.make(authorization: [value]), now: now + 1, keys: keys, tokens: &tokens, memo: &fromCache).grant != nil)
        #expect(Self.lookup(fromCache, policy: Self.jwt, value: value, now: now + 10) == nil)
        // A host whose audiences the token lacks is refused, memo or not.
        #expect(Self.lookup(memo, policy: Self.jwt, host: "other.example", value: value, now: now + 1) == nil)
    }

    @Test("the constant-time comparison", arguments: [0, 1, 7, 8, 9, 15, 16, 17, 64, 800])
    func constantTimeEquality(length: Int) {
        let stored = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        func equal(_ presented: [UInt8]) -> Bool { presented.withUnsafeBytes { CredentialMemo.equalInConstantTime(stored, $0) } }
        #expect(equal(stored))
        #expect(!equal(stored + [0]))
        #expect(length == 0 || !equal(Array(stored.dropLast())))
        for index in stride(from: 0, to: length, by: max(1, length / 20)) + (length > 0 ? [length - 1] : []) {
            var changed = stored
            changed[index] ^= 0x01
            #expect(!equal(changed), "byte \(index) of \(length)")
        }
    }
}

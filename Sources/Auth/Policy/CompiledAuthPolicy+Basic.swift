import Crypto

extension CompiledAuthPolicy {
    /// Basic auth (RFC 7617): parsing here, bcrypt in `BasicVerification.verify()`, which the
    /// proxy runs off the event loop after consulting its `CredentialCache`.
    func evaluateBasic(_ request: AuthRequest, users: [String: Bcrypt.Hash]) -> AuthDecision {
        let challenge = "Basic realm=\(Challenge.quoted(request.host)), charset=\"UTF-8\""
        func deny(_ reason: String) -> AuthDecision {
            .deny(AuthDenial(status: 401, wwwAuthenticate: challenge, body: "authentication required\n", reason: reason))
        }
        let credentials: [UInt8]
        switch Self.authorization(request) {
        case .missing: return deny("no Authorization header")
        case .malformed(let why): return deny(why)
        case .present(let scheme, _) where scheme != "basic": return deny("Authorization scheme \(scheme) is not Basic")
        case .present(_, let value): credentials = value
        }
        // A user-pass longer than bcrypt can use (72 bytes of password) plus a long name is noise.
        guard credentials.count <= 1024, let decoded = Base64Standard.decode(credentials) else { return deny("credentials are not base64") }
        guard let colon = decoded.firstIndex(of: UInt8(ascii: ":")) else { return deny("credentials have no ':'") }
        let userBytes = decoded[..<colon], password = Array(decoded[(colon + 1)...])
        // RFC 7617 §2: no control characters in either part (this also rules out NUL, which C
        // bcrypt implementations would treat as the end of the password).
        guard !decoded.contains(where: { $0 < 0x20 || $0 == 0x7f }), let user = String(validating: userBytes, as: UTF8.self) else {
            return deny("credentials contain control characters or invalid UTF-8")
        }
        let known = users[user]
        // An unknown user costs the same bcrypt run as a known one (against another user's hash,
        // and refused whatever it computes), so response times do not reveal which users exist.
        guard let hash = known ?? users.values.min(by: { $0.encoded < $1.encoded }) else { return deny("no users") }
        return .verifyBasic(BasicVerification(policy: self, user: user, password: password, hash: hash, knownUser: known != nil,
                                              challenge: challenge))
    }
}

/// The slow half of a Basic check. `cacheKey` identifies (policy, user, password, stored hash);
/// a proxy that finds it in its `CredentialCache` may use `cachedDecision` instead of `verify()`.
public struct BasicVerification: Sendable {
    let policy: CompiledAuthPolicy
    public let user: String
    let password: [UInt8]
    let hash: Bcrypt.Hash
    let knownUser: Bool
    let challenge: String
    /// SHA-256 over the length-prefixed policy name, user, password and stored hash: the cache
    /// never holds a password, and a changed hash in a new table misses the cache.
    public let cacheKey: [UInt8]

    init(policy: CompiledAuthPolicy, user: String, password: [UInt8], hash: Bcrypt.Hash, knownUser: Bool, challenge: String) {
        self.policy = policy
        self.user = user
        self.password = password
        self.hash = hash
        self.knownUser = knownUser
        self.challenge = challenge
        var hasher = Crypto.SHA256()
        for part in [Array(policy.name.utf8), Array(user.utf8), password, Array(hash.encoded.utf8)] {
            withUnsafeBytes(of: UInt64(part.count).bigEndian) { hasher.update(bufferPointer: $0) }
            hasher.update(data: part)
        }
        self.cacheKey = Array(hasher.finalize())
    }

    /// bcrypt: 2^cost Blowfish key schedules — milliseconds to seconds. Never on an event loop.
    /// On `.allow`, the caller records `cacheKey` in its cache.
    public func verify() -> AuthDecision {
        let matches = Bcrypt.verify(password: password, hash: hash.encoded)
        guard matches, knownUser else {
            return .deny(AuthDenial(status: 401, wwwAuthenticate: challenge, body: "authentication required\n",
                                    reason: knownUser ? "wrong password for user \(user)" : "unknown user \(user)"))
        }
        return cachedDecision
    }

    /// The decision for credentials the cache vouches for.
    public var cachedDecision: AuthDecision { .allow(policy.grant(identity: user, scopes: [])) }
}

/// Recently verified Basic credentials, by `BasicVerification.cacheKey`, so a client sending the
/// same good credentials on every request does not cost a bcrypt run each time. Only successes
/// go in; bounded in size. A value type: the proxy keeps one behind its own lock.
public struct CredentialCache: Sendable {
    public let ttl: Double
    public let capacity: Int
    private var expiries: [[UInt8]: Double] = [:]

    public init(ttl: Double = 60, capacity: Int = 10_000) {
        self.ttl = ttl
        self.capacity = capacity
    }

    public func contains(_ key: [UInt8], now: Double) -> Bool {
        guard let expiry = expiries[key] else { return false }
        return now < expiry
    }

    public mutating func insert(_ key: [UInt8], now: Double) {
        if expiries.count >= capacity {
            expiries = expiries.filter { $0.value > now }
            // Still full of live entries: start over rather than grow (a full cache only costs bcrypt runs).
            if expiries.count >= capacity { expiries.removeAll(keepingCapacity: true) }
        }
        expiries[key] = now + ttl
    }

    public var count: Int { expiries.count }
}

import Crypto

/// JWTs that passed recently, so a client presenting the same token on every request does not
/// cost a signature check each time (RS256 verifies ~22,000 times a second on a core here, ES256
/// ~11,000: slower than the proxy forwards). Keyed by SHA-256 over the policy's fingerprint, the
/// request host and the token — never the token itself — so a changed policy, another host (its
/// audiences differ) or another token misses. An entry lives `ttl` seconds at most and never past
/// the token's `exp`. Only successes go in. A value type; the proxy keeps one per event loop.
public struct VerifiedTokenCache: Sendable {
    public let ttl: Double
    public let capacity: Int
    private var entries: [SHA256Digest: Entry] = [:]

    struct Entry: Sendable {
        var grant: AuthGrant
        var expiry: Double
    }

    /// `capacity` 0 disables the cache.
    public init(ttl: Double = 30, capacity: Int = 10_000) {
        self.ttl = ttl
        self.capacity = capacity
    }

    static func key(policy fingerprint: SHA256Digest, host: String, token: [UInt8]) -> SHA256Digest {
        var hasher = Crypto.SHA256()
        fingerprint.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        withUnsafeBytes(of: UInt64(host.utf8.count).bigEndian) { hasher.update(bufferPointer: $0) }
        hasher.update(data: Array(host.utf8))
        hasher.update(data: token)
        return hasher.finalize()
    }

    func grant(for key: SHA256Digest, now: Double) -> AuthGrant? {
        entry(for: key, now: now)?.grant
    }

    func entry(for key: SHA256Digest, now: Double) -> Entry? {
        guard let entry = entries[key], now < entry.expiry else { return nil }
        return entry
    }

    mutating func insert(_ grant: AuthGrant, for key: SHA256Digest, expiresAt tokenExpiry: Double, now: Double) {
        guard capacity > 0 else { return }
        let expiry = min(now + ttl, tokenExpiry)
        guard expiry > now else { return }
        if entries.count >= capacity {
            entries = entries.filter { $0.value.expiry > now }
            // Still full of live entries: start over rather than grow (a miss only costs a signature check).
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        }
        entries[key] = Entry(grant: grant, expiry: expiry)
    }

    public var count: Int { entries.count }
}

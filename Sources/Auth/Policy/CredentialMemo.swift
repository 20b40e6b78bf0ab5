import Crypto

/// The credentials that last passed on one client connection. A client on a keep-alive
/// connection sends the same `Authorization` value with every request; when it matches this one
/// the grant is reused without parsing the field, hashing a bearer token or keying the
/// verified-token cache (SHA-256 over a ~1 KiB JWT), which was most of what a guarded request
/// cost beyond an unguarded one.
///
/// What keeps it as strict as `evaluate`: only an allow from `evaluate` fills it; it is tied to
/// the policy's fingerprint (a changed table misses) and the request host (audiences differ per
/// host); it lives no longer than the verified-token cache would keep the grant and never past
/// a JWT's `exp`; the policy's `ipAllow` is checked on every request; the field value is compared
/// byte for byte in constant time. A value type; the proxy keeps one per client connection.
public struct CredentialMemo: Sendable {
    /// The `Authorization` field value exactly as it passed (scheme, spaces and credentials).
    let authorization: [UInt8]
    let policy: SHA256Digest
    let host: String
    public let grant: AuthGrant
    let expiry: Double

    init(authorization: [UInt8], policy: SHA256Digest, host: String, grant: AuthGrant, expiry: Double) {
        self.authorization = authorization
        self.policy = policy
        self.host = host
        self.grant = grant
        self.expiry = expiry
    }

    /// The memoized grant for a request on a route guarded by `policy`, whose single
    /// `Authorization` field has the value `authorization` (bytes as received); nil when anything
    /// differs or the memo has expired, and the request must be evaluated.
    public func grant(policy: CompiledAuthPolicy, host: String, authorization: UnsafeRawBufferPointer,
                      clientAddress: [UInt8], now: Double) -> AuthGrant? {
        guard now < expiry, policy.fingerprint == self.policy, host == self.host, policy.admits(clientAddress) else { return nil }
        return Self.equalInConstantTime(self.authorization, authorization) ? grant : nil
    }

    /// Whether `presented` equals `stored`, taking time that depends on the stored length only: a
    /// client learns nothing about the stored credentials from how long a mismatch takes (the
    /// bearer token is secret; a shared connection from a load balancer may carry other clients).
    /// Eight bytes at a time, with no branch on their values: a JWT is ~1 KiB.
    static func equalInConstantTime(_ stored: [UInt8], _ presented: UnsafeRawBufferPointer) -> Bool {
        stored.withUnsafeBytes { stored in
            // A presented value of another length is compared with the stored one itself, so the
            // loop is the same either way; the length check decides.
            let sameLength = stored.count == presented.count
            let other = sameLength ? presented : stored
            var difference: UInt64 = sameLength ? 0 : 1
            let count = stored.count
            var offset = 0
            while offset + 8 <= count {
                difference |= stored.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                    ^ other.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                offset += 8
            }
            while offset < count {
                difference |= UInt64(stored[offset] ^ other[offset])
                offset += 1
            }
            return difference == 0
        }
    }
}

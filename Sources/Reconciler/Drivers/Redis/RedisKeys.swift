/// Key names under a prefix (default `berth:`), as listed in ARCHITECTURE.md.
public struct RedisKeys: Sendable, Equatable {
    public var prefix: String
    public init(prefix: String = "berth:") { self.prefix = prefix }

    public var inventory: String { prefix + "inventory" }
    public var ports: String { prefix + "ports" }
    public var routeTable: String { prefix + "routetable" }
    public var routeTableGeneration: String { prefix + "routetable:generation" }
    public var routeTableHash: String { prefix + "routetable:hash" }
    /// Stream and pub/sub channel of change announcements (same name, separate namespaces).
    public var events: String { prefix + "events" }
    public var applyLease: String { prefix + "lock:apply" }
    public var applyLeaseFence: String { prefix + "lock:apply:fence" }
    public var status: String { prefix + "status" }

    /// A certificate (hash: chain, key, sans, not_before, not_after, issuer, serial, fingerprint,
    /// source), read by every proxy.
    public func certificate(_ name: String) -> String { prefix + "cert:" + name }
    /// Set of the certificate names Berth wrote, so observing needs no SCAN over the keyspace.
    public var certificateIndex: String { prefix + "certs" }
    /// Per-certificate lock: one order at a time per Domain (SET NX PX).
    public func certificateLock(_ name: String) -> String { prefix + "lock:cert:" + name }
    /// HTTP-01 key authorization for `token` (short TTL), answered by every proxy.
    public func acmeChallenge(_ token: String) -> String { prefix + "acme:challenge:" + token }
    /// ACME account (hash: key, url, directory, email) for `sha256(directory|email)`.
    public func acmeAccount(_ digest: String) -> String { prefix + "acme:account:" + digest }
    /// The internal CA for `tls: self-signed` (hash: cert, key).
    public var certificateAuthority: String { prefix + "ca" }
}

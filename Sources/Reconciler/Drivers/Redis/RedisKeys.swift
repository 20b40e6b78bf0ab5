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
}

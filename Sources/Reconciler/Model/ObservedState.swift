import Spec

/// What the state store holds right now, as the planner sees it.
public struct ObservedState: Sendable {
    public var inventory: [ResourceID: InventoryRecord]
    /// Host port → owner, for every lease (Berth's and anyone else's).
    public var ports: [Int: String]
    /// Generation of the published route table; 0 when none was ever published.
    public var generation: Int
    /// Content hash of the published route table, nil when none.
    public var routeTableHash: String?
    /// Certificate name → what `cert:<name>` holds (metadata only, never the key).
    public var certificates: [String: CertificateMetadata]
    /// What the container and process runtimes report; nil when they were not looked at (a plan
    /// made without access to Docker, or with no runtime configured).
    public var runtime: RuntimeObservation?
    /// Digest of everything above (but the runtime), as read. A saved plan is stale when this moved.
    public var fingerprint: String

    public init(inventory: [ResourceID: InventoryRecord] = [:], ports: [Int: String] = [:], generation: Int = 0,
                routeTableHash: String? = nil, certificates: [String: CertificateMetadata] = [:], fingerprint: String? = nil,
                runtime: RuntimeObservation? = nil) {
        self.runtime = runtime
        self.inventory = inventory
        self.ports = ports
        self.generation = generation
        self.routeTableHash = routeTableHash
        self.certificates = certificates
        self.fingerprint = fingerprint ?? ObservedState.fingerprint(inventory: inventory, ports: ports, generation: generation, hash: routeTableHash,
                                                                    certificates: certificates)
    }

    /// Leaf fingerprints of the certificates present, as the route table carries them.
    public var certificateFingerprints: [String: String] { certificates.mapValues(\.fingerprint) }

    /// A digest over the semantic content, used when a store has no raw bytes to hash.
    public static func fingerprint(inventory: [ResourceID: InventoryRecord], ports: [Int: String], generation: Int, hash: String?,
                                   certificates: [String: CertificateMetadata] = [:]) -> String {
        var hasher = SHA256()
        for id in inventory.keys.sorted() {
            hasher.update("i\u{0}\(id)\u{0}\(inventory[id]!.json.canonicalString)\u{0}")
        }
        for port in ports.keys.sorted() { hasher.update("p\u{0}\(port)\u{0}\(ports[port]!)\u{0}") }
        hasher.update("g\u{0}\(generation)\u{0}\(hash ?? "")")
        for name in certificates.keys.sorted() { hasher.update("c\u{0}\(name)\u{0}\(certificates[name]!.fingerprint)\u{0}\(certificates[name]!.notAfter.timeIntervalSince1970)\u{0}") }
        return hasher.finalize().hexString
    }
}

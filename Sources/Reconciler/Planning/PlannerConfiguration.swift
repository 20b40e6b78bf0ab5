import Spec

/// What the planner knows about the world beyond state: the port range and which drivers exist.
public struct PlannerConfiguration: Sendable, Equatable {
    public var portRange: ClosedRange<Int>
    /// The runtimes the apply can drive; instances of any other runtime are pending work (their
    /// ports are leased and routed, nothing is started).
    public var runtimes: Set<Instance.Runtime>
    public var hasContainerRuntime: Bool { !runtimes.isEmpty }
    /// False until a certificate issuer exists (TLS certificates are then pending work).
    public var hasCertificateIssuer: Bool
    /// Address instance endpoints are published on.
    public var endpointAddress: String
    /// The ACME directory and contact Domains use unless their spec overrides them; with no
    /// directory at all, `tls: acme` certificates stay pending.
    public var acmeDirectory: String?
    public var acmeEmail: String?

    public init(portRange: ClosedRange<Int> = 20000...29999, hasContainerRuntime: Bool = false,
                hasCertificateIssuer: Bool = false, endpointAddress: String = "127.0.0.1",
                acmeDirectory: String? = nil, acmeEmail: String? = nil) {
        self.portRange = portRange
        self.runtimes = hasContainerRuntime ? Set(Instance.Runtime.allCases) : []
        self.hasCertificateIssuer = hasCertificateIssuer
        self.endpointAddress = endpointAddress
        self.acmeDirectory = acmeDirectory
        self.acmeEmail = acmeEmail
    }
}

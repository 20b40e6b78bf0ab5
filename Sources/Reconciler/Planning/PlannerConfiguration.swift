/// What the planner knows about the world beyond state: the port range and which drivers exist.
public struct PlannerConfiguration: Sendable, Equatable {
    public var portRange: ClosedRange<Int>
    /// False until a container runtime driver exists (instances are then pending work).
    public var hasContainerRuntime: Bool
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
        self.hasContainerRuntime = hasContainerRuntime
        self.hasCertificateIssuer = hasCertificateIssuer
        self.endpointAddress = endpointAddress
        self.acmeDirectory = acmeDirectory
        self.acmeEmail = acmeEmail
    }
}

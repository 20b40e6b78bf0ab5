/// A set of hostnames served together, sharing one TLS certificate.
public struct Domain: Sendable, Hashable {
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        case acme
        case selfSigned = "self-signed"
        case none
    }

    public var name: String
    /// Lower-case hostnames without a trailing dot; `*.example.com` matches one label.
    public var hosts: [String]
    public var tls: TLSMode
    /// Answer plain HTTP with a redirect to HTTPS. Defaults to true unless `tls` is `none`.
    public var redirectHTTP: Bool

    public init(name: String, hosts: [String], tls: TLSMode = .acme, redirectHTTP: Bool? = nil) {
        self.name = name
        self.hosts = hosts
        self.tls = tls
        self.redirectHTTP = redirectHTTP ?? (tls != .none)
    }

    public var id: ResourceID { ResourceID(.domain, name) }
}

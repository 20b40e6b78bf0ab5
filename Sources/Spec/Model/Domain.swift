/// A set of hostnames served together, sharing one TLS certificate.
public struct Domain: Sendable, Hashable {
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        case acme
        case selfSigned = "self-signed"
        case none
    }

    /// Per-Domain ACME settings; each one left out falls back to the controller's flag
    /// (`--acme-directory`, `--acme-email`).
    public struct ACMESettings: Sendable, Hashable {
        /// The ACME directory URL (https).
        public var directory: String?
        /// Contact address registered with the ACME account.
        public var email: String?
        public init(directory: String? = nil, email: String? = nil) {
            self.directory = directory
            self.email = email
        }
    }

    /// HTTP Strict Transport Security (RFC 6797) sent on HTTPS answers for this Domain's hosts.
    public struct HSTS: Sendable, Hashable {
        /// Seconds browsers remember to use HTTPS only.
        public var maxAge: Int
        public var includeSubdomains: Bool
        public var preload: Bool
        public init(maxAge: Int, includeSubdomains: Bool = false, preload: Bool = false) {
            self.maxAge = maxAge
            self.includeSubdomains = includeSubdomains
            self.preload = preload
        }

        /// The `Strict-Transport-Security` header value, e.g. `max-age=31536000; includeSubDomains`.
        public var headerValue: String {
            "max-age=\(maxAge)" + (includeSubdomains ? "; includeSubDomains" : "") + (preload ? "; preload" : "")
        }
    }

    public var name: String
    /// Lower-case hostnames without a trailing dot; `*.example.com` matches one label.
    public var hosts: [String]
    public var tls: TLSMode
    /// Answer plain HTTP with a redirect to HTTPS. Defaults to true unless `tls` is `none`.
    public var redirectHTTP: Bool
    /// ACME overrides (only with `tls: acme`); nil uses the controller's settings.
    public var acme: ACMESettings?
    /// HSTS for HTTPS answers (only with TLS); nil sends no header.
    public var hsts: HSTS?

    public init(name: String, hosts: [String], tls: TLSMode = .acme, redirectHTTP: Bool? = nil,
                acme: ACMESettings? = nil, hsts: HSTS? = nil) {
        self.name = name
        self.hosts = hosts
        self.tls = tls
        self.redirectHTTP = redirectHTTP ?? (tls != .none)
        self.acme = acme
        self.hsts = hsts
    }

    public var id: ResourceID { ResourceID(.domain, name) }
}

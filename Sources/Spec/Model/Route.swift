/// Host + path (+ methods) → an upstream, optionally guarded by an auth policy.
public struct Route: Sendable, Hashable {
    public enum PathType: String, Sendable, Hashable, CaseIterable {
        /// Matches the path and anything below it, on segment boundaries (`/api` matches `/api/x`, not `/apix`).
        case prefix
        case exact
        /// A regular expression matched against the whole (normalized) path.
        case regex
    }

    public enum Target: Sendable, Hashable {
        /// An Instance declared in the repository, and optionally which of its named ports.
        case instance(name: String, port: String?)
        /// An http:// or https:// upstream outside Berth.
        case url(String)
    }

    public var name: String
    /// The Domain whose hosts this route serves, or nil when `hosts` is given directly.
    public var domain: String?
    /// Hosts given directly (lower-case), empty when `domain` is used.
    public var hosts: [String]
    public var path: String
    public var pathType: PathType
    /// Upper-case method names; empty means any method.
    public var methods: [String]
    /// Higher wins.
    public var priority: Int
    public var to: Target
    public var auth: String?
    public var stripPrefix: Bool

    public init(name: String, domain: String? = nil, hosts: [String] = [], path: String = "/",
                pathType: PathType = .prefix, methods: [String] = [], priority: Int = 0, to: Target,
                auth: String? = nil, stripPrefix: Bool = false) {
        self.name = name
        self.domain = domain
        self.hosts = hosts
        self.path = path
        self.pathType = pathType
        self.methods = methods
        self.priority = priority
        self.to = to
        self.auth = auth
        self.stripPrefix = stripPrefix
    }

    public var id: ResourceID { ResourceID(.route, name) }
}

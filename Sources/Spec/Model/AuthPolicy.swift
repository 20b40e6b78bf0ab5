/// How a route is guarded. Secrets appear only as hashes (SHA-256 for bearer tokens, bcrypt for
/// passwords): the repository, plans and the route table never hold a plain secret.
public struct AuthPolicy: Sendable, Hashable {
    public struct BearerToken: Sendable, Hashable {
        public var name: String
        /// 64 lower-case hex digits: SHA-256 of the token.
        public var sha256: String
        public init(name: String, sha256: String) { self.name = name; self.sha256 = sha256 }
    }

    public struct BasicUser: Sendable, Hashable {
        public var name: String
        /// A `$2a$`/`$2b$`/`$2y$` bcrypt hash.
        public var bcrypt: String
        public init(name: String, bcrypt: String) { self.name = name; self.bcrypt = bcrypt }
    }

    public struct JWT: Sendable, Hashable {
        public var issuer: String
        public var audiences: [String]
        public var jwksURL: String
        public var requiredScopes: [String]
        public init(issuer: String, audiences: [String], jwksURL: String, requiredScopes: [String] = []) {
            self.issuer = issuer
            self.audiences = audiences
            self.jwksURL = jwksURL
            self.requiredScopes = requiredScopes
        }
    }

    public struct Forward: Sendable, Hashable {
        public var url: String
        public var copyHeaders: [String]
        public init(url: String, copyHeaders: [String] = []) { self.url = url; self.copyHeaders = copyHeaders }
    }

    public enum Mechanism: Sendable, Hashable {
        case bearer([BearerToken])
        case basic([BasicUser])
        case jwt(JWT)
        case forward(Forward)

        public var name: String {
            switch self {
            case .bearer: "bearer"
            case .basic: "basic"
            case .jwt: "jwt"
            case .forward: "forward"
            }
        }
    }

    /// Header names the proxy puts the identity and scopes in on the upstream request, instead of
    /// `X-Auth-User` / `X-Auth-Scopes`. Either may be left out (its default stays). Spelled as
    /// written; header names compare case-insensitively.
    public struct IdentityHeaders: Sendable, Hashable {
        public var user: String?
        public var scopes: String?
        public init(user: String? = nil, scopes: String? = nil) { self.user = user; self.scopes = scopes }

        public static let defaultUser = "X-Auth-User"
        public static let defaultScopes = "X-Auth-Scopes"
        /// The names in effect, defaults filled in.
        public var effectiveUser: String { user ?? Self.defaultUser }
        public var effectiveScopes: String { scopes ?? Self.defaultScopes }
    }

    public var name: String
    /// nil only for a policy that is an IP allow list alone.
    public var mechanism: Mechanism?
    /// CIDRs in canonical form (`10.0.0.0/8`, `2001:db8::/32`).
    public var ipAllow: [String]
    /// nil: the default names.
    public var identityHeaders: IdentityHeaders?

    public init(name: String, mechanism: Mechanism?, ipAllow: [String] = [], identityHeaders: IdentityHeaders? = nil) {
        self.name = name
        self.mechanism = mechanism
        self.ipAllow = ipAllow
        self.identityHeaders = identityHeaders
    }

    public var id: ResourceID { ResourceID(.authPolicy, name) }
}

import Spec

/// What the proxy knows about a request when it asks for an auth decision. Values only.
public struct AuthRequest: Sendable {
    public var method: String
    /// The host the route table matched (lower-case, without port).
    public var host: String
    /// Path and query, for forward auth's `X-Forwarded-Uri`. The proxy passes the path as it
    /// routed it (percent-decoded unreserved characters, dot segments removed), so the auth server
    /// judges the path the upstream will be asked for.
    public var target: String
    /// `http` or `https`: how the client reached the proxy.
    public var scheme: String
    /// Header fields with lower-case names, in the order received; repeated names stay repeated.
    public var headers: [(name: String, value: String)]
    /// The real client address (socket, or a PROXY header from a trusted load balancer): 4 or 16 bytes.
    public var clientAddress: [UInt8]
    /// The same address as the proxy writes it in the upstream request's `X-Forwarded-For`, when
    /// the caller has it (forward auth then sends the same text, without formatting it again).
    public var clientAddressText: String?

    public init(method: String, host: String, target: String, scheme: String = "https",
                headers: [(name: String, value: String)], clientAddress: [UInt8]) {
        self.method = method
        self.host = host
        self.target = target
        self.scheme = scheme
        self.headers = headers
        self.clientAddress = clientAddress
    }

    /// The same with a textual client address (`192.0.2.1`, `2001:db8::1`); nil when it is not an
    /// IP address.
    public init?(method: String, host: String, target: String, scheme: String = "https",
                 headers: [(name: String, value: String)], clientAddress: String) {
        guard let bytes = CIDR.parseAddress(clientAddress) else { return nil }
        self.init(method: method, host: host, target: target, scheme: scheme, headers: headers, clientAddress: bytes)
    }

    func values(_ name: String) -> [String] { headers.filter { $0.name == name }.map(\.value) }
}

/// RFC 6750 §3.1 error codes.
public enum BearerError: String, Sendable, Equatable {
    case invalidRequest = "invalid_request"
    case invalidToken = "invalid_token"
    case insufficientScope = "insufficient_scope"
}

/// The outcome of `CompiledAuthPolicy.evaluate`. Three cases finish the request; three ask the
/// proxy to do slow or remote work first and then come back:
/// - `.verifyBasic`: run `verify()` off the event loop (bcrypt), or use the credential cache;
/// - `.forward`: send the subrequest, then hand its answer to `forwardVerdict(status:headers:)`;
/// - `.needKeys`: fetch the JWKS (rate-limited), then call `evaluate` again.
public enum AuthDecision: Sendable {
    case allow(AuthGrant)
    case deny(AuthDenial)
    case verifyBasic(BasicVerification)
    case forward(ForwardSubrequest)
    case needKeys(KeysNeeded)
}

/// A request that passed. `upstreamHeaders` are added to the upstream request after the client's
/// copies of every name in `CompiledAuthPolicy.headersToRemove` were removed.
public struct AuthGrant: Sendable, Equatable {
    /// nil for ipAllow-only and forward policies (forward passes identity through `copyHeaders`).
    public var identity: String?
    public var scopes: [String]
    public var upstreamHeaders: [HeaderField]

    public init(identity: String?, scopes: [String], upstreamHeaders: [HeaderField]) {
        self.identity = identity
        self.scopes = scopes
        self.upstreamHeaders = upstreamHeaders
    }
}

/// A header field; `name` is lower-case.
public struct HeaderField: Sendable, Equatable, Hashable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// A refusal to send to the client as it is.
public struct AuthDenial: Sendable, Equatable {
    /// 401, 403 or 503.
    public var status: Int
    /// The `WWW-Authenticate` value, for 401 and bearer 403s.
    public var wwwAuthenticate: String?
    /// A short `text/plain` body.
    public var body: String
    /// Why, for the access log (never sent: it may say more than the client should learn).
    public var reason: String
    /// The RFC 6750 code, for JWT and bearer policies.
    public var bearerError: BearerError?

    public init(status: Int, wwwAuthenticate: String?, body: String, reason: String, bearerError: BearerError? = nil) {
        self.status = status
        self.wwwAuthenticate = wwwAuthenticate
        self.body = body
        self.reason = reason
        self.bearerError = bearerError
    }

    /// The response header fields, lower-case names.
    public var headers: [HeaderField] {
        var out = [HeaderField("content-type", "text/plain; charset=utf-8"), HeaderField("cache-control", "no-store")]
        if let wwwAuthenticate { out.append(HeaderField("www-authenticate", wwwAuthenticate)) }
        return out
    }
}

/// The proxy must fetch the key set at `jwksURL` (the policy's), then evaluate again with it.
public struct KeysNeeded: Sendable, Equatable {
    public var jwksURL: String
    /// The `kid` the token named that the cached set lacks; nil when nothing is cached yet.
    public var keyID: String?
}

/// What the proxy holds for a policy's `jwksURL` when it asks for a decision.
public enum KeySetState: Sendable {
    /// Never fetched: the decision will be `.needKeys`.
    case missing
    /// The cached set. `refetchAllowed` says whether an unknown `kid` may trigger a fetch now (the
    /// proxy's `KeyRefetchLimiter`); when false an unknown `kid` is refused.
    case available(JSONWebKeySet, refetchAllowed: Bool)
    /// No usable set (every fetch failed): fail closed with 503.
    case unavailable(reason: String)
}

import Spec

extension CompiledAuthPolicy {
    /// Path of the RFC 9728 protected-resource metadata every host with a JWT route serves.
    public static let protectedResourceMetadataPath = "/.well-known/oauth-protected-resource"

    /// OAuth resource server (RFC 6750 + RFC 9728, as MCP clients expect): verify the bearer JWT,
    /// or answer 401/403 with a challenge that points at the resource metadata.
    func evaluateJWT(_ request: AuthRequest, settings: JWTSettings, now: Double, keys keyState: (String) -> KeySetState,
                     tokens: inout VerifiedTokenCache, expiry: inout Double?) -> AuthDecision {
        let token: [UInt8]
        switch Self.authorization(request) {
        case .missing:
            // RFC 6750 §3.1: no error code when the request carried no credentials at all.
            return .deny(jwtDenial(request, nil, reason: "no Authorization header"))
        case .present(let scheme, _) where scheme != "bearer":
            return .deny(jwtDenial(request, nil, reason: "Authorization scheme \(scheme) is not Bearer"))
        case .malformed(let why):
            return .deny(jwtDenial(request, .malformed(why), reason: why))
        case .present(_, let credentials):
            token = credentials
        }
        // A token this policy accepted on this host moments ago: no parsing, no signature check.
        let cacheKey = tokens.capacity > 0 ? VerifiedTokenCache.key(policy: fingerprint, host: request.host, token: token) : nil
        if let cacheKey, let cached = tokens.entry(for: cacheKey, now: now) {
            expiry = cached.expiry
            return .allow(cached.grant)
        }
        let jws: CompactJWS
        do { jws = try CompactJWS.parse(token) } catch { return .deny(jwtDenial(request, error, reason: error.description)) }
        let verifier = JWTVerifier(issuer: settings.issuer, audiences: audiences(for: request.host, settings: settings),
                                   requiredScopes: settings.requiredScopes, leeway: Self.leeway)
        // A token from another issuer is refused before it can make the proxy fetch keys.
        if let failure = verifier.precheck(jws) { return .deny(jwtDenial(request, failure, reason: failure.description)) }
        let keys: JSONWebKeySet
        switch keyState(settings.jwksURL) {
        case .missing:
            return .needKeys(KeysNeeded(jwksURL: settings.jwksURL, keyID: nil))
        case .unavailable(let why):
            return .deny(AuthDenial(status: 503, wwwAuthenticate: nil,
                                    body: "authentication is unavailable: the token issuer's keys could not be fetched\n",
                                    reason: "JWKS \(settings.jwksURL) unavailable: \(why)"))
        case .available(let set, let refetchAllowed):
            if case .unknown = set.key(id: jws.keyID, algorithm: jws.algorithm), jws.keyID != nil, refetchAllowed {
                return .needKeys(KeysNeeded(jwksURL: settings.jwksURL, keyID: jws.keyID))
            }
            keys = set
        }
        switch verifier.verify(jws, keys: keys, now: now) {
        case .failure(let failure):
            return .deny(jwtDenial(request, failure, reason: failure.description))
        case .success(let verified):
            let granted = grant(identity: verified.subject, scopes: verified.scopes)
            if let cacheKey { tokens.insert(granted, for: cacheKey, expiresAt: verified.expiresAt, now: now) }
            // What the cache would keep it for: its lifetime, and never past `exp`.
            expiry = min(now + tokens.ttl, verified.expiresAt)
            return .allow(granted)
        }
    }

    /// The policy's audiences that count on `host`. An audience that is an http(s) URL names one
    /// resource (RFC 8707, MCP): it counts only on its own host, so a token minted for
    /// `https://a.example` is refused on `b.example` even when both share this policy. Other
    /// audiences (`api://shop`, `shop-api`) count on every host the policy guards.
    func audiences(for host: String, settings: JWTSettings) -> [String] {
        let requestHost = Self.bareHost(host)
        return settings.audiences.filter { audience in
            guard let urlHost = Self.urlHost(audience) else { return true }
            return urlHost == requestHost
        }
    }

    static func urlHost(_ text: String) -> String? {
        let lower = text.lowercased()
        for scheme in ["https://", "http://"] where lower.hasPrefix(scheme) {
            let rest = lower.dropFirst(scheme.count)
            let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
            let hostPort = authority.split(separator: "@").last.map(String.init) ?? ""
            return bareHost(hostPort)
        }
        return nil
    }

    static func bareHost(_ text: String) -> String {
        let lower = text.lowercased()
        if lower.hasPrefix("[") { return String(lower.prefix { $0 != "]" }) + "]" }
        var host = lower.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? lower
        if host.hasSuffix(".") { host.removeLast() }
        return host
    }

    /// 401 (or 403 for a missing scope) with `WWW-Authenticate: Bearer realm, error,
    /// error_description, scope, resource_metadata` (RFC 6750 §3, RFC 9728 §5.1).
    func jwtDenial(_ request: AuthRequest, _ failure: JWTFailure?, reason: String) -> AuthDenial {
        var parameters = ["realm=\(Challenge.quoted(request.host))"]
        var status = 401
        var body = "authentication required\n"
        if let failure {
            parameters.append("error=\"\(failure.error.rawValue)\"")
            switch failure {
            case .insufficientScope(let required):
                status = 403
                body = "insufficient scope\n"
                parameters.append("scope=\(Challenge.quoted(required.joined(separator: " ")))")
            case .malformed:
                body = "malformed token\n"
                parameters.append("error_description=\"malformed token\"")
            case .expired:
                body = "invalid token\n"
                parameters.append("error_description=\"token expired\"")
            default:
                body = "invalid token\n"
            }
        }
        if let metadata = Self.resourceMetadataURL(host: request.host) { parameters.append("resource_metadata=\(Challenge.quoted(metadata))") }
        return AuthDenial(status: status, wwwAuthenticate: "Bearer " + parameters.joined(separator: ", "), body: body,
                          reason: reason, bearerError: failure?.error)
    }

    /// `https://<host>/.well-known/oauth-protected-resource`, or nil for a host that is not a
    /// plain DNS name or IP literal (it is then left out of the challenge rather than echoed).
    public static func resourceMetadataURL(host: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789.-:[]".utf8)
        let lower = host.lowercased()
        guard !lower.isEmpty, lower.utf8.count <= 255, lower.utf8.allSatisfy(allowed.contains) else { return nil }
        return "https://\(lower)\(protectedResourceMetadataPath)"
    }
}

/// RFC 9728 §2–3: the document a host serves at `/.well-known/oauth-protected-resource`.
public enum ProtectedResourceMetadata {
    /// The metadata for `host` guarded by `policies` (the JWT policies of its routes; others are
    /// ignored): `resource` is `https://<host>`, `authorization_servers` the issuers,
    /// `scopes_supported` the union of required scopes, sorted. nil when no JWT policy guards
    /// the host (it then has no such document).
    public static func json(host: String, policies: [CompiledAuthPolicy]) -> JSONValue? {
        json(resource: "https://\(host.lowercased())", policies: policies)
    }

    /// The same for an explicit `resource` identifier (RFC 9728 §3.1: the path-suffixed form
    /// `/.well-known/oauth-protected-resource/<path>` describes `https://<host>/<path>`).
    public static func json(resource: String, policies: [CompiledAuthPolicy]) -> JSONValue? {
        var issuers = Set<String>(), scopes = Set<String>()
        for policy in policies {
            guard case .jwt(let settings)? = policy.mechanism else { continue }
            issuers.insert(settings.issuer)
            scopes.formUnion(settings.requiredScopes)
        }
        guard !issuers.isEmpty else { return nil }
        return .object([
            "resource": .string(resource),
            "authorization_servers": .array(issuers.sorted().map(JSONValue.string)),
            "scopes_supported": .array(scopes.sorted().map(JSONValue.string)),
            "bearer_methods_supported": .array([.string("header")]),
        ])
    }

    /// The response body (canonical JSON, `application/json`).
    public static func body(host: String, policies: [CompiledAuthPolicy]) -> [UInt8]? {
        json(host: host, policies: policies)?.canonicalBytes
    }

    /// The body for the path-suffixed form: `resource` is `https://<host><path>`; nil when the host
    /// is not a plain name or address (it is never echoed into the document) or no policy is a
    /// JWT policy.
    public static func body(host: String, path: String, policies: [CompiledAuthPolicy]) -> [UInt8]? {
        guard let metadataURL = CompiledAuthPolicy.resourceMetadataURL(host: host) else { return nil }
        let origin = String(metadataURL.dropLast(CompiledAuthPolicy.protectedResourceMetadataPath.count))
        return json(resource: origin + path, policies: policies)?.canonicalBytes
    }
}

/// Rate limit for refetching a JWKS because a token named an unknown `kid` (key rotation): at
/// most one refetch per URL per `interval`, so tokens with random `kid`s cannot turn the proxy
/// into a load generator against the issuer. A value type; the proxy keeps one behind a lock.
public struct KeyRefetchLimiter: Sendable {
    public let interval: Double
    private var lastFetch: [String: Double] = [:]

    public init(interval: Double = 30) { self.interval = interval }

    /// Whether a refetch of `url` may start now; if so, records it.
    public mutating func permit(_ url: String, now: Double) -> Bool {
        if let last = lastFetch[url], now - last < interval { return false }
        lastFetch[url] = now
        return true
    }

    /// Whether a refetch would be permitted, without recording one (for `KeySetState.available`).
    public func wouldPermit(_ url: String, now: Double) -> Bool {
        guard let last = lastFetch[url] else { return true }
        return now - last >= interval
    }
}

import Spec

/// What a verified access token grants.
public struct VerifiedToken: Sendable, Equatable {
    /// `sub`, else `client_id`, else empty.
    public var subject: String
    public var scopes: [String]
    public var audience: [String]
    /// `exp` (seconds since 1970), without the leeway: how long a verification may be remembered.
    public var expiresAt: Double
}

/// Checks a parsed JWS against a key set and the policy's expectations. Order matters: the
/// signature is verified before any claim is believed; `iss` is compared first only to refuse
/// foreign tokens cheaply (that comparison trusts nothing).
public struct JWTVerifier: Sendable {
    public var issuer: String
    /// Audiences accepted for this request (already narrowed to the request's host, see
    /// `CompiledAuthPolicy`).
    public var audiences: [String]
    public var requiredScopes: [String]
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    public var leeway: Double

    public init(issuer: String, audiences: [String], requiredScopes: [String], leeway: Double = 60) {
        self.issuer = issuer
        self.audiences = audiences
        self.requiredScopes = requiredScopes
        self.leeway = leeway
    }

    /// The step before the key lookup: is this token even from our issuer? Unverified; used only to
    /// refuse (and to avoid fetching keys for foreign tokens).
    public func precheck(_ token: CompactJWS) -> JWTFailure? {
        token.claims["iss"]?.stringValue == issuer ? nil : .wrongIssuer
    }

    public func verify(_ token: CompactJWS, keys: JSONWebKeySet, now: Double) -> Result<VerifiedToken, JWTFailure> {
        if let failure = precheck(token) { return .failure(failure) }
        let key: JSONWebKey
        switch keys.key(id: token.keyID, algorithm: token.algorithm) {
        case .found(let found): key = found
        case .unknown: return .failure(.unknownKey(token.keyID))
        case .wrongType: return .failure(.keyTypeMismatch(token.keyID))
        case .ambiguous: return .failure(.ambiguousKey)
        }
        guard key.isValidSignature(token.signature, for: token.signingInput) else { return .failure(.badSignature) }
        return checkClaims(token.claims, now: now)
    }

    /// RFC 7519 §4.1 and RFC 9068 §4 on a token whose signature was verified.
    func checkClaims(_ claims: [String: JSONValue], now: Double) -> Result<VerifiedToken, JWTFailure> {
        func number(_ name: String) -> Result<Double?, JWTFailure> {
            guard let value = claims[name] else { return .success(nil) }
            switch value {
            case .int(let int): return .success(Double(int))
            case .double(let double): return .success(double)
            default: return .failure(.invalidClaim("\(name) is not a number"))
            }
        }
        guard claims["iss"]?.stringValue == issuer else { return .failure(.wrongIssuer) }
        let exp: Double?, nbf: Double?
        switch number("exp") { case .success(let value): exp = value; case .failure(let failure): return .failure(failure) }
        switch number("nbf") { case .success(let value): nbf = value; case .failure(let failure): return .failure(failure) }
        if case .failure(let failure) = number("iat") { return .failure(failure) }
        // RFC 9068 §2.2: access tokens carry exp; a token that never expires is not accepted.
        guard let exp else { return .failure(.invalidClaim("exp is missing")) }
        guard now < exp + leeway else { return .failure(.expired) }
        if let nbf, now + leeway < nbf { return .failure(.notYetValid) }

        let audience: [String]
        switch claims["aud"] {
        case .string(let single)?: audience = [single]
        case .array(let list)? where !list.isEmpty && list.allSatisfy({ $0.stringValue != nil }): audience = list.compactMap(\.stringValue)
        case nil: return .failure(.wrongAudience)
        default: return .failure(.invalidClaim("aud is neither a string nor an array of strings"))
        }
        guard audience.contains(where: audiences.contains) else { return .failure(.wrongAudience) }

        var subject = ""
        for name in ["sub", "client_id"] {
            guard let value = claims[name] else { continue }
            guard let text = value.stringValue else { return .failure(.invalidClaim("\(name) is not a string")) }
            subject = text
            break
        }
        // The subject travels to the upstream in a header: no control characters, bounded.
        guard subject.utf8.count <= 256, !subject.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            return .failure(.invalidClaim("sub cannot be sent in a header"))
        }

        var scopes: [String] = []
        switch claims["scope"] ?? claims["scp"] {
        case .string(let text)?:
            scopes = text.split(separator: " ").map(String.init)
        case .array(let list)?:
            guard list.allSatisfy({ $0.stringValue != nil }) else { return .failure(.invalidClaim("scp is not an array of strings")) }
            scopes = list.compactMap(\.stringValue)
        case nil:
            break
        default:
            return .failure(.invalidClaim("scope is neither a string nor an array of strings"))
        }
        // Scope tokens (RFC 6749 §3.3) are printable ASCII without space, '"' or '\\'.
        guard scopes.allSatisfy({ $0.utf8.allSatisfy { $0 == 0x21 || (0x23...0x5b).contains($0) || (0x5d...0x7e).contains($0) } }) else {
            return .failure(.invalidClaim("scope has characters outside RFC 6749's scope-token"))
        }
        let missing = requiredScopes.filter { !scopes.contains($0) }
        guard missing.isEmpty else { return .failure(.insufficientScope(required: requiredScopes)) }
        return .success(VerifiedToken(subject: subject, scopes: scopes, audience: audience, expiresAt: exp))
    }
}

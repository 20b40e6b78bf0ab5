import Spec

/// Why a bearer JWT was refused; `error` is the RFC 6750 §3.1 code the client is told.
public enum JWTFailure: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String)
    case algorithmNone
    /// HS256/HS384/HS512: a shared-secret algorithm, never accepted (the "HMAC with the RSA public
    /// key as secret" forgery starts here).
    case hmacRefused(String)
    case unsupportedAlgorithm(String)
    case unsupportedHeader(String)
    case unknownKey(String?)
    /// The named key exists but is of another type than the token's `alg` needs.
    case keyTypeMismatch(String?)
    case ambiguousKey
    case badSignature
    case expired
    case notYetValid
    case wrongIssuer
    case wrongAudience
    case invalidClaim(String)
    case insufficientScope(required: [String])

    public var error: BearerError {
        switch self {
        case .malformed: .invalidRequest
        case .insufficientScope: .insufficientScope
        default: .invalidToken
        }
    }

    public var description: String {
        switch self {
        case .malformed(let why): "malformed token: \(why)"
        case .algorithmNone: "unsigned token (alg none) refused"
        case .hmacRefused(let alg): "HMAC algorithm \(alg) refused"
        case .unsupportedAlgorithm(let alg): "algorithm \(alg) is not supported (RS256, ES256, EdDSA)"
        case .unsupportedHeader(let what): "unsupported token header: \(what)"
        case .unknownKey(let kid): "no key \(kid.map { "\"\($0)\"" } ?? "without kid") in the issuer's key set"
        case .keyTypeMismatch(let kid): "key \(kid.map { "\"\($0)\"" } ?? "") is not of the type the token's algorithm needs"
        case .ambiguousKey: "token has no kid and the issuer has several keys"
        case .badSignature: "signature does not verify"
        case .expired: "token expired"
        case .notYetValid: "token not yet valid"
        case .wrongIssuer: "token issuer not accepted"
        case .wrongAudience: "token audience not accepted here"
        case .invalidClaim(let why): "invalid claim: \(why)"
        case .insufficientScope(let scopes): "token lacks scope \(scopes.joined(separator: " "))"
        }
    }
}

/// A JWS in compact serialization (RFC 7515 §7.1) carrying JWT claims (RFC 7519), parsed
/// strictly and *not yet verified*: nothing in `claims` may be trusted before
/// `JWTVerifier` checked the signature.
public struct CompactJWS: Sendable {
    /// Longest token accepted (bytes). Real access tokens are ~1 KiB; a cap keeps a hostile header
    /// from making the proxy decode and parse megabytes.
    public static let maxLength = 8 * 1024

    public var algorithm: JWSAlgorithm
    public var keyID: String?
    /// The JWT claims set (a JSON object).
    public var claims: [String: JSONValue]
    /// ASCII(BASE64URL(header) ‖ '.' ‖ BASE64URL(payload)): the bytes the signature covers.
    public var signingInput: [UInt8]
    public var signature: [UInt8]

    /// Accepted `typ` values (case-insensitive, RFC 7515 §4.1.9): plain JWTs and RFC 9068 access
    /// tokens. Other types (DPoP proofs, logout tokens, …) are not access tokens.
    static let acceptedTypes: Set<String> = ["jwt", "at+jwt", "application/jwt", "application/at+jwt"]

    public static func parse(_ token: some Collection<UInt8>) throws(JWTFailure) -> CompactJWS {
        let bytes = Array(token)
        guard !bytes.isEmpty else { throw .malformed("empty token") }
        guard bytes.count <= maxLength else { throw .malformed("token longer than \(maxLength) bytes") }
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw .malformed(parts.count == 5 ? "encrypted tokens (JWE) are not accepted" : "not three dot-separated parts")
        }
        guard let headerBytes = Base64URL.decode(parts[0]), let payloadBytes = Base64URL.decode(parts[1]),
              let signature = Base64URL.decode(parts[2]) else { throw .malformed("a part is not unpadded base64url") }
        let header: JSONValue, payload: JSONValue
        do {
            header = try StrictJSON.parse(headerBytes, maxDepth: 4)
            payload = try StrictJSON.parse(payloadBytes, maxDepth: 16)
        } catch {
            throw .malformed("header or payload is not strict JSON (\(error.reason))")
        }
        guard let headerObject = header.objectValue else { throw .malformed("header is not a JSON object") }
        guard let claims = payload.objectValue else { throw .malformed("payload is not a JSON object") }
        guard let alg = headerObject["alg"]?.stringValue else { throw .malformed("header has no alg string") }
        guard let algorithm = JWSAlgorithm(rawValue: alg) else {
            if alg.lowercased() == "none" { throw .algorithmNone }
            if alg.uppercased().hasPrefix("HS") { throw .hmacRefused(alg) }
            throw .unsupportedAlgorithm(alg)
        }
        // RFC 7515 §4.1.11: extensions we do not understand must be refused; we understand none
        // (this also covers RFC 7797 unencoded payloads, which require crit).
        if headerObject["crit"] != nil { throw .unsupportedHeader("crit") }
        if headerObject["enc"] != nil || headerObject["zip"] != nil { throw .unsupportedHeader("enc/zip (JWE)") }
        if let typ = headerObject["typ"] {
            guard let text = typ.stringValue, acceptedTypes.contains(text.lowercased()) else {
                throw .unsupportedHeader("typ \(typ.canonicalString)")
            }
        }
        var keyID: String?
        if let kid = headerObject["kid"] {
            guard let text = kid.stringValue else { throw .malformed("kid is not a string") }
            keyID = text
        }
        // Embedded or referenced keys (jwk, jku, x5u, x5c) are ignored: keys come only from the
        // policy's JWKS, never from the token.
        var signingInput = Array(parts[0])
        signingInput.append(UInt8(ascii: "."))
        signingInput += parts[1]
        return CompactJWS(algorithm: algorithm, keyID: keyID, claims: claims, signingInput: signingInput, signature: signature)
    }
}

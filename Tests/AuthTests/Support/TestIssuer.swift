import Crypto
import Foundation
import Spec
import _CryptoExtras
@testable import Auth

/// An OAuth issuer made in the test: its keys (RSA-2048, P-256, Ed25519, generated with
/// swift-crypto), its JWKS, and tokens signed by it — or forged in the ways attackers try.
struct TestIssuer: Sendable {
    static let shared = TestIssuer()
    /// A second issuer with its own keys under the same `kid`s (a rotation, or an impostor).
    static let rotated = TestIssuer()

    static let issuer = "https://issuer.example"
    static let now: Double = 1_800_000_000

    let rsa: _RSA.Signing.PrivateKey
    let p256: P256.Signing.PrivateKey
    let ed25519: Curve25519.Signing.PrivateKey

    init() {
        rsa = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
        p256 = P256.Signing.PrivateKey()
        ed25519 = Curve25519.Signing.PrivateKey()
    }

    // MARK: JWKS

    func rsaJWK(kid: String) -> JSONValue {
        let primitives = try! rsa.publicKey.getKeyPrimitives()
        return .object(["kty": .string("RSA"), "kid": .string(kid), "use": .string("sig"), "alg": .string("RS256"),
                        "n": .string(Base64URL.encode(primitives.modulus)), "e": .string(Base64URL.encode(primitives.publicExponent))])
    }

    func ecJWK(kid: String) -> JSONValue {
        let raw = Array(p256.publicKey.rawRepresentation)  // x ‖ y
        return .object(["kty": .string("EC"), "crv": .string("P-256"), "kid": .string(kid),
                        "x": .string(Base64URL.encode(raw[0..<32])), "y": .string(Base64URL.encode(raw[32..<64]))])
    }

    func edJWK(kid: String) -> JSONValue {
        .object(["kty": .string("OKP"), "crv": .string("Ed25519"), "kid": .string(kid),
                 "x": .string(Base64URL.encode(ed25519.publicKey.rawRepresentation))])
    }

    /// The usual set: `rsa-1`, `ec-1`, `ed-1`.
    var jwksJSON: JSONValue { .object(["keys": .array([rsaJWK(kid: "rsa-1"), ecJWK(kid: "ec-1"), edJWK(kid: "ed-1")])]) }

    var keySet: JSONWebKeySet { try! JSONWebKeySet.parse(jwksJSON.canonicalBytes) }

    // MARK: Tokens

    static func claims(audience: JSONValue = .string("https://api.example"), scope: String? = "read write",
                       exp: Double? = now + 300, nbf: Double? = now - 10, issuer: String = issuer,
                       subject: String = "alice") -> [String: JSONValue] {
        var claims: [String: JSONValue] = ["iss": .string(issuer), "sub": .string(subject), "aud": audience, "iat": .int(Int(now) - 10)]
        if let exp { claims["exp"] = .int(Int(exp)) }
        if let nbf { claims["nbf"] = .int(Int(nbf)) }
        if let scope { claims["scope"] = .string(scope) }
        return claims
    }

    static func signingInput(header: [String: JSONValue], claims: [String: JSONValue]) -> String {
        Base64URL.encode(JSONValue.object(header).canonicalBytes) + "." + Base64URL.encode(JSONValue.object(claims).canonicalBytes)
    }

    func token(_ algorithm: JWSAlgorithm, kid: String? = nil, claims: [String: JSONValue] = TestIssuer.claims(),
               extraHeader: [String: JSONValue] = [:]) -> String {
        var header: [String: JSONValue] = ["alg": .string(algorithm.rawValue), "typ": .string("JWT")]
        header["kid"] = .string(kid ?? Self.defaultKid(algorithm))
        header.merge(extraHeader) { $1 }
        let input = Self.signingInput(header: header, claims: claims)
        return input + "." + Base64URL.encode(sign(algorithm, Array(input.utf8)))
    }

    func sign(_ algorithm: JWSAlgorithm, _ message: [UInt8]) -> [UInt8] {
        switch algorithm {
        case .rs256: Array(try! rsa.signature(for: message, padding: .insecurePKCS1v1_5).rawRepresentation)
        case .es256: Array(try! p256.signature(for: message).rawRepresentation)
        case .edDSA: Array(try! ed25519.signature(for: message))
        }
    }

    static func defaultKid(_ algorithm: JWSAlgorithm) -> String {
        switch algorithm {
        case .rs256: "rsa-1"
        case .es256: "ec-1"
        case .edDSA: "ed-1"
        }
    }

    /// An unsigned token (`alg: none`, empty signature), RFC 7519 §6.
    static func unsecured(claims: [String: JSONValue] = TestIssuer.claims()) -> String {
        signingInput(header: ["alg": .string("none"), "kid": .string("rsa-1")], claims: claims) + "."
    }

    /// The classic forgery: HS256 with the issuer's RSA public key (its PEM text, as a careless
    /// library would take the "key" it was handed) as the HMAC secret.
    func hs256WithRSAPublicKey(claims: [String: JSONValue] = TestIssuer.claims()) -> String {
        let input = Self.signingInput(header: ["alg": .string("HS256"), "typ": .string("JWT"), "kid": .string("rsa-1")], claims: claims)
        let secret = SymmetricKey(data: Array(rsa.publicKey.pemRepresentation.utf8))
        let mac = HMAC<Crypto.SHA256>.authenticationCode(for: Array(input.utf8), using: secret)
        return input + "." + Base64URL.encode(Array(mac))
    }
}

extension AuthRequest {
    static func make(host: String = "api.example", authorization: [String] = [], headers: [(name: String, value: String)] = [],
                     client: String = "192.0.2.10", method: String = "GET", target: String = "/v1/items?x=1") -> AuthRequest {
        AuthRequest(method: method, host: host, target: target, scheme: "https",
                    headers: authorization.map { (name: "authorization", value: $0) } + headers, clientAddress: client)!
    }
}

extension AuthDecision {
    var grant: AuthGrant? { if case .allow(let grant) = self { return grant }; return nil }
    var denial: AuthDenial? { if case .deny(let denial) = self { return denial }; return nil }
}

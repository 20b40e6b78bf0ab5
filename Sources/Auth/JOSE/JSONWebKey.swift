import Crypto
import Spec
import _CryptoExtras

/// The signature algorithms Berth accepts (RFC 7518 §3.3, §3.4; RFC 8037 §3.1). Everything else —
/// `none`, the HMAC family, RSA-PSS, other curves — is refused by name when a token is parsed.
public enum JWSAlgorithm: String, Sendable, CaseIterable {
    case rs256 = "RS256"
    case es256 = "ES256"
    case edDSA = "EdDSA"
}

/// A public key from a JWK set (RFC 7517), usable for exactly one algorithm: the key's type
/// decides it (RSA → RS256, EC P-256 → ES256, OKP Ed25519 → EdDSA), so an RSA key can never be
/// fed to an HMAC or an ECDSA check, whatever a token's header says.
public struct JSONWebKey: Sendable {
    public enum Material: Sendable {
        case rsa(_RSA.Signing.PublicKey)
        case p256(P256.Signing.PublicKey)
        case ed25519(Curve25519.Signing.PublicKey)
    }

    public var keyID: String?
    public var material: Material

    public init(keyID: String?, material: Material) {
        self.keyID = keyID
        self.material = material
    }

    /// The one algorithm this key verifies.
    public var algorithm: JWSAlgorithm {
        switch material {
        case .rsa: .rs256
        case .p256: .es256
        case .ed25519: .edDSA
        }
    }

    /// Verifies `signature` over `message` with this key's algorithm. Wrong lengths are false.
    func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        switch material {
        case .rsa(let key):
            // RFC 7518 §3.3: RSASSA-PKCS1-v1_5 with SHA-256; the signature is exactly the modulus length.
            guard signature.count == (key.keySizeInBits + 7) / 8 else { return false }
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: message,
                                        padding: .insecurePKCS1v1_5)
        case .p256(let key):
            // RFC 7518 §3.4: R ‖ S, 32 bytes each (not DER).
            guard signature.count == 64, let parsed = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(parsed, for: message)
        case .ed25519(let key):
            guard signature.count == 64 else { return false }
            return key.isValidSignature(signature, for: message)
        }
    }
}

extension JSONWebKey {
    /// Largest RSA modulus accepted: bigger keys only cost verification time.
    static let maxRSABits = 8192

    /// Parses one JWK. Returns nil with a reason for keys Berth cannot or must not use: a `use`
    /// other than `sig`, `key_ops` without `verify`, an `alg` other than the one its type
    /// implies, unknown `kty`/`crv`, RSA below 2048 or above 8192 bits, points not on the curve.
    static func parse(_ json: JSONValue) -> Result<JSONWebKey, JWKSFailure> {
        func skip(_ reason: String) -> Result<JSONWebKey, JWKSFailure> { .failure(JWKSFailure(reason: reason)) }
        guard let object = json.objectValue else { return skip("a key is not an object") }
        guard let kty = object["kty"]?.stringValue else { return skip("a key has no kty") }
        var keyID: String?
        if let kid = object["kid"] {
            guard let text = kid.stringValue else { return skip("kid is not a string") }
            keyID = text
        }
        let label = keyID.map { "key \"\($0)\"" } ?? "a key without kid"
        if let use = object["use"], use.stringValue != "sig" { return skip("\(label): use is not \"sig\"") }
        if let ops = object["key_ops"] {
            guard let list = ops.arrayValue, list.contains(.string("verify")) else { return skip("\(label): key_ops lacks \"verify\"") }
        }
        func bytes(_ name: String) -> [UInt8]? { object[name]?.stringValue.flatMap(Base64URL.decode) }
        let material: Material
        switch kty {
        case "RSA":
            guard var n = bytes("n"), let e = bytes("e"), !e.isEmpty, e.count <= 8 else { return skip("\(label): RSA n or e is missing or malformed") }
            // RFC 7518 §6.3.1.1 asks for the minimal encoding; some libraries emit a leading zero.
            while n.first == 0 { n.removeFirst() }
            guard n.count * 8 <= maxRSABits else { return skip("\(label): RSA modulus above \(maxRSABits) bits") }
            guard let key = try? _RSA.Signing.PublicKey(n: n, e: e) else { return skip("\(label): RSA key rejected (below 2048 bits or invalid)") }
            material = .rsa(key)
        case "EC":
            guard object["crv"]?.stringValue == "P-256" else { return skip("\(label): only the P-256 curve is supported") }
            guard let x = bytes("x"), let y = bytes("y"), x.count == 32, y.count == 32,
                  let key = try? P256.Signing.PublicKey(x963Representation: [0x04] + x + y) else {
                return skip("\(label): EC x/y are malformed or not on P-256")
            }
            material = .p256(key)
        case "OKP":
            guard object["crv"]?.stringValue == "Ed25519" else { return skip("\(label): only the Ed25519 curve is supported") }
            guard let x = bytes("x"), x.count == 32, let key = try? Curve25519.Signing.PublicKey(rawRepresentation: x) else {
                return skip("\(label): Ed25519 x is malformed")
            }
            material = .ed25519(key)
        default:
            return skip("\(label): kty \"\(kty)\" is not supported")
        }
        let key = JSONWebKey(keyID: keyID, material: material)
        if let alg = object["alg"] {
            guard alg.stringValue == key.algorithm.rawValue else {
                return skip("\(label): alg \(alg.canonicalString) does not match its key type (\(key.algorithm.rawValue))")
            }
        }
        return .success(key)
    }
}

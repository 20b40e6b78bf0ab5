import Spec

/// Why a JWK set, or one key in it, was not used.
public struct JWKSFailure: Error, Equatable, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}

/// A parsed JWK set (RFC 7517 §5): the usable signing keys, plus why the others were skipped (for
/// the proxy's log). Built from the bytes the proxy fetched; parsing does no I/O.
public struct JSONWebKeySet: Sendable {
    /// Largest document accepted, and most keys in it: a JWKS is a handful of keys.
    public static let maxBytes = 256 * 1024
    public static let maxKeys = 100

    public var keys: [JSONWebKey]
    /// One line per key that was skipped (unsupported type, wrong `use`, too small …).
    public var skipped: [String]

    public init(keys: [JSONWebKey], skipped: [String] = []) {
        self.keys = keys
        self.skipped = skipped
    }

    /// Parses a JWK set document. The document itself must be well-formed (strict JSON, an object
    /// with a `keys` array of at most `maxKeys`); individual keys Berth cannot use are skipped and
    /// listed in `skipped`, so one exotic key does not take the issuer's other keys down with it.
    public static func parse(_ bytes: [UInt8]) throws(JWKSFailure) -> JSONWebKeySet {
        guard bytes.count <= maxBytes else { throw JWKSFailure(reason: "JWKS is larger than \(maxBytes) bytes") }
        let json: JSONValue
        do { json = try StrictJSON.parse(bytes, maxDepth: 8) } catch { throw JWKSFailure(reason: "JWKS is not valid JSON (\(error.reason) at byte \(error.offset))") }
        guard let list = json["keys"]?.arrayValue else { throw JWKSFailure(reason: "JWKS has no \"keys\" array") }
        guard list.count <= maxKeys else { throw JWKSFailure(reason: "JWKS has more than \(maxKeys) keys") }
        var keys: [JSONWebKey] = [], skipped: [String] = []
        for entry in list {
            switch JSONWebKey.parse(entry) {
            case .success(let key): keys.append(key)
            case .failure(let failure): skipped.append(failure.reason)
            }
        }
        return JSONWebKeySet(keys: keys, skipped: skipped)
    }

    /// The key a token names. With a `kid`: the key with that id whose type fits `algorithm`
    /// (`.wrongType` when the id exists only for another type). Without a `kid`: the only key of
    /// that type, if there is exactly one — never a trial of several keys, which would let a
    /// token make the proxy run many signature checks.
    public func key(id: String?, algorithm: JWSAlgorithm) -> KeyLookup {
        if let id {
            let named = keys.filter { $0.keyID == id }
            if let key = named.first(where: { $0.algorithm == algorithm }) { return .found(key) }
            return named.isEmpty ? .unknown : .wrongType
        }
        let candidates = keys.filter { $0.algorithm == algorithm }
        if candidates.count == 1 { return .found(candidates[0]) }
        return candidates.isEmpty ? .unknown : .ambiguous
    }

    public enum KeyLookup: Sendable {
        case found(JSONWebKey)
        case unknown
        case wrongType
        case ambiguous
    }
}

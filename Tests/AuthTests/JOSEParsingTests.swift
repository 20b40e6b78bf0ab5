import Crypto
import Foundation
import Spec
import Testing
import _CryptoExtras
@testable import Auth

/// The parsers under the JWT mechanism, on their own: base64url, strict JSON, JWS structure, JWK
/// sets. Expected values are RFC 4648 test vectors or follow from the rule named in the case.
struct JOSEParsingTests {
    /// RFC 4648 §10 vectors, without padding.
    @Test("base64url: RFC 4648 §10 vectors round-trip", arguments: [
        ("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy"),
    ])
    func base64Vectors(plain: String, encoded: String) {
        #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
        #expect(Base64URL.decode(encoded) == Array(plain.utf8))
    }

    @Test("base64url: only one encoding per byte string is accepted", arguments: [
        "Zg==",      // padding
        "Zh",        // last char carries non-zero unused bits ("Zg" is canonical)
        "Zm9vY",     // length ≡ 1 (mod 4)
        "Zm9v+g",    // '+' belongs to standard base64
        "Zm9v/g",    // '/' too
        "Zm 9v",     // whitespace
    ])
    func base64Strict(text: String) {
        #expect(Base64URL.decode(text) == nil)
    }

    @Test("strict JSON refuses duplicate members, invalid UTF-8 and deep nesting")
    func strictJSON() throws {
        #expect(throws: StrictJSON.Failure.self) { try StrictJSON.parse(Array(#"{"alg":"RS256","alg":"none"}"#.utf8)) }
        #expect(throws: StrictJSON.Failure.self) { try StrictJSON.parse([0x22, 0xff, 0x22]) }
        #expect(throws: StrictJSON.Failure.self) { try StrictJSON.parse(Array(String(repeating: "[", count: 40).utf8) + Array(String(repeating: "]", count: 40).utf8)) }
        #expect(throws: StrictJSON.Failure.self) { try StrictJSON.parse(Array(#""\ud800""#.utf8)) }
        #expect(throws: StrictJSON.Failure.self) { try StrictJSON.parse(Array("{} x".utf8)) }
        #expect(try StrictJSON.parse(Array(#"{"a":[1,2.5,"\u00e9\ud83d\ude00",true,null]}"#.utf8))
                == .object(["a": .array([.int(1), .double(2.5), .string("é😀"), .bool(true), .null])]))
    }

    @Test("JWS parsing: header rules", arguments: [
        (#"{"alg":"none"}"#, "alg none"),
        (#"{"alg":"None"}"#, "alg none"),
        (#"{"alg":"HS256"}"#, "HMAC"),
        (#"{"alg":"HS512"}"#, "HMAC"),
        (#"{"alg":"PS256"}"#, "not supported"),
        (#"{"alg":"ES384"}"#, "not supported"),
        (#"{"alg":"rs256"}"#, "not supported"),       // names are case-sensitive (RFC 7515 §4.1.1)
        (#"{"typ":"JWT"}"#, "no alg"),
        (#"{"alg":["RS256"]}"#, "no alg"),
        (#"{"alg":"RS256","kid":7}"#, "kid is not a string"),
        (#"{"alg":"RS256","crit":["b64"],"b64":false}"#, "crit"),
        (#"{"alg":"RS256","enc":"A128GCM"}"#, "JWE"),
        (#"{"alg":"RS256","typ":"logout+jwt"}"#, "typ"),
        (#"["RS256"]"#, "not a JSON object"),
        (#"{"alg":"RS256","alg":"RS256"}"#, "strict JSON"),
    ])
    func headerRules(header: String, why: String) {
        let token = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(#"{"sub":"x"}"#.utf8)) + ".AAAA"
        do {
            _ = try CompactJWS.parse(Array(token.utf8))
            Issue.record("accepted \(header)")
        } catch {
            #expect(error.description.contains(why), "\(error.description)")
        }
    }

    @Test("JWS parsing: size limit and structure")
    func structure() throws {
        let header = Base64URL.encode(Array(#"{"alg":"ES256"}"#.utf8))
        let big = header + "." + Base64URL.encode([UInt8](repeating: 0x20, count: CompactJWS.maxLength)) + ".AAAA"
        #expect(throws: JWTFailure.self) { try CompactJWS.parse(Array(big.utf8)) }
        #expect(throws: JWTFailure.self) { try CompactJWS.parse(Array((header + ".e30").utf8)) }
        #expect(throws: JWTFailure.self) { try CompactJWS.parse(Array((header + "..").utf8)) }       // empty payload is not a JSON object
        #expect(throws: JWTFailure.self) { try CompactJWS.parse(Array((header + ".W10.AAAA").utf8)) } // payload [] is not an object
        let ok = try CompactJWS.parse(Array((header + ".e30.AAAA").utf8))                              // {} payload, 3-byte signature
        #expect(ok.algorithm == .es256)
        #expect(ok.signingInput == Array((header + ".e30").utf8))
        #expect(ok.signature == [0, 0, 0])
    }

    // MARK: JWK sets

    @Test("JWKS: unusable keys are skipped with a reason, the rest kept")
    func jwksSkips() throws {
        let issuer = TestIssuer.shared
        let weakRSA = try _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: 1024)).publicKey.getKeyPrimitives()
        var offCurve = Array(issuer.p256.publicKey.rawRepresentation)
        offCurve[63] ^= 1
        let keys: [JSONValue] = [
            issuer.rsaJWK(kid: "good-rsa"),
            .object(["kty": .string("RSA"), "kid": .string("weak"), "n": .string(Base64URL.encode(weakRSA.modulus)),
                     "e": .string(Base64URL.encode(weakRSA.publicExponent))]),
            .object(["kty": .string("EC"), "crv": .string("P-256"), "kid": .string("off-curve"),
                     "x": .string(Base64URL.encode(offCurve[0..<32])), "y": .string(Base64URL.encode(offCurve[32..<64]))]),
            .object(["kty": .string("EC"), "crv": .string("P-384"), "kid": .string("p384"), "x": .string("AA"), "y": .string("AA")]),
            .object(["kty": .string("oct"), "kid": .string("hmac"), "k": .string("c2VjcmV0")]),
            { var key = issuer.ecJWK(kid: "enc"); if case .object(var o) = key { o["use"] = .string("enc"); key = .object(o) }; return key }(),
            { var key = issuer.rsaJWK(kid: "rsa-as-ps256"); if case .object(var o) = key { o["alg"] = .string("PS256"); key = .object(o) }; return key }(),
            { var key = issuer.ecJWK(kid: "ops"); if case .object(var o) = key { o["key_ops"] = .array([.string("encrypt")]); key = .object(o) }; return key }(),
            issuer.edJWK(kid: "good-ed"),
        ]
        let set = try JSONWebKeySet.parse(JSONValue.object(["keys": .array(keys)]).canonicalBytes)
        #expect(set.keys.compactMap(\.keyID) == ["good-rsa", "good-ed"])
        #expect(set.skipped.count == 7)
        #expect(set.skipped.contains { $0.contains("\"weak\"") && $0.contains("2048") })
        #expect(set.skipped.contains { $0.contains("\"hmac\"") && $0.contains("oct") })
    }

    @Test("JWKS: the document itself must be well-formed", arguments: [
        #"{"keys":{}}"#, #"[]"#, #"{"keys":[] , "keys":[]}"#, #"{"kty":"RSA"}"#, "not json",
    ])
    func jwksDocument(text: String) {
        #expect(throws: JWKSFailure.self) { try JSONWebKeySet.parse(Array(text.utf8)) }
    }

    @Test("JWKS: key lookup by kid and type; no kid picks the only key of the type")
    func lookup() {
        let set = TestIssuer.shared.keySet
        guard case .found(let rsa) = set.key(id: "rsa-1", algorithm: .rs256) else { Issue.record("rsa-1"); return }
        #expect(rsa.algorithm == .rs256)
        guard case .wrongType = set.key(id: "rsa-1", algorithm: .es256) else { Issue.record("wrong type"); return }
        guard case .unknown = set.key(id: "nope", algorithm: .rs256) else { Issue.record("unknown"); return }
        guard case .found = set.key(id: nil, algorithm: .edDSA) else { Issue.record("only Ed25519 key"); return }
        let two = JSONWebKeySet(keys: set.keys + [JSONWebKey(keyID: "ec-2", material: .p256(P256.Signing.PrivateKey().publicKey))])
        guard case .ambiguous = two.key(id: nil, algorithm: .es256) else { Issue.record("ambiguous"); return }
    }
}

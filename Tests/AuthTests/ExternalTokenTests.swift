import Spec
import Testing
@testable import Auth

/// Tokens and a {"keys":[{"kty":"RSA","key_ops":["verify"],"n":"jfGOi3In-f2kDtl3vRPY3odotlDR1z4WyPkoOH1nJILz0BGQg3fsevjAi7fxILiMKuwS4kcAlq20GgV2Er7rVSSL_yefuw1XBZe1ui_Ttws8tro9HZa0CIPg2laxDHCAQknGOuTvEOLt4Jhxz2C5pPOwHInsqWIgyXcsObSrEcqbuCcmxwmNUIUEwfg_WuZDOm20SiLAVVy9GBCysVnRLottJRJGUgbAdeXNNFnWCYw58p9LI1-wzMoqrY22afZQEKogm2KyjQ7db3fDC2oWcQK4CRnt6xatL0SPToQSIHbWriLnEvjXGJpAG18NHmgw0i56xx0RgzxxTeaTseziiQ","e":"AQAB","kid":"py-rsa"},{"kty":"EC","crv":"P-256","x":"xIFgRJjpUzq8Pynzfm3CXWayzRcZ2j9X4c77aBoxaSE","y":"-kfxoRr6BLkLwLw8NcTtGBRhONu7tSNorylG1HdZb84","kid":"py-ec"},{"x":"PuyWgFUzAW_0EbLrmon4_s5u4h9Ee9EIM2k-2CVKJRM","kty":"OKP","crv":"Ed25519","kid":"py-ed"}]} made by another implementation — PyJWT 2.15.1 on pyca/cryptography 48.0.0 —
/// with `python3 Tests/AuthTests/Scripts/pyjwt_tokens.py` (fresh random keys each run; the output
/// of one run is recorded here). Claims: iss https://issuer.example, aud https://api.example,
/// sub py-user, scope "read write", nbf/iat 1700000000, exp 4102444800 (2100-01-01).
struct ExternalTokenTests {
    static let jwks = #"{"keys":[{"kty":"RSA","key_ops":["verify"],"n":"jfGOi3In-f2kDtl3vRPY3odotlDR1z4WyPkoOH1nJILz0BGQg3fsevjAi7fxILiMKuwS4kcAlq20GgV2Er7rVSSL_yefuw1XBZe1ui_Ttws8tro9HZa0CIPg2laxDHCAQknGOuTvEOLt4Jhxz2C5pPOwHInsqWIgyXcsObSrEcqbuCcmxwmNUIUEwfg_WuZDOm20SiLAVVy9GBCysVnRLottJRJGUgbAdeXNNFnWCYw58p9LI1-wzMoqrY22afZQEKogm2KyjQ7db3fDC2oWcQK4CRnt6xatL0SPToQSIHbWriLnEvjXGJpAG18NHmgw0i56xx0RgzxxTeaTseziiQ","e":"AQAB","kid":"py-rsa"},{"kty":"EC","crv":"P-256","x":"xIFgRJjpUzq8Pynzfm3CXWayzRcZ2j9X4c77aBoxaSE","y":"-kfxoRr6BLkLwLw8NcTtGBRhONu7tSNorylG1HdZb84","kid":"py-ec"},{"x":"PuyWgFUzAW_0EbLrmon4_s5u4h9Ee9EIM2k-2CVKJRM","kty":"OKP","crv":"Ed25519","kid":"py-ed"}]}"#
    static let tokens: [(String, String)] = [
        ("RS256", "eyJhbGciOiJSUzI1NiIsImtpZCI6InB5LXJzYSIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwiYXVkIjoiaHR0cHM6Ly9hcGkuZXhhbXBsZSIsInN1YiI6InB5LXVzZXIiLCJzY29wZSI6InJlYWQgd3JpdGUiLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwMDAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwfQ.YTiVb_lQLkeWySMMdpmzM7GuSgaauR1bmaw_v9p_lcvKYQxsaMEylr_yVpaxqOWA51kelnEBy-KJp_x71RBETX8oYObkZPEVXMLtSwU8NMiqwstAbOvu9IMWPiK6n83FZUMUKoCjIpn872eIeHVsGz76ymYfptjswRpyJDdTxQD4ZS080c_eWfUm5aZ3-jSkqHfO7Ncq9G6gIW-co43s-l6fx0LjKkVO-D19DtY0Zt0ZO69gnAKvBnaiLCCZAsP0C-4Uhv-TLd40mkQTzWLqf83H5Hz4bdikESXQ1QaYCADb6alsaPFQpHbyhDKn6eI9WQLtGt9_flnZAoP3AXC56w"),
        ("ES256", "eyJhbGciOiJFUzI1NiIsImtpZCI6InB5LWVjIiwidHlwIjoiSldUIn0.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwiYXVkIjoiaHR0cHM6Ly9hcGkuZXhhbXBsZSIsInN1YiI6InB5LXVzZXIiLCJzY29wZSI6InJlYWQgd3JpdGUiLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwMDAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwfQ._romUEr7pAINMc0D0TgCEhbNqM117ukTmI63RIpzJ1s5Q30pcLAj-TRuLF__6pVxj8bkqfo1lkvQSs3RS3kUxg"),
        ("EdDSA", "eyJhbGciOiJFZERTQSIsImtpZCI6InB5LWVkIiwidHlwIjoiSldUIn0.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwiYXVkIjoiaHR0cHM6Ly9hcGkuZXhhbXBsZSIsInN1YiI6InB5LXVzZXIiLCJzY29wZSI6InJlYWQgd3JpdGUiLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwMDAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwfQ.dHxohlPz7kM6MjgCXS1MiqjxPTgdWZSk5sagdnpZDP3Uf3u_FwHptKfqV8jcmevSRigtjwSxeg08uHMP1wmDBA"),
    ]
    static let policy = try! CompiledAuthPolicy(name: "py", json: AuthPolicy(
        name: "py", mechanism: .jwt(.init(issuer: "https://issuer.example", audiences: ["https://api.example"],
                                          jwksURL: "https://issuer.example/jwks", requiredScopes: ["read"]))).canonicalSpec)

    @Test("PyJWT's JWKS parses, all three keys usable (key_ops [verify] included)")
    func keySet() throws {
        let set = try JSONWebKeySet.parse(Array(Self.jwks.utf8))
        #expect(set.keys.map(\.keyID) == ["py-rsa", "py-ec", "py-ed"])
        #expect(set.keys.map(\.algorithm) == [.rs256, .es256, .edDSA])
        #expect(set.skipped.isEmpty)
    }

    @Test("PyJWT tokens verify", arguments: tokens)
    func verifies(algorithm: String, token: String) throws {
        let set = try JSONWebKeySet.parse(Array(Self.jwks.utf8))
        let jws = try CompactJWS.parse(Array(token.utf8))
        #expect(jws.algorithm.rawValue == algorithm)
        let decision = Self.policy.evaluate(.make(authorization: ["Bearer " + token]), now: 1_800_000_000) { _ in .available(set, refetchAllowed: false) }
        #expect(decision.grant == AuthGrant(identity: "py-user", scopes: ["read", "write"],
                                            upstreamHeaders: [HeaderField("x-auth-user", "py-user"), HeaderField("x-auth-scopes", "read write")]))
    }

    /// The same tokens one bit off in the signature's first byte must fail: the pass above is
    /// the signature check's doing, not a skipped check.
    @Test("PyJWT tokens with a flipped signature bit fail", arguments: tokens)
    func flipped(algorithm: String, token: String) throws {
        let set = try JSONWebKeySet.parse(Array(Self.jwks.utf8))
        let parts = token.split(separator: ".")
        var signature = try #require(Base64URL.decode(String(parts[2])))
        signature[0] ^= 0x01
        let forged = parts[0] + "." + parts[1] + "." + Base64URL.encode(signature)
        let decision = Self.policy.evaluate(.make(authorization: ["Bearer " + forged]), now: 1_800_000_000) { _ in .available(set, refetchAllowed: false) }
        #expect(decision.denial?.bearerError == .invalidToken)
        #expect(decision.denial?.reason == "signature does not verify")
    }
}

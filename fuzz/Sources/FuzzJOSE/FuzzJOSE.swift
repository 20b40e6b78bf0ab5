// libFuzzer entry point for the Auth module's parsers of attacker-controlled bytes: compact JWS
// tokens, JWK sets, and the Authorization header paths of the bearer/basic/JWT policies.
//
// The first byte chooses how the rest is read (so the fuzzer can also reach JSON inside base64url):
//   0: token NUL jwks        — a compact token as sent, and a key set
//   1: header NUL payload NUL signature NUL jwks — the harness base64url-encodes the first three
//   2: jwks                  — a key set alone
//   3: an Authorization header value, through bearer, basic and JWT policies
//   4: a URL the proxy would request itself (a jwksURL, a forward-auth url)
//   5: Cache-Control field values of a JWKS answer (NUL-separated)
// (bytes 6 and up wrap around: the mode is the first byte modulo 6)
//
// Invariants:
//  - nothing crashes or traps;
//  - base64url is canonical: every accepted segment re-encodes to the same text;
//  - a parsed token's signing input is exactly the bytes before its second dot, and its algorithm
//    is one of RS256/ES256/EdDSA; a token longer than the limit is never accepted;
//  - a verified token satisfies the policy it was checked against (issuer, audience, scope, time);
//  - a key set never holds more than its key limit, and each key verifies only its own algorithm;
//  - a decision is allow, needKeys or a denial with status 401/403/503; bearer/JWT denials carry
//    a challenge without CR/LF;
//  - an accepted outbound URL has a port in 1...65535, a target starting with '/', only printable
//    ASCII, and its own text parses back to the same URL; a JWKS URL is https or loopback;
//  - a key set's lifetime is always within 1 minute...24 hours, and the minimum under no-store.
import Auth
import CFuzzerDriver
import Spec

private func violation(_ message: String) -> Never { fatalError("FuzzJOSE invariant violated: \(message)") }

private let now: Double = 1_800_000_000
private let verifier = JWTVerifier(issuer: "https://issuer.example", audiences: ["https://api.example", "aud"], requiredScopes: ["read"])

private let jwtPolicy = try! CompiledAuthPolicy(name: "jwt", json: JSONValue.parse(
    #"{"ipAllow":[],"jwt":{"issuer":"https://issuer.example","audiences":["https://api.example","aud"],"jwksURL":"https://issuer.example/jwks","requiredScopes":["read"]}}"#))
private let bearerPolicy = try! CompiledAuthPolicy(name: "bearer", json: JSONValue.parse(
    #"{"ipAllow":["10.0.0.0/8","2001:db8::/32"],"bearer":{"tokens":[{"name":"demo","sha256":"7c43ef5ae21d43ce2743f770c68e24def1a43ee2f416d2438410c8af7af2ff2c"}]}}"#))
private let basicPolicy = try! CompiledAuthPolicy(name: "basic", json: JSONValue.parse(
    #"{"ipAllow":[],"basic":{"users":[{"name":"U","bcrypt":"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"}]}}"#))

private func split(_ bytes: ArraySlice<UInt8>, parts: Int) -> [[UInt8]] {
    var out = bytes.split(separator: 0, maxSplits: parts - 1, omittingEmptySubsequences: false).map(Array.init)
    while out.count < parts { out.append([]) }
    return out
}

private func checkCanonicalSegments(_ token: [UInt8]) {
    for segment in token.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
        if let decoded = Base64URL.decode(segment), Array(Base64URL.encode(decoded).utf8) != Array(segment) {
            violation("base64url segment \(String(decoding: segment, as: UTF8.self)) is accepted but not canonical")
        }
    }
}

private func checkToken(_ token: [UInt8], keys: JSONWebKeySet?) {
    checkCanonicalSegments(token)
    guard let jws = try? CompactJWS.parse(token) else { return }
    if token.count > CompactJWS.maxLength { violation("accepted a token of \(token.count) bytes") }
    let dots = token.indices.filter { token[$0] == UInt8(ascii: ".") }
    if dots.count != 2 || Array(token[..<dots[1]]) != jws.signingInput { violation("signing input is not the bytes before the second dot") }
    if !JWSAlgorithm.allCases.contains(jws.algorithm) { violation("unexpected algorithm") }
    guard let keys else { return }
    if case .success(let verified) = verifier.verify(jws, keys: keys, now: now) {
        let claims = jws.claims
        if claims["iss"]?.stringValue != verifier.issuer { violation("verified a token from another issuer") }
        if !verified.audience.contains(where: verifier.audiences.contains) { violation("verified a token for another audience") }
        if !verified.scopes.contains("read") { violation("verified a token without the required scope") }
        let expiry: Double? = switch claims["exp"] {
        case .int(let seconds)?: Double(seconds)
        case .double(let seconds)?: seconds
        default: nil
        }
        guard let expiry, now < expiry + verifier.leeway else { violation("verified an expired token or one without exp") }
    }
}

private func checkKeySet(_ bytes: [UInt8]) -> JSONWebKeySet? {
    guard let set = try? JSONWebKeySet.parse(bytes) else { return nil }
    if set.keys.count > JSONWebKeySet.maxKeys { violation("more keys than the limit") }
    for key in set.keys {
        if case .found(let found) = set.key(id: key.keyID, algorithm: key.algorithm), found.algorithm != key.algorithm {
            violation("lookup returned a key of another algorithm")
        }
        for other in JWSAlgorithm.allCases where other != key.algorithm {
            if case .found(let found) = set.key(id: key.keyID, algorithm: other), found.algorithm != other {
                violation("a \(key.algorithm) key was returned for \(other)")
            }
        }
    }
    return set
}

private func checkDecision(_ decision: AuthDecision, bearerStyle: Bool) {
    switch decision {
    case .allow, .needKeys, .verifyBasic, .forward:
        break
    case .deny(let denial):
        if ![401, 403, 503].contains(denial.status) { violation("denial status \(denial.status)") }
        if let challenge = denial.wwwAuthenticate, challenge.utf8.contains(where: { $0 == 0x0d || $0 == 0x0a || $0 == 0 }) {
            violation("challenge with CR/LF/NUL: \(challenge)")
        }
        if bearerStyle, denial.status == 401, denial.wwwAuthenticate == nil { violation("401 without a challenge") }
    }
}

private func checkOutboundURL(_ text: String) {
    let keySet = try? OutboundURL.keySet(text).get()
    guard let url = OutboundURL(text) else {
        if keySet != nil { violation("a JWKS URL was accepted that is not a URL") }
        return
    }
    if !(1...65535).contains(url.port) { violation("port \(url.port)") }
    if !url.target.hasPrefix("/") { violation("target \(url.target)") }
    if url.host.isEmpty || url.host != url.host.lowercased() { violation("host \(url.host)") }
    if !(url.description.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f }) { violation("unprintable bytes in \(url.description)") }
    if OutboundURL(url.description) != url { violation("\(url.description) does not parse back to the same URL") }
    if let keySet, !(keySet.isTLS || keySet.isLoopback) { violation("a plain-http JWKS URL off loopback: \(text)") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let rest = bytes[1...]
    switch bytes[0] % 6 {
    case 0:
        let parts = split(rest, parts: 2)
        checkToken(parts[0], keys: checkKeySet(parts[1]))
    case 1:
        let parts = split(rest, parts: 4)
        let token = Base64URL.encode(parts[0]) + "." + Base64URL.encode(parts[1]) + "." + Base64URL.encode(parts[2])
        checkToken(Array(token.utf8), keys: checkKeySet(parts[3]))
    case 2:
        _ = checkKeySet(Array(rest))
    case 4:
        guard let text = String(validating: rest, as: UTF8.self) else { return 0 }
        checkOutboundURL(text)
    case 5:
        let values = rest.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        let seconds = KeySetLifetime.seconds(cacheControl: values)
        if !(KeySetLifetime.minimum...KeySetLifetime.maximum).contains(seconds) { violation("lifetime \(seconds) out of bounds") }
        if seconds != KeySetLifetime.seconds(cacheControl: values) { violation("lifetime is not deterministic") }
        if values.contains(where: { $0.lowercased() == "no-store" }), seconds != KeySetLifetime.minimum { violation("no-store gave \(seconds)") }
    default:
        guard let value = String(validating: rest, as: UTF8.self) else { return 0 }
        let keys = try? JSONWebKeySet.parse(Array(#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#.utf8))
        for (index, address) in ["10.1.2.3", "2001:db8::1", "192.0.2.1"].enumerated() {
            let request = AuthRequest(method: "GET", host: "api.example", target: "/", headers: [(name: "authorization", value: value)],
                                      clientAddress: address)!
            checkDecision(bearerPolicy.evaluate(request, now: now), bearerStyle: index != 2)
            checkDecision(jwtPolicy.evaluate(request, now: now) { _ in keys.map { .available($0, refetchAllowed: index == 0) } ?? .missing },
                          bearerStyle: true)
            if index == 0 {
                // Parsing only: `verify()` would run bcrypt, far too slow for a fuzzer.
                checkDecision(basicPolicy.evaluate(request, now: now), bearerStyle: false)
            }
        }
        if let hash = Bcrypt.Hash(value), hash.encoded != value { violation("bcrypt hash parse changed the text") }
    }
    return 0
}

@_cdecl("FuzzJOSE_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}

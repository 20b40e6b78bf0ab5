import Crypto
import Spec

/// An auth policy of the route table, compiled once per table (off the event loop) into what
/// requests are checked against: decoded hashes, parsed CIDRs, header names. Immutable and
/// `Sendable`; `evaluate` is pure (same request, time and keys → same decision).
public struct CompiledAuthPolicy: Sendable {
    public enum Mechanism: Sendable {
        case bearer([BearerCredential])
        case basic([String: Bcrypt.Hash])
        case jwt(JWTSettings)
        case forward(ForwardSettings)
    }

    public struct BearerCredential: Sendable {
        public var name: String
        /// SHA-256 of the token, 32 bytes.
        public var sha256: [UInt8]
    }

    public struct JWTSettings: Sendable {
        public var issuer: String
        public var audiences: [String]
        public var jwksURL: String
        public var requiredScopes: [String]
    }

    public struct ForwardSettings: Sendable {
        public var url: String
        /// Lower-case.
        public var copyHeaders: [String]
        /// `url` parsed once, when the table is compiled (nil: not a URL the proxy can request,
        /// answered 503). Parsing it per request cost more than the rest of building the subrequest.
        public var outbound: OutboundURL?

        public init(url: String, copyHeaders: [String]) {
            self.url = url
            self.copyHeaders = copyHeaders
            outbound = OutboundURL(url)
        }
    }

    public static let defaultUserHeader = "x-auth-user"
    public static let defaultScopesHeader = "x-auth-scopes"
    /// Clock skew allowed on `exp`/`nbf`.
    public static let leeway: Double = 60

    public let name: String
    /// nil for an ipAllow-only policy.
    public let mechanism: Mechanism?
    /// Empty: every address. Otherwise the client must be in one of them (and pass the mechanism).
    public let ipAllow: [CIDR]
    /// Lower-case header names carrying the identity and scopes upstream.
    public let userHeader: String
    public let scopesHeader: String
    /// SHA-256 of the name and the canonical JSON the policy was compiled from: what a cached
    /// verification is tied to, so a changed policy (issuer, audiences, scopes) never reuses one.
    public let fingerprint: SHA256Digest

    /// Compiles the policy's JSON as the route table carries it (`auth_policies.<name>`, the
    /// canonical spec). Strict: a missing or mistyped field, an unknown member, an invalid hash
    /// or CIDR throws, so the proxy rejects the whole table instead of serving a route with a
    /// weaker policy than the repository says.
    public init(name: String, json: JSONValue) throws(AuthPolicyError) {
        func fail(_ reason: String) -> AuthPolicyError { AuthPolicyError(policy: name, reason: reason) }
        guard let object = json.objectValue else { throw fail("is not a JSON object") }
        let known: Set<String> = ["ipAllow", "bearer", "basic", "jwt", "forward", "identityHeaders"]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw fail("has an unknown field \"\(unknown)\" (a newer control plane? this proxy cannot enforce it)")
        }
        func strings(_ value: JSONValue?, _ what: String) throws(AuthPolicyError) -> [String] {
            guard let value else { return [] }
            guard let list = value.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else { throw fail("\(what) is not a list of strings") }
            return list.compactMap(\.stringValue)
        }
        func string(_ value: JSONValue?, _ what: String) throws(AuthPolicyError) -> String {
            guard let text = value?.stringValue, !text.isEmpty else { throw fail("\(what) is missing or not a non-empty string") }
            return text
        }

        var cidrs: [CIDR] = []
        for text in try strings(object["ipAllow"], "ipAllow") {
            guard case .success(let cidr) = CIDR.parse(text) else { throw fail("ipAllow entry \"\(text)\" is not a CIDR") }
            cidrs.append(cidr)
        }
        if object["ipAllow"] != nil, cidrs.isEmpty, object.keys.count == 1 {
            throw fail("has an empty ipAllow and no mechanism")
        }

        let mechanisms = ["bearer", "basic", "jwt", "forward"].filter { object[$0] != nil }
        guard mechanisms.count <= 1 else { throw fail("has several mechanisms (\(mechanisms.joined(separator: ", ")))") }
        var mechanism: Mechanism?
        if let bearer = object["bearer"] {
            guard let tokens = bearer["tokens"]?.arrayValue, !tokens.isEmpty else { throw fail("bearer.tokens is missing or empty") }
            var credentials: [BearerCredential] = []
            for token in tokens {
                let tokenName = try string(token["name"], "bearer token name")
                guard let hex = token["sha256"]?.stringValue, let digest = Hex.decode(hex), digest.count == 32 else {
                    throw fail("bearer token \"\(tokenName)\": sha256 is not 64 hex digits")
                }
                credentials.append(BearerCredential(name: tokenName, sha256: digest))
            }
            mechanism = .bearer(credentials)
        } else if let basic = object["basic"] {
            guard let users = basic["users"]?.arrayValue, !users.isEmpty else { throw fail("basic.users is missing or empty") }
            var hashes: [String: Bcrypt.Hash] = [:]
            for user in users {
                let userName = try string(user["name"], "basic user name")
                guard let text = user["bcrypt"]?.stringValue, let hash = Bcrypt.Hash(text) else {
                    throw fail("basic user \"\(userName)\": not a $2a$/$2b$/$2y$ bcrypt hash with cost 4...31")
                }
                guard hashes.updateValue(hash, forKey: userName) == nil else { throw fail("basic user \"\(userName)\" appears twice") }
            }
            mechanism = .basic(hashes)
        } else if let jwt = object["jwt"] {
            let settings = JWTSettings(issuer: try string(jwt["issuer"], "jwt.issuer"),
                                       audiences: try strings(jwt["audiences"], "jwt.audiences"),
                                       jwksURL: try string(jwt["jwksURL"], "jwt.jwksURL"),
                                       requiredScopes: try strings(jwt["requiredScopes"], "jwt.requiredScopes"))
            guard !settings.audiences.isEmpty, !settings.audiences.contains("") else { throw fail("jwt.audiences is empty") }
            mechanism = .jwt(settings)
        } else if let forward = object["forward"] {
            let url = try string(forward["url"], "forward.url")
            guard Formats.checkHTTPURL(url) == nil else { throw fail("forward.url \"\(url)\" is not an http(s) URL") }
            mechanism = .forward(ForwardSettings(url: url, copyHeaders: try strings(forward["copyHeaders"], "forward.copyHeaders").map { $0.lowercased() }))
        }
        guard mechanism != nil || !cidrs.isEmpty else { throw fail("has neither a mechanism nor an ipAllow list") }

        var userHeader = Self.defaultUserHeader, scopesHeader = Self.defaultScopesHeader
        if let headers = object["identityHeaders"] {
            guard let fields = headers.objectValue, Set(fields.keys).isSubset(of: ["user", "scopes"]) else {
                throw fail("identityHeaders must be an object with user and/or scopes")
            }
            if let user = fields["user"] { userHeader = try string(user, "identityHeaders.user").lowercased() }
            if let scopes = fields["scopes"] { scopesHeader = try string(scopes, "identityHeaders.scopes").lowercased() }
            // Reserved names too: an identity in Host, Content-Length or X-Forwarded-For would let
            // a table redirect or reframe what the upstream receives.
            for header in [userHeader, scopesHeader] {
                if let problem = Formats.checkIdentityHeaderName(header) { throw fail("identityHeaders: \"\(header)\" \(problem)") }
            }
            guard userHeader != scopesHeader else { throw fail("identityHeaders.user and .scopes are the same header") }
        }

        self.name = name
        self.fingerprint = Crypto.SHA256.hash(data: Array(name.utf8) + [0] + json.canonicalBytes)
        self.mechanism = mechanism
        self.ipAllow = cidrs
        self.userHeader = userHeader
        self.scopesHeader = scopesHeader
    }

    /// Header names (lower-case) the proxy removes from the client's request before forwarding it
    /// on a route guarded by this policy: the identity headers, and for forward auth the headers
    /// copied from the auth server's answer (a client must not be able to supply them itself).
    public var headersToRemove: [String] {
        var names = [userHeader, scopesHeader]
        if case .forward(let settings)? = mechanism { names += settings.copyHeaders }
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }
    }

    /// The key set URL the proxy must keep fetched for this policy, if it is a JWT policy.
    public var jwksURL: String? {
        if case .jwt(let settings)? = mechanism { return settings.jwksURL }
        return nil
    }

    /// Decides a request. `now` is seconds since 1970; `keys` gives the proxy's cached state of a
    /// JWKS URL (only JWT policies call it). The client address is checked first; both it and the
    /// mechanism must pass.
    public func evaluate(_ request: AuthRequest, now: Double, keys: (String) -> KeySetState = { _ in .missing }) -> AuthDecision {
        var none = VerifiedTokenCache(capacity: 0)
        return evaluate(request, now: now, keys: keys, tokens: &none)
    }

    /// The same, consulting and filling `tokens` for JWT policies: a token that verified on this
    /// host under this policy within the cache's lifetime (and before its `exp`) is allowed again
    /// without a signature check. The client address is still checked on every request.
    public func evaluate(_ request: AuthRequest, now: Double, keys: (String) -> KeySetState,
                         tokens: inout VerifiedTokenCache) -> AuthDecision {
        var memo: CredentialMemo?
        return evaluate(request, now: now, keys: keys, tokens: &tokens, memo: &memo)
    }

    /// The same, and on an allow by a bearer or JWT policy sets `memo` to what a later request on
    /// the same connection with the same `Authorization` value may reuse (see `CredentialMemo`).
    /// `memo` is left as it was otherwise, and nothing is memoized when `tokens` is disabled.
    public func evaluate(_ request: AuthRequest, now: Double, keys: (String) -> KeySetState,
                         tokens: inout VerifiedTokenCache, memo: inout CredentialMemo?) -> AuthDecision {
        if !admits(request.clientAddress) {
            return .deny(AuthDenial(status: 403, wwwAuthenticate: nil, body: "forbidden\n",
                                    reason: "client address \(CIDRText.format(request.clientAddress)) is not in policy \(name)'s ipAllow"))
        }
        switch mechanism {
        case nil:
            return .allow(grant(identity: nil, scopes: []))
        case .bearer(let credentials)?:
            let decision = evaluateBearer(request, credentials: credentials)
            // Static tokens do not expire; the memo still lasts only as long as a cached JWT would.
            if case .allow(let grant) = decision, tokens.capacity > 0 { memo = memoize(request, grant, expiry: now + tokens.ttl) }
            return decision
        case .basic(let users)?:
            return evaluateBasic(request, users: users)
        case .jwt(let settings)?:
            var expiry: Double?
            let decision = evaluateJWT(request, settings: settings, now: now, keys: keys, tokens: &tokens, expiry: &expiry)
            if case .allow(let grant) = decision, let expiry, tokens.capacity > 0 { memo = memoize(request, grant, expiry: expiry) }
            return decision
        case .forward(let settings)?:
            return .forward(forwardSubrequest(request, settings: settings))
        }
    }

    /// Whether the client address passes `ipAllow` (every address when it is empty).
    public func admits(_ clientAddress: [UInt8]) -> Bool {
        ipAllow.isEmpty || ipAllow.contains(where: { $0.contains(clientAddress) })
    }

    /// Whether `evaluate` reads header fields other than `Authorization` (forward auth passes some
    /// on to its server). When false the proxy may hand it only the `Authorization` fields and
    /// spare every guarded request a `String` per header.
    public var readsOtherHeaders: Bool {
        if case .forward? = mechanism { return true }
        return false
    }

    private func memoize(_ request: AuthRequest, _ grant: AuthGrant, expiry: Double) -> CredentialMemo? {
        guard case let fields = request.headers.filter({ $0.name == "authorization" }), fields.count == 1 else { return nil }
        return CredentialMemo(authorization: Array(fields[0].value.utf8), policy: fingerprint, host: request.host, grant: grant, expiry: expiry)
    }

    func grant(identity: String?, scopes: [String], extra: [HeaderField] = []) -> AuthGrant {
        var headers: [HeaderField] = []
        if let identity, !identity.isEmpty { headers.append(HeaderField(userHeader, identity)) }
        if identity != nil, !scopes.isEmpty { headers.append(HeaderField(scopesHeader, scopes.joined(separator: " "))) }
        return AuthGrant(identity: identity, scopes: scopes, upstreamHeaders: headers + extra)
    }

    /// The single `Authorization` field, split into scheme (lower-cased) and credentials
    /// (RFC 9110 §11.6.2, §11.4: `scheme 1*SP token68`).
    static func authorization(_ request: AuthRequest) -> Authorization {
        var found: String?
        for header in request.headers where header.name == "authorization" {
            guard found == nil else { return .malformed("several Authorization fields") }
            found = header.value
        }
        guard var value = found else { return .missing }
        // Byte-wise over the contiguous UTF-8 (a JWT is ~1 KiB and this runs on every guarded request).
        return value.withUTF8 { bytes -> Authorization in
            guard let space = bytes.firstIndex(of: UInt8(ascii: " ")) else { return .malformed("no credentials after the scheme") }
            var start = space
            while start < bytes.count, bytes[start] == UInt8(ascii: " ") { start += 1 }
            let credentials = UnsafeBufferPointer(rebasing: bytes[start...])
            let table = token68
            guard !credentials.isEmpty, credentials.allSatisfy({ table[Int($0)] }) else { return .malformed("credentials are not token68") }
            let scheme = String(decoding: UnsafeBufferPointer(rebasing: bytes[..<space]), as: UTF8.self).lowercased()
            return .present(scheme: scheme, credentials: Array(credentials))
        }
    }

    /// RFC 9110 §11.2 token68 characters, as a table: this runs on every guarded request.
    static let token68: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for byte in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=".utf8 { table[Int(byte)] = true }
        return table
    }()

    enum Authorization {
        case missing
        case malformed(String)
        case present(scheme: String, credentials: [UInt8])
    }
}

public struct AuthPolicyError: Error, Equatable, Sendable, CustomStringConvertible {
    public var policy: String
    public var reason: String
    public var description: String { "auth policy \"\(policy)\" \(reason)" }
}

enum Hex {
    static func decode(_ text: String) -> [UInt8]? {
        let bytes = Array(text.utf8)
        guard bytes.count % 2 == 0 else { return nil }
        func nibble(_ byte: UInt8) -> UInt8? {
            switch byte {
            case 0x30...0x39: byte - 0x30
            case 0x61...0x66: byte - 0x61 + 10
            case 0x41...0x46: byte - 0x41 + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            guard let high = nibble(bytes[index]), let low = nibble(bytes[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}

/// Address text for log lines.
enum CIDRText {
    static func format(_ bytes: [UInt8]) -> String {
        bytes.count == 4 || bytes.count == 16 ? String(CIDR(address: bytes, prefixLength: bytes.count * 8).description.split(separator: "/")[0]) : "?"
    }
}

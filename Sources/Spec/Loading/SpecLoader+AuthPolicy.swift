import Yams

extension SpecLoader {
    static let mechanismNames = ["bearer", "basic", "jwt", "forward"]

    static func decodeAuthPolicy(name: String, spec: Node, reader: NodeReader) -> AuthPolicy? {
        guard let fields = reader.mapping(spec, path: "spec", allowed: mechanismNames + ["ipAllow", "identityHeaders"]) else { return nil }
        let present = mechanismNames.filter { fields[$0] != nil }
        if present.count > 1 {
            reader.error("several-mechanisms", spec, "has several mechanisms (\(present.joined(separator: ", "))); a policy has exactly one",
                         hint: "split them into separate AuthPolicies")
            return nil
        }
        if present.isEmpty, fields["ipAllow"] == nil {
            reader.error("no-mechanism", spec, "has no mechanism",
                         hint: "add one of \(mechanismNames.joined(separator: ", ")), or an ipAllow list")
            return nil
        }
        let ipAllow = reader.sequence(fields["ipAllow"], path: "spec.ipAllow") { child, childPath -> String? in
            guard let text = reader.string(child, path: childPath) else { return nil }
            switch CIDR.parse(text) {
            case .success(let cidr): return cidr.description
            case .failure(.hostBitsSet(let suggestion)):
                reader.error("invalid-cidr", child, "\(childPath): \"\(text)\" has host bits set", hint: "did you mean \"\(suggestion)\"?")
            case .failure(.invalidPrefix):
                reader.error("invalid-cidr", child, "\(childPath): \"\(text)\" has an invalid prefix length")
            case .failure(.invalidAddress):
                reader.error("invalid-cidr", child, "\(childPath): \"\(text)\" is not an IP address or CIDR")
            }
            return nil
        }
        if let list = ipAllow, list.isEmpty {
            reader.error("empty-list", fields["ipAllow"], "spec.ipAllow is empty: it would refuse every client")
        }
        var mechanism: AuthPolicy.Mechanism?
        var failed = ipAllow == nil && fields["ipAllow"] != nil
        if let node = fields["bearer"] {
            if let tokens = decodeBearer(node, reader: reader) { mechanism = .bearer(tokens) } else { failed = true }
        } else if let node = fields["basic"] {
            if let users = decodeBasic(node, reader: reader) { mechanism = .basic(users) } else { failed = true }
        } else if let node = fields["jwt"] {
            if let jwt = decodeJWT(node, reader: reader) { mechanism = .jwt(jwt) } else { failed = true }
        } else if let node = fields["forward"] {
            if let forward = decodeForward(node, reader: reader) { mechanism = .forward(forward) } else { failed = true }
        }
        var identityHeaders: AuthPolicy.IdentityHeaders?
        if let node = fields["identityHeaders"] {
            if let headers = decodeIdentityHeaders(node, reader: reader) { identityHeaders = headers } else { failed = true }
        }
        return failed ? nil : AuthPolicy(name: name, mechanism: mechanism, ipAllow: ipAllow ?? [], identityHeaders: identityHeaders)
    }

    /// `identityHeaders: {user, scopes}`. Each name must be one the proxy can set without clashing
    /// with a header it manages, and the two in effect (defaults included) must differ: the proxy
    /// refuses a table where they do not.
    static func decodeIdentityHeaders(_ node: Node, reader: NodeReader) -> AuthPolicy.IdentityHeaders? {
        guard let fields = reader.mapping(node, path: "spec.identityHeaders", allowed: ["user", "scopes"]) else { return nil }
        if fields.isEmpty {
            reader.error("empty-list", node, "spec.identityHeaders names no header",
                         hint: "set user and/or scopes, or leave identityHeaders out for X-Auth-User and X-Auth-Scopes")
            return nil
        }
        var failed = false
        func name(_ key: String) -> String? {
            let path = "spec.identityHeaders.\(key)"
            guard let text = reader.string(fields[key], path: path) else {
                if fields[key] != nil { failed = true }
                return nil
            }
            if let problem = Formats.checkIdentityHeaderName(text) {
                let code = Formats.checkHeaderName(text) == nil ? "reserved-name" : "invalid-value"
                reader.error(code, fields[key], "\(path): \"\(text)\" \(problem)",
                             hint: code == "reserved-name" ? "pick a name of your own, such as X-Remote-User" : nil)
                failed = true
                return nil
            }
            return text
        }
        let headers = AuthPolicy.IdentityHeaders(user: name("user"), scopes: name("scopes"))
        if failed { return nil }
        if headers.effectiveUser.lowercased() == headers.effectiveScopes.lowercased() {
            reader.error("conflict", node, "spec.identityHeaders: user and scopes are both \"\(headers.effectiveUser)\"",
                         hint: "the identity and the scopes need a header each")
            return nil
        }
        return headers
    }

    private static func checkUnique(_ values: [String], what: String, node: Node?, reader: NodeReader) -> Bool {
        var seen = Set<String>()
        for value in values where !seen.insert(value).inserted {
            reader.error("duplicate-value", node, "\(what) \"\(value)\" appears twice")
            return false
        }
        return true
    }

    static func decodeBearer(_ node: Node, reader: NodeReader) -> [AuthPolicy.BearerToken]? {
        guard let fields = reader.mapping(node, path: "spec.bearer", allowed: ["tokens"], required: ["tokens"]) else { return nil }
        guard let tokens = reader.sequence(fields["tokens"], path: "spec.bearer.tokens", item: { child, path -> AuthPolicy.BearerToken? in
            guard let entry = reader.mapping(child, path: path, allowed: ["name", "sha256"], required: ["name", "sha256"]),
                  let name = reader.string(entry["name"], path: "\(path).name"),
                  let hash = reader.string(entry["sha256"], path: "\(path).sha256") else { return nil }
            if name.isEmpty || name.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7f }) {
                reader.error("invalid-value", entry["name"], "\(path).name must be non-empty, without spaces or control characters (it becomes X-Auth-User)")
                return nil
            }
            if let problem = Formats.checkSHA256(hash) {
                reader.error("invalid-hash", entry["sha256"], "\(path).sha256 \(problem)")
                return nil
            }
            return AuthPolicy.BearerToken(name: name, sha256: hash.lowercased())
        }) else { return nil }
        if tokens.isEmpty {
            reader.error("empty-list", fields["tokens"], "spec.bearer.tokens is empty: no request could pass")
            return nil
        }
        guard checkUnique(tokens.map(\.name), what: "token name", node: fields["tokens"], reader: reader),
              checkUnique(tokens.map(\.sha256), what: "token hash", node: fields["tokens"], reader: reader) else { return nil }
        return tokens
    }

    static func decodeBasic(_ node: Node, reader: NodeReader) -> [AuthPolicy.BasicUser]? {
        guard let fields = reader.mapping(node, path: "spec.basic", allowed: ["users"], required: ["users"]) else { return nil }
        guard let users = reader.sequence(fields["users"], path: "spec.basic.users", item: { child, path -> AuthPolicy.BasicUser? in
            guard let entry = reader.mapping(child, path: path, allowed: ["name", "bcrypt"], required: ["name", "bcrypt"]),
                  let name = reader.string(entry["name"], path: "\(path).name"),
                  let hash = reader.string(entry["bcrypt"], path: "\(path).bcrypt") else { return nil }
            if name.contains(":") || name.isEmpty {
                reader.error("invalid-value", entry["name"], "\(path).name must be non-empty and must not contain ':' (RFC 7617)")
                return nil
            }
            if let problem = Formats.checkBcrypt(hash) {
                reader.error("invalid-hash", entry["bcrypt"], "\(path).bcrypt \(problem)")
                return nil
            }
            // The proxy checks a password on every uncached request: a cost far above the usual
            // makes each check take seconds, and a handful of wrong passwords stalls the route.
            if let cost = Int(hash.dropFirst(4).prefix(2)), cost > Formats.maximumBcryptCost {
                let seconds = (15 << (cost - 10)) / 100  // ≈ 0.15 s at cost 10, doubling per step
                reader.error("bcrypt-cost", entry["bcrypt"],
                             "\(path).bcrypt has cost \(cost): each check would take about \(seconds < 100 ? "\(seconds) s" : "\(seconds / 60) min") on the proxy",
                             hint: "re-hash it with cost 10–\(Formats.maximumBcryptCost), e.g. `htpasswd -nbBC 12 \(name) PASSWORD`")
                return nil
            }
            return AuthPolicy.BasicUser(name: name, bcrypt: hash)
        }) else { return nil }
        if users.isEmpty {
            reader.error("empty-list", fields["users"], "spec.basic.users is empty: no request could pass")
            return nil
        }
        return checkUnique(users.map(\.name), what: "user", node: fields["users"], reader: reader) ? users : nil
    }

    static func decodeJWT(_ node: Node, reader: NodeReader) -> AuthPolicy.JWT? {
        guard let fields = reader.mapping(node, path: "spec.jwt", allowed: ["issuer", "audiences", "jwksURL", "requiredScopes"],
                                          required: ["issuer", "audiences", "jwksURL"]) else { return nil }
        let issuer = reader.string(fields["issuer"], path: "spec.jwt.issuer")
        if let issuer, issuer.isEmpty { reader.error("invalid-value", fields["issuer"], "spec.jwt.issuer must not be empty") }
        let audiences = reader.stringList(fields["audiences"], path: "spec.jwt.audiences")
        if let audiences, audiences.isEmpty || audiences.contains("") {
            reader.error("invalid-value", fields["audiences"], "spec.jwt.audiences must list at least one non-empty audience",
                         hint: "without an audience check a token minted for another service would be accepted")
        }
        let jwks = reader.string(fields["jwksURL"], path: "spec.jwt.jwksURL")
        var jwksValid = jwks != nil
        if let jwks {
            if let problem = Formats.checkHTTPURL(jwks) {
                reader.error("invalid-url", fields["jwksURL"], "spec.jwt.jwksURL \"\(jwks)\" \(problem)")
                jwksValid = false
            } else if !jwks.lowercased().hasPrefix("https://"), !Formats.isLoopbackURL(jwks) {
                reader.error("invalid-url", fields["jwksURL"], "spec.jwt.jwksURL must use https:// (plain http only for loopback addresses)",
                             hint: "keys fetched over plain http could be swapped by anyone on the path")
                jwksValid = false
            }
        }
        let scopes = fields["requiredScopes"].map { reader.stringList($0, path: "spec.jwt.requiredScopes") } ?? []
        if let scopes, scopes.contains(where: { $0.isEmpty || $0.contains(" ") }) {
            reader.error("invalid-value", fields["requiredScopes"], "spec.jwt.requiredScopes entries must be single non-empty scope tokens")
        }
        guard let issuer, !issuer.isEmpty, let audiences, !audiences.isEmpty, !audiences.contains(""), let jwks, jwksValid,
              let scopes, !scopes.contains(where: { $0.isEmpty || $0.contains(" ") }) else { return nil }
        return AuthPolicy.JWT(issuer: issuer, audiences: audiences, jwksURL: jwks, requiredScopes: scopes)
    }

    static func decodeForward(_ node: Node, reader: NodeReader) -> AuthPolicy.Forward? {
        guard let fields = reader.mapping(node, path: "spec.forward", allowed: ["url", "copyHeaders"], required: ["url"]) else { return nil }
        let url = reader.string(fields["url"], path: "spec.forward.url")
        if let url, let problem = Formats.checkHTTPURL(url) {
            reader.error("invalid-url", fields["url"], "spec.forward.url \"\(url)\" \(problem)")
            return nil
        }
        let headers = reader.sequence(fields["copyHeaders"], path: "spec.forward.copyHeaders") { child, path -> String? in
            guard let header = reader.string(child, path: path) else { return nil }
            if let problem = Formats.checkCopyableHeaderName(header) {
                let reserved = Formats.checkHeaderName(header) == nil
                reader.error(reserved ? "reserved-name" : "invalid-value", child, "\(path): \"\(header)\" \(problem)",
                             hint: reserved ? "leave it out; copy identity headers of the auth server's own, such as X-Auth-User" : nil)
                return nil
            }
            return header
        }
        guard let url, fields["copyHeaders"] == nil || headers != nil else { return nil }
        return AuthPolicy.Forward(url: url, copyHeaders: headers ?? [])
    }
}

import Crypto

extension CompiledAuthPolicy {
    /// Static bearer tokens: SHA-256 of the presented token against every configured hash, each
    /// comparison constant-time and all of them always made, so timing says nothing about which
    /// hash (or how much of one) matched.
    func evaluateBearer(_ request: AuthRequest, credentials: [BearerCredential]) -> AuthDecision {
        // Built only for a refusal: a passing request (the common case) never needs it.
        var realm: String { Challenge.quoted(request.host) }
        switch Self.authorization(request) {
        case .missing:
            return .deny(AuthDenial(status: 401, wwwAuthenticate: "Bearer realm=\(realm)", body: "authentication required\n",
                                    reason: "no Authorization header"))
        case .malformed(let why):
            return .deny(AuthDenial(status: 401, wwwAuthenticate: "Bearer realm=\(realm), error=\"invalid_request\"",
                                    body: "malformed Authorization header\n", reason: why, bearerError: .invalidRequest))
        case .present(let scheme, _) where scheme != "bearer":
            return .deny(AuthDenial(status: 401, wwwAuthenticate: "Bearer realm=\(realm)", body: "authentication required\n",
                                    reason: "Authorization scheme \(scheme) is not Bearer"))
        case .present(_, let token):
            let digest = Array(Crypto.SHA256.hash(data: token))
            var matched: String?
            for credential in credentials where ConstantTime.equals(digest, credential.sha256) {
                matched = credential.name
            }
            guard let matched else {
                return .deny(AuthDenial(status: 401, wwwAuthenticate: "Bearer realm=\(realm), error=\"invalid_token\"",
                                        body: "invalid token\n", reason: "token matches none of policy \(name)'s hashes",
                                        bearerError: .invalidToken))
            }
            return .allow(grant(identity: matched, scopes: []))
        }
    }
}

/// Building `WWW-Authenticate` values (RFC 9110 §11.6.1, RFC 6750 §3).
enum Challenge {
    /// A quoted-string; characters that cannot appear in one (controls) are dropped, `"` and `\`
    /// escaped, so a hostile Host cannot inject header syntax.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7f || scalar.value > 0x7e { continue }
            if scalar == "\"" || scalar == "\\" { out += "\\" }
            out.unicodeScalars.append(scalar)
        }
        return out + "\""
    }
}

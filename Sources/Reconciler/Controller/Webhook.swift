import Spec

/// Checks that a push notification really comes from the git host: GitHub-style
/// `X-Hub-Signature-256: sha256=<hex HMAC of the body>`, Gitea/Gogs `X-Gitea-Signature` /
/// `X-Gogs-Signature` (hex HMAC), or GitLab's `X-Gitlab-Token` (the shared secret itself).
/// Every comparison is constant-time; every header that is present must be right.
public struct WebhookVerifier: Sendable {
    public enum Verdict: Sendable, Equatable {
        case accepted(scheme: String)
        case rejected(reason: String)
    }

    private let secret: [UInt8]

    /// `secret` is the shared secret as configured on the git host (surrounding whitespace ignored).
    public init?(secret: [UInt8]) {
        var bytes = secret[...]
        while let last = bytes.last, last == 0x0a || last == 0x0d || last == 0x20 || last == 0x09 { bytes = bytes.dropLast() }
        while let first = bytes.first, first == 0x20 || first == 0x09 { bytes = bytes.dropFirst() }
        guard !bytes.isEmpty else { return nil }
        self.secret = Array(bytes)
    }

    /// `headers` with lower-case names.
    public func verify(headers: [(name: String, value: String)], body: [UInt8]) -> Verdict {
        func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }
        let expected = HMACSHA256.authenticationCode(key: secret, message: body)
        var schemes: [String] = []
        if let value = header("x-hub-signature-256") {
            guard value.hasPrefix("sha256="), let given = Self.decodeHex(String(value.dropFirst(7))),
                  constantTimeEqual(given, expected) else { return .rejected(reason: "X-Hub-Signature-256 does not match the body") }
            schemes.append("hub-signature-256")
        }
        for name in ["x-gitea-signature", "x-gogs-signature"] {
            guard let value = header(name) else { continue }
            guard let given = Self.decodeHex(value), constantTimeEqual(given, expected) else {
                return .rejected(reason: "\(name) does not match the body")
            }
            schemes.append(name.dropFirst(2).description)
        }
        if let token = header("x-gitlab-token") {
            // Hash both sides first so the comparison's time does not depend on the secret's length.
            var a = SHA256(), b = SHA256()
            a.update(Array(token.utf8))
            b.update(secret)
            guard constantTimeEqual(a.finalize(), b.finalize()) else { return .rejected(reason: "X-Gitlab-Token is wrong") }
            schemes.append("gitlab-token")
        }
        guard !schemes.isEmpty else {
            return .rejected(reason: "unsigned: send X-Hub-Signature-256 (GitHub, Gitea, Forgejo), X-Gitea-Signature or X-Gitlab-Token")
        }
        return .accepted(scheme: schemes.joined(separator: "+"))
    }

    static func decodeHex(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count == 64 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(32)
        var index = 0
        while index < digits.count {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The ref a push event names (`"ref": "refs/heads/main"`), nil when the body has none
    /// (a ping, or a host that sends no payload).
    public static func pushedRef(in body: [UInt8]) -> String? {
        guard let json = try? JSONValue.parse(bytes: body) else { return nil }
        return json["ref"]?.stringValue
    }

    /// Whether a push to `pushed` concerns a controller watching `watched` (nil: the default branch,
    /// which the payload alone cannot tell, so every push counts).
    public static func concerns(pushed: String?, watched: String?) -> Bool {
        guard let pushed, let watched else { return true }
        return pushed == watched || pushed == "refs/heads/" + watched || pushed == "refs/tags/" + watched
    }
}

import Foundation

/// Go-style durations as written in the YAML (`500ms`, `10s`, `1m30s`, `2h`), held as milliseconds.
public enum Duration {
    /// Parses a duration into milliseconds; nil when malformed, negative or over a day.
    public static func parseMilliseconds(_ text: String) -> Int? {
        var total = 0.0
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isASCII && $0.isLetter }
            rest = rest.dropFirst(unit.count)
            switch unit {
            case "ms": total += value
            case "s": total += value * 1_000
            case "m": total += value * 60_000
            case "h": total += value * 3_600_000
            default: return nil
            }
        }
        guard total <= 86_400_000 else { return nil }
        return Int(total.rounded())
    }

    /// The shortest exact form: `1500ms`, `10s`, `2m`, `1h`.
    public static func format(milliseconds: Int) -> String {
        if milliseconds % 3_600_000 == 0, milliseconds > 0 { return "\(milliseconds / 3_600_000)h" }
        if milliseconds % 60_000 == 0, milliseconds > 0 { return "\(milliseconds / 60_000)m" }
        if milliseconds % 1_000 == 0 { return "\(milliseconds / 1_000)s" }
        return "\(milliseconds)ms"
    }
}

/// Memory sizes (`512Mi`, `1G`, `1048576`) and CPU counts (`0.5`, `2`).
public enum Quantity {
    public static func parseBytes(_ text: String) -> Int? {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let value = Int(digits) else { return nil }
        let multiplier: Int
        switch text.dropFirst(digits.count) {
        case "": multiplier = 1
        case "k", "K": multiplier = 1_000
        case "Ki": multiplier = 1 << 10
        case "M": multiplier = 1_000_000
        case "Mi": multiplier = 1 << 20
        case "G": multiplier = 1_000_000_000
        case "Gi": multiplier = 1 << 30
        default: return nil
        }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }

    /// `0.5` → 500; at most three decimals; positive and at most 1024 CPUs.
    public static func parseMilliCPUs(_ text: String) -> Int? {
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
              text.filter({ $0 == "." }).count <= 1 else { return nil }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts[0].count <= 5, let whole = Int(parts[0].isEmpty ? "0" : parts[0]), whole <= 1024 else { return nil }
        var milli = whole * 1000
        if parts.count == 2 {
            let fraction = parts[1]
            guard !fraction.isEmpty, fraction.count <= 3, let value = Int(fraction) else { return nil }
            milli += value * [100, 10, 1][fraction.count - 1]
        }
        guard milli > 0, milli <= 1_024_000 else { return nil }
        return milli
    }

    public static func formatMilliCPUs(_ milli: Int) -> String {
        if milli % 1000 == 0 { return String(milli / 1000) }
        var fraction = String(milli % 1000)
        fraction = String(repeating: "0", count: 3 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(milli / 1000).\(fraction)"
    }
}

/// Syntax checks for the values the YAML format holds. Each returns nil when the value is fine, or
/// a message saying what is wrong with it.
public enum Formats {
    /// `metadata.name`: an RFC 1123 label (lower-case letters, digits, `-`, at most 63).
    public static func checkName(_ name: String) -> String? {
        if name.isEmpty { return "must not be empty" }
        if name.utf8.count > 63 { return "is \(name.utf8.count) characters long; at most 63 are allowed" }
        guard name.utf8.allSatisfy({ isLowerAlnum($0) || $0 == UInt8(ascii: "-") }) else {
            return "may hold only lower-case letters, digits and '-'"
        }
        if name.hasPrefix("-") || name.hasSuffix("-") { return "must start and end with a letter or digit" }
        return nil
    }

    /// A hostname per RFC 1123 (already lower-cased), optionally `*.` + at least two labels.
    public static func checkHostname(_ host: String, allowWildcard: Bool) -> String? {
        var labels = host.split(separator: ".", omittingEmptySubsequences: false)
        if host.isEmpty { return "must not be empty" }
        if host.utf8.count > 253 { return "is longer than 253 characters" }
        if labels.first == "*" {
            guard allowWildcard else { return "wildcards are not allowed here" }
            labels.removeFirst()
            if labels.count < 2 { return "a wildcard must be followed by at least two labels (`*.example.com`)" }
        }
        for label in labels {
            if label.isEmpty { return "has an empty label" }
            if label.contains("*") { return "a wildcard may only be the whole leftmost label (`*.example.com`)" }
            if label.utf8.count > 63 { return "has a label longer than 63 characters" }
            guard label.utf8.allSatisfy({ isLowerAlnum($0) || $0 == UInt8(ascii: "-") }) else {
                return "may hold only letters, digits, '-' and '.'"
            }
            if label.hasPrefix("-") || label.hasSuffix("-") { return "has a label that starts or ends with '-'" }
        }
        return nil
    }

    /// Lower-cases and drops one trailing dot, the form hosts are compared in.
    public static func normalizeHost(_ host: String) -> String {
        var value = host.lowercased()
        if value.hasSuffix("."), value.count > 1 { value.removeLast() }
        return value
    }

    /// A path for `prefix`/`exact` routes and health checks: absolute, no query, fragment, spaces
    /// or dot segments (the proxy matches normalized paths, so such a route could never match).
    public static func checkPath(_ path: String) -> String? {
        guard path.hasPrefix("/") else { return "must start with '/'" }
        if path.contains("?") || path.contains("#") { return "must not contain a query or fragment" }
        if path.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7f }) { return "must not contain spaces or control characters" }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        if segments.contains(where: { $0 == "." || $0 == ".." }) { return "must not contain '.' or '..' segments" }
        if path.contains("//") { return "must not contain empty segments ('//')" }
        return nil
    }

    /// A regular expression the data plane can compile.
    public static func checkRegex(_ pattern: String) -> String? {
        if pattern.isEmpty { return "must not be empty" }
        do {
            _ = try Regex(pattern)
            return nil
        } catch {
            return "is not a valid regular expression (\(error))"
        }
    }

    /// An absolute http(s) URL with a host and no fragment or credentials.
    public static func checkHTTPURL(_ text: String) -> String? {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            return "is not a valid URL"
        }
        guard scheme == "http" || scheme == "https" else { return "must use http:// or https://, not \(scheme)://" }
        guard let host = components.host, !host.isEmpty else { return "has no host" }
        if components.user != nil || components.password != nil { return "must not carry credentials" }
        if components.fragment != nil { return "must not have a fragment" }
        if let port = components.port, !(1...65535).contains(port) { return "has an invalid port" }
        return nil
    }

    /// A plain `local@domain` address (what ACME accepts as a `mailto:` contact): no spaces,
    /// no display name, a hostname after the `@`.
    public static func checkEmail(_ text: String) -> String? {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return "is not an email address (expected local@domain)" }
        if text.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" || $0 == "," || $0 == ":" }) {
            return "must be a bare address without spaces, commas or a display name"
        }
        if checkHostname(normalizeHost(String(parts[1])), allowWildcard: false) != nil { return "does not end in a valid domain name" }
        return nil
    }

    /// True when a URL's host is a loopback address or `localhost`.
    public static func isLoopbackURL(_ text: String) -> Bool {
        guard var host = URLComponents(string: text)?.host?.lowercased() else { return false }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "localhost" { return true }
        guard let address = CIDR.parseAddress(host) else { return false }
        if address.count == 4 { return address[0] == 127 }
        return address == [UInt8](repeating: 0, count: 15) + [1]
    }

    public static func checkSHA256(_ text: String) -> String? {
        guard text.utf8.count == 64, text.utf8.allSatisfy(isHex) else {
            return "must be 64 hexadecimal digits (the SHA-256 of the token, e.g. `printf %s \"$TOKEN\" | sha256sum`)"
        }
        return nil
    }

    /// The highest bcrypt cost a Basic policy may use (about 2.4 s per check on one core here).
    public static let maximumBcryptCost = 14

    /// `$2a$`, `$2b$` or `$2y$`, a two-digit cost from 04 to 31, and 53 characters of bcrypt base64.
    public static func checkBcrypt(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        let valid = bytes.count == 60 && text.hasPrefix("$2") && [UInt8(ascii: "a"), UInt8(ascii: "b"), UInt8(ascii: "y")].contains(bytes[2])
            && bytes[3] == UInt8(ascii: "$") && bytes[6] == UInt8(ascii: "$")
            && bytes[4..<6].allSatisfy({ (0x30...0x39).contains($0) })
            && Int(String(decoding: bytes[4..<6], as: UTF8.self)).map({ (4...31).contains($0) }) == true
            && bytes[7...].allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "/") })
        return valid ? nil : "must be a bcrypt hash (`$2b$12$` + 53 characters, e.g. from `htpasswd -nbBC 12 user password`)"
    }

    /// An environment variable name.
    public static func checkEnvName(_ name: String) -> String? {
        guard let first = name.utf8.first, first == UInt8(ascii: "_") || isAlpha(first),
              name.utf8.allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: "_") }) else {
            return "must be letters, digits and '_', not starting with a digit"
        }
        return nil
    }

    /// An HTTP header field name (RFC 9110 token).
    public static func checkHeaderName(_ name: String) -> String? {
        let extra = Array("!#$%&'*+-.^_`|~".utf8)
        guard !name.isEmpty, name.utf8.allSatisfy({ isAlnum($0) || extra.contains($0) }) else {
            return "is not a valid header name"
        }
        return nil
    }

    /// Names an identity header may not take: the proxy sets or forwards these itself (Host, the
    /// `X-Forwarded-*` family, X-Real-IP, X-Request-Id), they carry the client's credentials
    /// (Authorization, Cookie), or they are hop-by-hop or framing (RFC 9110 §7.6.1, §8.6, RFC 9112
    /// §6.1), where a value the proxy adds would be dropped or could change how the upstream reads
    /// the request body.
    public static let reservedIdentityHeaders: Set<String> = [
        "host", "authorization", "proxy-authorization", "cookie", "connection", "keep-alive", "proxy-connection",
        "proxy-authenticate", "te", "trailer", "transfer-encoding", "upgrade", "content-length",
        "forwarded", "x-real-ip", "x-client-ip", "true-client-ip", "x-original-forwarded-for", "x-request-id",
    ]

    /// A header name an auth policy may put the identity or scopes in: a valid name, not reserved.
    public static func checkIdentityHeaderName(_ name: String) -> String? {
        if let problem = checkHeaderName(name) { return problem }
        let lower = name.lowercased()
        if lower.hasPrefix("x-forwarded-") || reservedIdentityHeaders.contains(lower) {
            return "is reserved (the proxy sets or forwards it itself, or it is a credential, hop-by-hop or framing header)"
        }
        return nil
    }

    /// Header names a forward-auth server's answer may never set on the upstream request, so
    /// `copyHeaders` may not list them: framing and connection headers (a second `Content-Length`
    /// would let the auth server desynchronize the upstream connection), `Host`, and the
    /// forwarding headers the proxy itself writes. The proxy skips them even in a table that
    /// names them; the validator refuses them so the policy does not look like it copies them.
    public static let uncopyableForwardHeaders: Set<String> = [
        "host", "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection", "te", "trailer",
        "upgrade", "expect", "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip", "x-request-id",
    ]

    /// A header name `forward.copyHeaders` may list: a valid name the proxy lets an auth server set.
    public static func checkCopyableHeaderName(_ name: String) -> String? {
        if let problem = checkHeaderName(name) { return problem }
        if uncopyableForwardHeaders.contains(name.lowercased()) {
            return "cannot be copied from the auth server's answer (the proxy writes it itself, or it is a framing or hop-by-hop header)"
        }
        return nil
    }

    static func isHex(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte) || (0x41...0x46).contains(byte)
    }
    static func isAlpha(_ byte: UInt8) -> Bool { (0x61...0x7a).contains(byte) || (0x41...0x5a).contains(byte) }
    static func isAlnum(_ byte: UInt8) -> Bool { isAlpha(byte) || (0x30...0x39).contains(byte) }
    static func isLowerAlnum(_ byte: UInt8) -> Bool { (0x61...0x7a).contains(byte) || (0x30...0x39).contains(byte) }
}

/// A listener address as given on a command line: `ADDRESS:PORT`, `[IPv6]:PORT`, or `:PORT` (all
/// IPv4 interfaces).
public struct ListenAddress: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init?(_ text: String) {
        var host = text, port = ""
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            port = String(text[text.index(after: close)...].dropFirst())
        } else if let colon = text.lastIndex(of: ":") {
            host = String(text[..<colon])
            port = String(text[text.index(after: colon)...])
        } else {
            return nil
        }
        guard let number = Int(port), (0...65535).contains(number) else { return nil }
        self.host = host.isEmpty ? "0.0.0.0" : host
        self.port = number
    }
}

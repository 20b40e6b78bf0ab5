import Spec

/// An absolute `http`/`https` URL the proxy itself sends a request to (a JWKS, a forward-auth
/// server), split into what a client needs: scheme, host, port, request-target, `Host` value.
/// Parsed strictly from the route table's text, so the request that goes out is exactly the one
/// the policy names: no credentials (`user@`), no fragment, no spaces or control characters,
/// ASCII only.
public struct OutboundURL: Sendable, Equatable, CustomStringConvertible {
    public var isTLS: Bool
    /// Lower-case; an IPv6 literal without its brackets.
    public var host: String
    public var port: Int
    /// Path and query, starting with `/`.
    public var target: String
    /// What the `Host` header carries: the host (bracketed for IPv6), with the port unless it is
    /// the scheme's default.
    public var hostHeader: String

    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        // Printable ASCII only: whatever is sent must be what the policy's text says, byte for byte.
        guard !bytes.isEmpty, bytes.count <= 2048, bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { return nil }
        let lower = text.lowercased()
        let rest: Substring
        if lower.hasPrefix("https://") {
            isTLS = true
            rest = text.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            isTLS = false
            rest = text.dropFirst(7)
        } else {
            return nil
        }
        guard !rest.contains("#") else { return nil }
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        var target = String(rest.dropFirst(authority.count))
        if target.isEmpty { target = "/" } else if target.hasPrefix("?") { target = "/" + target }
        guard !authority.isEmpty, !authority.contains("@") else { return nil }

        var hostText: Substring, portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            hostText = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.isEmpty { portText = nil } else {
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            }
            guard let address = CIDR.parseAddress(String(hostText)), address.count == 16 else { return nil }
        } else {
            let parts = authority.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            hostText = parts[0]
            portText = parts.count > 1 ? parts[1] : nil
            let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789.-_".utf8)
            guard !hostText.isEmpty, hostText.utf8.count <= 253, hostText.lowercased().utf8.allSatisfy(allowed.contains) else { return nil }
        }
        let defaultPort = isTLS ? 443 : 80
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
                  let number = Int(portText), (1...65535).contains(number) else { return nil }
            port = number
        } else {
            port = defaultPort
        }
        host = hostText.lowercased()
        self.target = target
        let bracketed = host.contains(":") ? "[\(host)]" : host
        hostHeader = port == defaultPort ? bracketed : "\(bracketed):\(port)"
    }

    /// `localhost`, 127.0.0.0/8 or ::1: the only hosts a key set may be fetched from over plain
    /// HTTP (development and tests), since nothing on the way can alter what comes back.
    public var isLoopback: Bool {
        if host == "localhost" { return true }
        guard let address = CIDR.parseAddress(host) else { return false }
        if address.count == 4 { return address[0] == 127 }
        return address == [UInt8](repeating: 0, count: 15) + [1]
    }

    /// Whether `host` is an IP literal (TLS then sends no SNI name).
    public var isIPAddress: Bool { CIDR.parseAddress(host) != nil }

    /// A policy's `jwksURL` as the proxy may fetch it: https, or http to a loopback address.
    public static func keySet(_ text: String) -> Result<OutboundURL, JWKSFailure> {
        guard let url = OutboundURL(text) else { return .failure(JWKSFailure(reason: "jwksURL \"\(text)\" is not an http(s) URL the proxy can fetch")) }
        guard url.isTLS || url.isLoopback else {
            return .failure(JWKSFailure(reason: "jwksURL \"\(text)\" must use https (plain http only for loopback addresses)"))
        }
        return .success(url)
    }

    public var description: String { (isTLS ? "https://" : "http://") + hostHeader + target }
}

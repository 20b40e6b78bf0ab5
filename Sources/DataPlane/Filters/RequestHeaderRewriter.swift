import NIOHTTP1

/// Rewrites a client request's headers for the upstream. Pure: tested without sockets.
///
/// - Hop-by-hop headers (RFC 9110 §7.6.1) and every header named in `Connection` are dropped;
///   framing (`Content-Length` or `Transfer-Encoding: chunked`) is kept as the client sent it.
/// - Identity headers a client could forge are removed whatever the route: `X-Forwarded-*`,
///   `Forwarded`, `X-Real-IP`, and every `X-Auth-*`. The proxy then sets `X-Forwarded-For`,
///   `X-Real-IP`, `X-Forwarded-Proto` and `X-Forwarded-Host` from what it knows itself (the socket
///   or a trusted PROXY header), and `X-Request-Id` when the client sent none.
/// - `Host` is kept.
public enum RequestHeaderRewriter {
    static let hopByHop: Set<String> = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
                                        "proxy-authorization", "proxy-authenticate"]
    static let forged: Set<String> = ["forwarded", "x-real-ip", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
                                      "x-forwarded-port", "x-forwarded-prefix", "x-forwarded-server", "x-forwarded-ssl",
                                      "x-forwarded-scheme", "x-original-forwarded-for", "x-client-ip", "true-client-ip"]

    public struct Context: Sendable {
        public var clientAddress: String
        public var scheme: String
        public var requestID: String
        /// Keep `Connection: upgrade` + `Upgrade` (a WebSocket handshake).
        public var upgrade: Bool
        public init(clientAddress: String, scheme: String, requestID: String, upgrade: Bool) {
            self.clientAddress = clientAddress
            self.scheme = scheme
            self.requestID = requestID
            self.upgrade = upgrade
        }
    }

    /// Returns the headers to send upstream and the request id in effect.
    public static func rewrite(_ headers: HTTPHeaders, context: Context) -> (headers: HTTPHeaders, requestID: String) {
        var named = Set<String>()
        for value in headers[canonicalForm: "connection"] where !Self.isKnownConnectionToken(value) { named.insert(value.lowercased()) }
        var out = HTTPHeaders()
        out.reserveCapacity(headers.count + 6)
        var requestID: String?
        var host: String?
        for (name, value) in headers {
            let lower = Self.lowercase(name)
            if lower == "transfer-encoding" {
                // Only chunked framing reaches this point (the decoder refuses anything else).
                out.add(name: name, value: value)
                continue
            }
            if hopByHop.contains(lower) || named.contains(lower) || forged.contains(lower) || lower.hasPrefix("x-auth-") { continue }
            if lower == "x-request-id" {
                if requestID == nil, isSafeRequestID(value) { requestID = value; out.add(name: "X-Request-Id", value: value) }
                continue
            }
            if lower == "host" { host = host ?? value }
            out.add(name: name, value: value)
        }
        if context.upgrade, let upgrade = headers.first(name: "upgrade") {
            out.add(name: "Connection", value: "upgrade")
            out.add(name: "Upgrade", value: upgrade)
        }
        out.add(name: "X-Forwarded-For", value: context.clientAddress)
        out.add(name: "X-Real-IP", value: context.clientAddress)
        out.add(name: "X-Forwarded-Proto", value: context.scheme)
        if let host { out.add(name: "X-Forwarded-Host", value: host) }
        let id = requestID ?? context.requestID
        if requestID == nil { out.add(name: "X-Request-Id", value: id) }
        return (out, id)
    }

    /// `keep-alive`, `close` and `upgrade` name no header; skipping them saves a set insert.
    static func isKnownConnectionToken(_ value: Substring) -> Bool {
        value.utf8.count <= 10 && ["keep-alive", "close", "upgrade", "Keep-Alive", "Close", "Upgrade"].contains(value)
    }

    /// The name in lower case; allocates only when it has upper-case letters.
    @inline(__always) static func lowercase(_ name: String) -> String {
        name.utf8.contains(where: { (0x41...0x5a).contains($0) }) ? name.lowercased() : name
    }

    /// A client's request id is passed on only when it is short and printable.
    static func isSafeRequestID(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.count <= 128 && value.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f }
    }

    /// Headers of an upstream response as sent to the client: hop-by-hop headers removed
    /// (framing is redone by the response encoder).
    public static func rewriteResponse(_ headers: HTTPHeaders, keepUpgrade: Bool) -> HTTPHeaders {
        // Common case: no hop-by-hop header at all — pass the headers through untouched.
        if !headers.contains(where: { hopByHop.contains(lowercase($0.name)) }) { return headers }
        var named = Set<String>()
        for value in headers[canonicalForm: "connection"] where !Self.isKnownConnectionToken(value) { named.insert(value.lowercased()) }
        var out = HTTPHeaders()
        out.reserveCapacity(headers.count)
        for (name, value) in headers {
            let lower = Self.lowercase(name)
            if keepUpgrade && (lower == "upgrade" || lower == "connection") { out.add(name: name, value: value); continue }
            if hopByHop.contains(lower) || named.contains(lower) { continue }
            out.add(name: name, value: value)
        }
        return out
    }
}

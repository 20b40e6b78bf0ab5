import NIOCore
import Routing
import Spec

/// One request being proxied: what the client asked, where it goes, and how far it got. Owned by
/// the client connection's `ProxyHandler` and only touched on its event loop.
final class Exchange {
    /// `Strict-Transport-Security` to add to the response (HTTPS, Domain with HSTS).
    var hsts: String?
    let method: String
    /// The client's HTTP minor version (0 or 1).
    let clientMinorVersion: Int
    let host: String
    /// The path as logged (query values are dropped when it is logged).
    let logPath: LogPath
    let route: String
    let revision: String
    let requestID: RequestID
    let start: NIODeadline
    /// The request head for the upstream, as bytes: kept for a retry on a fresh connection until
    /// the response begins, then handed back to the connection for its next request head.
    var upstreamHead: ByteBuffer?
    let endpoints: [Endpoint]
    var attempt = 0
    let isUpgrade: Bool
    let clientKeepAlive: Bool
    /// The request carries a body (Content-Length > 0 or chunked).
    let hasBody: Bool

    /// Body bytes that arrived before the upstream connection.
    var buffered: [ByteBuffer] = []
    var requestEnded = false
    var upstream: Channel?
    var upstreamHandler: UpstreamHandler?
    var endpoint: Endpoint?
    /// The connection came from the keep-alive pool (a failure before any answer may be a stale
    /// connection the upstream closed; that is retried once on a fresh one).
    var reusedConnection = false
    var retriedStale = false
    var responseStatus: Int?
    var responseHeadSent = false
    var responseEnded = false
    var upstreamKeepAlive = true
    /// How the response body is framed towards the client.
    var responseBody = HeadWriter.ResponseBody.asIs
    /// The response's framing leaves the client connection unusable after it (close then).
    var closeAfterResponse = false
    var bytesIn = 0
    var bytesOut = 0

    init(method: String, clientMinorVersion: Int, host: String, logPath: LogPath, route: String, revision: String,
         requestID: RequestID, start: NIODeadline, upstreamHead: ByteBuffer, endpoints: [Endpoint], isUpgrade: Bool,
         clientKeepAlive: Bool, hasBody: Bool) {
        self.start = start
        self.method = method
        self.clientMinorVersion = clientMinorVersion
        self.host = host
        self.logPath = logPath
        self.route = route
        self.revision = revision
        self.requestID = requestID
        self.upstreamHead = upstreamHead
        self.endpoints = endpoints
        self.isUpgrade = isUpgrade
        self.clientKeepAlive = clientKeepAlive
        self.hasBody = hasBody
    }
}

/// Where a matched route sends its request.
struct UpstreamTarget {
    var endpoints: [Endpoint]
    /// Path prefix of a `url:` upstream (`http://h:p/base` → `/base`), empty otherwise.
    var basePath: String
    var label: String

    /// Resolves a route entry's upstream; nil with a reason when it cannot be served.
    struct Unservable: Error { var reason: String }

    static func resolve(_ upstream: RouteTableDocument.Upstream) -> Result<UpstreamTarget, Unservable> {
        switch upstream {
        case .instance(let name, let port, let endpoints):
            guard !endpoints.isEmpty else { return .failure(Unservable(reason: "instance \(name) has no endpoints for port \(port)")) }
            return .success(UpstreamTarget(endpoints: endpoints.map { Endpoint(host: $0.address, port: $0.port) }, basePath: "",
                                           label: "\(name):\(port)"))
        case .url(let url):
            guard let parsed = ParsedURL(url) else { return .failure(Unservable(reason: "upstream url \(url) cannot be parsed")) }
            guard parsed.scheme == "http" else { return .failure(Unservable(reason: "https upstreams are not supported by this build (\(url))")) }
            return .success(UpstreamTarget(endpoints: [Endpoint(host: parsed.host, port: parsed.port)], basePath: parsed.path, label: url))
        }
    }

    /// The path sent upstream: the matched (normalized) path, less the route prefix when
    /// `stripPrefix`, under the url's base path.
    static func upstreamPath(path: String, entry: RouteTableDocument.RouteEntry, basePath: String) -> String {
        var rest = path
        if entry.stripPrefix, entry.pathType == .prefix, entry.path != "/" {
            let prefix = entry.path.hasSuffix("/") ? String(entry.path.dropLast()) : entry.path
            rest = String(path.dropFirst(prefix.count))
            if rest.isEmpty || !rest.hasPrefix("/") { rest = "/" + rest }
        }
        guard !basePath.isEmpty, basePath != "/" else { return rest }
        let base = basePath.hasSuffix("/") ? String(basePath.dropLast()) : basePath
        return base + rest
    }
}

/// The parts of an http(s) URL the proxy needs, without Foundation.
struct ParsedURL {
    var scheme: String
    var host: String
    var port: Int
    var path: String

    init?(_ text: String) {
        guard let schemeEnd = text.range(of: "://") else { return nil }
        scheme = text[..<schemeEnd.lowerBound].lowercased()
        var rest = text[schemeEnd.upperBound...]
        let pathStart = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<pathStart]
        path = String(rest[pathStart...])
        rest = authority
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        let defaultPort = scheme == "https" ? 443 : 80
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            port = after.hasPrefix(":") ? Int(after.dropFirst()) ?? -1 : defaultPort
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            port = Int(authority[authority.index(after: colon)...]) ?? -1
        } else {
            host = String(authority)
            port = defaultPort
        }
        guard !host.isEmpty, (1...65535).contains(port) else { return nil }
    }
}

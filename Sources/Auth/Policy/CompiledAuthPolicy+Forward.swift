import Spec
extension CompiledAuthPolicy {
    /// Request headers passed to the auth server as they are: what it needs to recognise a
    /// session or a token. Everything else (bodies included) stays with the proxy.
    public static let forwardedRequestHeaders = ["authorization", "cookie", "accept", "user-agent"]

    /// Header names an auth server's answer is never allowed to set on the upstream request, even
    /// when a table's `copyHeaders` lists them (the validator refuses such policies; a table is
    /// still checked here, since the proxy trusts no table blindly).
    public static var uncopyableHeaders: Set<String> { Formats.uncopyableForwardHeaders }

    /// The subrequest (a GET to the policy's `url`, no body) describing the original request in
    /// `X-Forwarded-*` (traefik's forwardAuth convention). Values come from the proxy's view —
    /// method, target, host, scheme, real client address — never from the client's own
    /// `X-Forwarded-*` fields.
    func forwardSubrequest(_ request: AuthRequest, settings: ForwardSettings) -> ForwardSubrequest {
        var headers = [
            HeaderField("x-forwarded-method", request.method),
            HeaderField("x-forwarded-proto", request.scheme),
            HeaderField("x-forwarded-host", request.host),
            HeaderField("x-forwarded-uri", request.target),
            HeaderField("x-forwarded-for", request.clientAddressText ?? CIDRText.format(request.clientAddress)),
        ]
        for header in request.headers where Self.forwardedRequestHeaders.contains(header.name) {
            headers.append(HeaderField(header.name, header.value))
        }
        return ForwardSubrequest(policy: name, url: settings.url, outbound: settings.outbound, method: "GET", headers: headers)
    }

    /// Turns the auth server's answer into a verdict: 2xx allows, carrying the `copyHeaders` it
    /// sent (all their values, in its order); anything else goes back to the client as the auth
    /// server sent it (so login redirects and its own 401 pages work).
    public func forwardVerdict(status: Int, headers: [(name: String, value: String)]) -> ForwardVerdict {
        guard case .forward(let settings)? = mechanism else { return .returnToClient }
        guard (200...299).contains(status) else { return .returnToClient }
        var copied: [HeaderField] = []
        for header in headers {
            let name = header.name.lowercased()
            guard settings.copyHeaders.contains(name), !Self.uncopyableHeaders.contains(name) else { continue }
            // A value with CR/LF/NUL cannot be forwarded safely; drop it rather than fail the request.
            guard !header.value.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) else { continue }
            copied.append(HeaderField(name, header.value))
        }
        return .allow(AuthGrant(identity: nil, scopes: [], upstreamHeaders: copied))
    }

    /// When the subrequest could not be made or timed out: fail closed.
    public func forwardUnavailable(reason: String) -> AuthDenial {
        AuthDenial(status: 503, wwwAuthenticate: nil, body: "authentication is unavailable\n",
                   reason: "forward auth for policy \(name) failed: \(reason)")
    }
}

/// The subrequest forward auth needs. The proxy sends it (no body) and passes the answer to
/// `CompiledAuthPolicy.forwardVerdict(status:headers:)`.
public struct ForwardSubrequest: Sendable, Equatable {
    public var policy: String
    public var url: String
    /// `url` as parsed when the table was compiled; nil when it cannot be requested.
    public var outbound: OutboundURL?
    public var method: String
    /// Lower-case names.
    public var headers: [HeaderField]
}

public enum ForwardVerdict: Sendable, Equatable {
    case allow(AuthGrant)
    /// Send the auth server's status, headers (less hop-by-hop ones) and body to the client.
    case returnToClient
}

import Auth
import Foundation
import NIOCore
import Routing

/// The auth steps that wait on another server: a JWT whose issuer's keys must be fetched first,
/// and forward auth's subrequest. Both hold the request (as Basic auth does) and resume it on
/// this connection's event loop; neither blocks it.
extension ProxyHandler {
    /// Largest auth-server answer relayed to a client (a login page, a 401 page). A bigger one
    /// fails closed: half a page would be worse than none.
    static let maxRelayedBody = 256 * 1024

    // MARK: JWT: waiting for the issuer's keys

    /// Fetches the key set the decision asked for (or joins the fetch in flight), then decides
    /// again. A second `.needKeys` cannot happen after a completed fetch unless the store was
    /// emptied meanwhile; it fails closed like an unreachable issuer.
    func awaitKeys(_ needed: KeysNeeded, policy: CompiledAuthPolicy, request: AuthRequest, context: ChannelHandlerContext,
                   held: HeldRequest) {
        holdForAuth()
        let loop = context.eventLoop
        let loopBound = NIOLoopBound((self, held), eventLoop: loop)
        let services = self.services
        services.keySets.fetch(needed.jwksURL, unknownKey: needed.keyID != nil, on: loop).whenComplete { _ in
            let (handler, held) = loopBound.value
            let now = Date().timeIntervalSince1970
            let decision = policy.evaluate(request, now: now, keys: { services.keySets.state($0, now: now) },
                                           tokens: &services.tokenCache(for: loop).tokens)
            switch decision {
            case .allow(let grant):
                handler.resumeAfterAuth(.allow(grant.upstreamHeaders), held: held)
            case .deny(let denial):
                handler.resumeAfterAuth(.deny(denial), held: held)
            case .needKeys, .verifyBasic, .forward:
                handler.resumeAfterAuth(.deny(AuthDenial(
                    status: 503, wwwAuthenticate: nil, body: "authentication is unavailable: the token issuer's keys could not be fetched\n",
                    reason: "JWKS \(needed.jwksURL) still missing after a fetch")), held: held)
            }
        }
    }

    // MARK: Forward auth

    /// Sends the policy's subrequest; a 2xx answer forwards the request with the copied headers,
    /// any other answer goes back to the client as it is, and no answer (refused, timed out,
    /// too big) is a 503.
    func forwardAuth(_ subrequest: ForwardSubrequest, policy: CompiledAuthPolicy, context: ChannelHandlerContext, held: HeldRequest) {
        holdForAuth()
        let loop = context.eventLoop
        let loopBound = NIOLoopBound((self, held), eventLoop: loop)
        guard let url = subrequest.outbound else {
            // Answered on the next loop turn, once the request's end has been read like any other's.
            loop.execute {
                let (handler, held) = loopBound.value
                handler.resumeAfterAuth(.deny(policy.forwardUnavailable(reason: "url \(subrequest.url) cannot be requested")), held: held)
            }
            return
        }
        services.authClient.send(subrequest.method, url, headers: subrequest.headers.map { (name: $0.name, value: $0.value) },
                                 maxBody: Self.maxRelayedBody, timeout: services.configuration.authTimeout, reuse: true, on: loop)
            .whenComplete { result in
                let (handler, held) = loopBound.value
                switch result {
                case .success(let answer):
                    switch policy.forwardVerdict(status: answer.status, headers: answer.headers) {
                    case .allow(let grant):
                        handler.resumeAfterAuth(.allow(grant.upstreamHeaders), held: held)
                    case .returnToClient:
                        handler.resumeAfterAuth(.relay(answer), held: held)
                    }
                case .failure(let error):
                    handler.resumeAfterAuth(.deny(policy.forwardUnavailable(reason: "\(error)")), held: held)
                }
            }
    }

    // MARK: RFC 9728 protected-resource metadata

    /// The document for `GET /.well-known/oauth-protected-resource[/<path>]` on `host`, or nil
    /// when the host (or, for the path-suffixed form, the route of `<path>`) has no JWT policy —
    /// the request is then routed like any other.
    func protectedResourceMetadata(path: String, host: String, matcher: RouteMatcher) -> String? {
        let base = CompiledAuthPolicy.protectedResourceMetadataPath
        guard let policies = pool.policies, let tableHost = matcher.host(host)?.entry.host else { return nil }
        if path == base {
            return policies.protectedResourceMetadata(tableHost: tableHost, requestHost: host).map { String(decoding: $0, as: UTF8.self) }
        }
        // RFC 9728 §3.1: `/.well-known/oauth-protected-resource/mcp` describes `https://<host>/mcp`.
        let resourcePath = String(path.dropFirst(base.count))
        guard resourcePath.hasPrefix("/"), case .route(_, let route) = matcher.match(host: host, path: resourcePath, method: "GET"),
              let name = route.entry.auth, let policy = policies[name], policy.jwksURL != nil else { return nil }
        return ProtectedResourceMetadata.body(host: host, path: resourcePath, policies: [policy]).map { String(decoding: $0, as: UTF8.self) }
    }
}

import Auth
import Foundation
import NIOCore
import HTTPWire
import NIOHTTP1  // HTTPResponseStatus only
import Routing
import Spec

/// A guarded request whose auth decision needs slow or remote work (bcrypt, a JWKS fetch, a
/// forward-auth subrequest): what is needed to finish it once the answer is there.
struct HeldRequest {
    var route: String
    var host: String
    /// For the access log (query values are dropped when it is logged).
    var path: LogPath
    var method: String
    var hasBody: Bool
    var keepAlive: Bool
    /// Forwards the request upstream with the grant's header lines added.
    var forward: ([Auth.HeaderField]) -> Void
}

/// How a held request's auth ended.
enum AuthOutcome {
    case allow([Auth.HeaderField])
    case deny(AuthDenial)
    /// A forward-auth server's refusal, sent to the client as it came (login redirects, its own 401 pages).
    case relay(AuthHTTPResponse)
}

/// Auth on guarded routes: checks that cannot finish on the event loop at once hold the request
/// (its body bytes wait, reads pause) and resume it when they are done.
extension ProxyHandler {
    // MARK: Holding a request

    func holdForAuth() {
        authPending = true
        authHeldBody = []
        authRequestEnded = false
        pauseReads()
    }

    /// Finishes a held request: forwards it with what arrived meanwhile, or answers the client.
    func resumeAfterAuth(_ outcome: AuthOutcome, held: HeldRequest) {
        authPending = false
        guard let context, !closing else { return }
        // A refusal while the body is still arriving closes the connection (the rest of the body
        // cannot be skipped reliably).
        let close = requestOpen || !held.keepAlive
        switch outcome {
        case .allow(let grant):
            held.forward(grant)
            guard exchange != nil else { return }
            // What arrived meanwhile goes upstream as if it had arrived now: sent at once when a
            // pooled connection was attached synchronously above, buffered while one connects.
            let arrived = authHeldBody
            authHeldBody = []
            for buffer in arrived { process(.body(buffer), context: context) }
            if authRequestEnded { process(.end, context: context) }
            if !held.hasBody || authRequestEnded { resumeReads() }
        case .deny(let denial):
            authHeldBody = []
            respond(context, status: HTTPResponseStatus(statusCode: denial.status), body: denial.body, close: close,
                    route: held.route, host: held.host, path: held.path,
                    headers: denial.wwwAuthenticate.map { [("www-authenticate", $0)] } ?? [])
        case .relay(let answer):
            authHeldBody = []
            let response = HeadWriter.relayedResponse(status: answer.status, reason: answer.reason, headers: answer.headers,
                                                      body: answer.body, headOnly: held.method == "HEAD", close: close,
                                                      allocator: allocator)
            emit(context, response, status: answer.status, bodyBytes: answer.body.count, close: close,
                 route: held.route, host: held.host, path: held.path)
        }
    }

    // MARK: What a decision is made from

    /// The client address as bytes for auth decisions, parsed once per connection (and again only
    /// if a PROXY header changed it), not per request.
    /// This connection's `HeadWriter.forwardingLines`, rendered once (again if a PROXY header
    /// changed the client address).
    func forwardingLines() -> [UInt8] {
        if let rendered = renderedForwarding, rendered.address == clientAddress { return rendered.lines }
        let lines = HeadWriter.forwardingLines(clientAddress: clientAddress, scheme: isTLS ? "https" : "http")
        renderedForwarding = (clientAddress, lines)
        return lines
    }

    func clientAddressBytes() -> [UInt8]? {
        if let parsed = parsedClientAddress, parsed.text == clientAddress { return parsed.bytes }
        let bytes = CIDR.parseAddress(clientAddress)
        parsedClientAddress = (clientAddress, bytes)
        return bytes
    }

    /// Header fields as (lower-case name, value) strings, for an auth decision (only guarded routes
    /// pay this). `onlyAuthorization`: just the `Authorization` fields, for policies that read no
    /// others (`CompiledAuthPolicy.readsOtherHeaders`), sparing two `String`s per other header.
    static func headerList(_ head: RequestHead, bytes: ByteBuffer, onlyAuthorization: Bool = false) -> [(name: String, value: String)] {
        bytes.withUnsafeReadableBytes { raw in
            var list: [(name: String, value: String)] = []
            for field in head.fields {
                let name = UnsafeRawBufferPointer(rebasing: raw[field.name])
                if onlyAuthorization {
                    guard isAuthorization(name) else { continue }
                    list.append((name: "authorization", value: String(decoding: raw[field.value], as: UTF8.self)))
                } else {
                    list.append((name: String(decoding: name, as: UTF8.self).lowercased(), value: String(decoding: raw[field.value], as: UTF8.self)))
                }
            }
            return list
        }
    }

    /// Calls `body` with the value of the request's `Authorization` field as received; nil when
    /// there is none or several (those requests take the full evaluation, which refuses them).
    static func withAuthorizationValue<T>(_ head: RequestHead, bytes: ByteBuffer, _ body: (UnsafeRawBufferPointer) -> T) -> T? {
        bytes.withUnsafeReadableBytes { raw -> T? in
            var found: Range<Int>?
            for field in head.fields where isAuthorization(UnsafeRawBufferPointer(rebasing: raw[field.name])) {
                guard found == nil else { return nil }
                found = field.value
            }
            guard let found else { return nil }
            return body(UnsafeRawBufferPointer(rebasing: raw[found]))
        }
    }

    static func isAuthorization(_ name: UnsafeRawBufferPointer) -> Bool {
        ASCII.equalsIgnoringCase(name, "authorization")
    }

    // MARK: Basic auth off the event loop

    func verifyBasic(_ job: BasicVerification, context: ChannelHandlerContext, held: HeldRequest) {
        holdForAuth()
        let loopBound = NIOLoopBound((self, held), eventLoop: context.eventLoop)
        let services = self.services
        services.threadPool.runIfActive(eventLoop: context.eventLoop) { job.verify() }.whenComplete { result in
            let (handler, held) = loopBound.value
            switch result {
            case .success(.allow(let grant)):
                services.credentialCache.withLockedValue { $0.insert(job.cacheKey, now: Date().timeIntervalSince1970) }
                handler.resumeAfterAuth(.allow(grant.upstreamHeaders), held: held)
            case .success(.deny(let denial)):
                handler.resumeAfterAuth(.deny(denial), held: held)
            case .success, .failure:
                handler.resumeAfterAuth(.deny(AuthDenial(status: 503, wwwAuthenticate: nil, body: "authentication could not be checked\n",
                                                         reason: "bcrypt did not run")), held: held)
            }
        }
    }

    /// The request passed (or needs no auth): resolve the upstream, write its head and connect.
    func forward(head: RequestHead, bytes: ByteBuffer, context: ChannelHandlerContext, method: String, host: String, path: String,
                         query: String?, logPath: LogPath, route: RouteMatcher.CompiledRoute, compiledHost: RouteMatcher.CompiledHost,
                         matcher: RouteMatcher, hasBody: Bool, keepAlive: Bool, remove: [String], grantLines: [UInt8]) {
        let target: UpstreamTarget
        switch pool.target(for: route, in: matcher) {
        case .success(let resolved): target = resolved
        case .failure(let problem):
            if hasBody || authRequestEnded || !requestOpen {
                return respond(context, status: .badGateway, body: problem.reason + "\n", close: hasBody || !keepAlive,
                               route: route.entry.route, host: host, path: logPath)
            }
            pendingLocal = LocalAnswer(.badGateway, problem.reason + "\n", close: !keepAlive, route: route.entry.route, host: host, path: logPath)
            return
        }
        let isUpgrade = head.isUpgrade
        var uri = UpstreamTarget.upstreamPath(path: path, entry: route.entry, basePath: target.basePath)
        if let query { uri += "?" + query }
        let services = self.services, pool = self.pool
        var rewrite = HeadWriter.RequestRewrite(
            method: method, uri: uri, forwarding: forwardingLines(), upgrade: isUpgrade)
        rewrite.remove = remove
        rewrite.addLines = grantLines
        var upstreamHead = spareRequestBuffer ?? allocator.buffer(capacity: 0)
        spareRequestBuffer = nil
        let requestID = HeadWriter.requestHead(head, bytes: bytes, rewrite: rewrite, into: &upstreamHead) {
            services.nextRequestID(on: pool)
        }
        let exchange = Exchange(method: method, clientMinorVersion: head.minorVersion, host: host, logPath: logPath, route: route.entry.route,
                                revision: matcher.document.revision, requestID: requestID, start: eventNow, upstreamHead: upstreamHead,
                                endpoints: pool.order(target.endpoints, key: route.entry.route), isUpgrade: isUpgrade,
                                clientKeepAlive: keepAlive, hasBody: hasBody)
        if isTLS { exchange.hsts = compiledHost.entry.hsts }
        self.exchange = exchange
        // Only a body needs holding back until the upstream is there; toggling read interest for
        // every request would cost two epoll_ctl calls each.
        if hasBody { pauseReads() }
        connect(exchange)
    }

}

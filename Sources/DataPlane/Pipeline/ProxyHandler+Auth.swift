import Auth
import Foundation
import NIOCore
import HTTPWire
import NIOHTTP1  // HTTPResponseStatus only
import Routing
import Spec

/// Auth on guarded routes: Basic credentials checked off the event loop, then forwarding.
extension ProxyHandler {
    // MARK: Basic auth off the event loop


    func verifyBasic(_ job: BasicVerification, context: ChannelHandlerContext, route: String, host: String, path: String,
                             hasBody: Bool, keepAlive: Bool, then forward: @escaping ([(name: String, value: String)]) -> Void) {
        authPending = true
        authHeldBody = []
        authRequestEnded = false
        pauseReads()
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let services = self.services
        services.threadPool.runIfActive(eventLoop: context.eventLoop) { job.verify() }.whenComplete { result in
            let handler = loopBound.value
            handler.authPending = false
            guard let context = handler.context, !handler.closing else { return }
            switch result {
            case .success(.allow(let grant)):
                services.credentialCache.withLockedValue { $0.insert(job.cacheKey, now: Date().timeIntervalSince1970) }
                forward(grant.upstreamHeaders.map { (name: $0.name, value: $0.value) })
                guard let exchange = handler.exchange else { return }
                // What arrived meanwhile goes upstream with the rest.
                for buffer in handler.authHeldBody {
                    exchange.bytesIn += buffer.readableBytes
                    exchange.buffered.append(buffer)
                }
                handler.authHeldBody = []
                if handler.authRequestEnded { exchange.requestEnded = true }
                if !hasBody || handler.authRequestEnded { handler.resumeReads() }
            case .success(.deny(let denial)):
                handler.authHeldBody = []
                let close = handler.requestOpen || !keepAlive
                handler.respond(context, status: HTTPResponseStatus(statusCode: denial.status), body: denial.body, close: close,
                                route: route, host: host, path: path, headers: denial.wwwAuthenticate.map { [("www-authenticate", $0)] } ?? [])
            case .success, .failure:
                handler.authHeldBody = []
                handler.respond(context, status: .serviceUnavailable, body: "authentication could not be checked\n", close: true,
                                route: route, host: host, path: path)
            }
        }
    }

    /// The request passed (or needs no auth): resolve the upstream, write its head and connect.
    func forward(head: RequestHead, bytes: ByteBuffer, context: ChannelHandlerContext, method: String, host: String, path: String,
                         query: String?, logPath: String, entry: RouteTableDocument.RouteEntry, hostEntry: RouteTableDocument.HostEntry,
                         matcher: RouteMatcher, hasBody: Bool, keepAlive: Bool, remove: [String], grant: [(name: String, value: String)]) {
        let target: UpstreamTarget
        switch pool.target(for: entry.upstream) {
        case .success(let resolved): target = resolved
        case .failure(let problem):
            if hasBody || authRequestEnded || !requestOpen {
                return respond(context, status: .badGateway, body: problem.reason + "\n", close: hasBody || !keepAlive,
                               route: entry.route, host: host, path: logPath)
            }
            pendingLocal = (.badGateway, problem.reason + "\n", !keepAlive, entry.route, host, logPath)
            return
        }
        let isUpgrade = head.isUpgrade
        var uri = UpstreamTarget.upstreamPath(path: path, entry: entry, basePath: target.basePath)
        if let query { uri += "?" + query }
        let services = self.services, pool = self.pool
        var rewrite = HeadWriter.RequestRewrite(
            method: method, uri: uri, clientAddress: clientAddress, scheme: isTLS ? "https" : "http", upgrade: isUpgrade,
            makeRequestID: { services.nextRequestID(on: pool) })
        rewrite.remove = remove
        rewrite.add = grant
        let (upstreamHead, requestID) = HeadWriter.requestHead(head, bytes: bytes, rewrite: rewrite, allocator: context.channel.allocator)
        let exchange = Exchange(method: method, clientMinorVersion: head.minorVersion, host: host, logPath: logPath, route: entry.route,
                                revision: matcher.document.revision, requestID: requestID, upstreamHead: upstreamHead,
                                endpoints: pool.order(target.endpoints, key: entry.route), isUpgrade: isUpgrade,
                                clientKeepAlive: keepAlive, hasBody: hasBody)
        if isTLS { exchange.hsts = hostEntry.hsts }
        self.exchange = exchange
        // Only a body needs holding back until the upstream is there; toggling read interest for
        // every request would cost two epoll_ctl calls each.
        if hasBody { pauseReads() }
        connect(exchange)
    }

}

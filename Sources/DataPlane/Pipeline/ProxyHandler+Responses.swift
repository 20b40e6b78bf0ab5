import NIOCore
import NIOHTTP1  // HTTPResponseStatus only

/// Responses the proxy makes itself (errors, refusals, local answers), and the one place a
/// finished request is counted and logged.
extension ProxyHandler {
    func respondAndClose(_ context: ChannelHandlerContext, status: HTTPResponseStatus, body: String) {
        closing = true
        respond(context, status: status, body: body, close: true, route: "-", host: "-", path: "-")
    }

    func respond(_ context: ChannelHandlerContext, status: HTTPResponseStatus, body: String, close: Bool,
                         route: String, host: String, path: LogPath, exchange: Exchange? = nil, headers: [(String, String)] = []) {
        let response = HeadWriter.localResponse(status: Int(status.code), reason: status.reasonPhrase, body: body, close: close,
                                                headers: headers, allocator: allocator)
        emit(context, response, status: Int(status.code), bodyBytes: body.utf8.count, close: close, route: route, host: host,
             path: path, exchange: exchange)
    }

    /// Writes a whole response the proxy made (or relays from an auth server), logs it, and
    /// either closes the connection after it or goes on with the next request.
    func emit(_ context: ChannelHandlerContext, _ response: ByteBuffer, status: Int, bodyBytes: Int, close: Bool,
              route: String, host: String, path: LogPath, exchange: Exchange? = nil) {
        if close {
            closing = true
            pauseReads()
        }
        let start = exchange?.start ?? eventNow
        if close {
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            let promise = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(response), promise: promise)
            promise.futureResult.whenComplete { _ in loopBound.value.context?.close(promise: nil) }
        } else {
            context.writeAndFlush(wrapOutboundOut(response), promise: nil)
            armTimer(services.configuration.idleTimeout, reason: .idle)
        }
        record(status: status, route: route, host: host, path: path, method: exchange?.method ?? "-",
               start: start, bytesIn: exchange?.bytesIn ?? 0, bytesOut: bodyBytes, upstream: exchange?.endpoint?.description ?? "-",
               revision: exchange?.revision ?? (services.currentMatcher(on: pool)?.document.revision ?? "-"), requestID: exchange?.requestID ?? "-")
        if !close { responseFinished() }
    }

    func finishLog(_ exchange: Exchange, status: Int) {
        record(status: status, route: exchange.route, host: exchange.host, path: exchange.logPath, method: exchange.method,
               start: exchange.start, bytesIn: exchange.bytesIn, bytesOut: exchange.bytesOut,
               upstream: exchange.endpoint?.description ?? "-", revision: exchange.revision, requestID: exchange.requestID)
    }

    /// One finished request: its metric and its access-log entry (one place makes both). The
    /// entry is encoded into this loop's batch at once, from the strings the request already has.
    func record(status: Int, route: String, host: String, path: LogPath, method: String, start: NIODeadline,
                        bytesIn: Int, bytesOut: Int, upstream: String, revision: String, requestID: RequestID) {
        let nanoseconds = (eventNow - start).nanoseconds
        pool.counters.requestFinished(route: route, status: status, seconds: Double(nanoseconds) / 1e9)
        pool.accessLog?.record(client: clientAddress, method: method, host: host, path: path, status: status, bytesIn: bytesIn,
                               bytesOut: bytesOut, durationMicroseconds: Int(nanoseconds / 1000), upstream: upstream, route: route,
                               revision: revision, requestID: requestID)
    }
}

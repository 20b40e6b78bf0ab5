import Foundation
import NIOCore
import NIOHTTP1
import Routing
import Spec

/// The per-connection proxy: reads requests from a client, matches them against the current
/// route table, and streams each to an upstream and the answer back, with backpressure both ways
/// (a side that cannot take more bytes pauses reads on the other). Runs entirely on the client
/// connection's event loop; upstream connections are opened on the same loop.
final class ProxyHandler: ChannelDuplexHandler, RemovableChannelHandler, UpstreamDelegate {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    let services: ProxyServices
    let pool: UpstreamPool
    /// The client's address: from the socket, or from a trusted PROXY protocol header.
    var clientAddress: String
    private var context: ChannelHandlerContext?
    private var exchange: Exchange?
    /// A response the proxy gives itself, sent once the request (without a body) has ended.
    private var pendingLocal: (status: HTTPResponseStatus, body: String, close: Bool, route: String, host: String, path: String)?
    private var readsPaused = false
    private var pendingRead = false
    private var timer: Scheduled<Void>?
    private var awaitingHead = false
    private var closing = false

    init(services: ProxyServices, pool: UpstreamPool, clientAddress: String) {
        self.services = services
        self.pool = pool
        self.clientAddress = clientAddress
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { connectionStarted(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        connectionStarted(context: context)
        context.fireChannelActive()
    }

    private var started = false
    private func connectionStarted(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        services.metrics.connectionOpened()
        armTimer(services.configuration.idleTimeout, reason: "idle")
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        deadline = nil
        if let exchange {
            // The client went away: cancel the upstream request.
            exchange.firstByteTimer?.cancel()
            exchange.upstream?.close(promise: nil)
            finishLog(exchange, status: exchange.responseStatus ?? 499)
            self.exchange = nil
        }
        if started { services.metrics.connectionClosed() }
        started = false
        context.fireChannelInactive()
    }

    /// Bytes arrived before a request head: the header timeout starts (slowloris defence).
    func bytesArrived() {
        guard exchange == nil, pendingLocal == nil, !awaitingHead else { return }
        awaitingHead = true
        armTimer(services.configuration.headerTimeout, reason: "header")
    }

    /// One connection timer, driven by a deadline: arming it per request only moves the deadline
    /// (no task is scheduled or cancelled on the hot path); the scheduled task re-arms itself
    /// when it fires before the deadline.
    private var deadline: NIODeadline?
    private var deadlineReason = "idle"
    private var timerDue: NIODeadline?

    private func armTimer(_ amount: TimeAmount, reason: String) {
        let due = NIODeadline.now() + amount
        deadline = due
        deadlineReason = reason
        if let timerDue, timerDue <= due { return }  // the pending task will re-arm itself
        schedule(at: due)
    }

    private func clearTimer() { deadline = nil }

    private func schedule(at due: NIODeadline) {
        guard let context else { return }
        timer?.cancel()
        timerDue = due
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: due) { loopBound.value.timerTick() }
    }

    private func timerTick() {
        timer = nil
        timerDue = nil
        guard let deadline else { return }
        if deadline > .now() { return schedule(at: deadline) }
        self.deadline = nil
        timerFired(reason: deadlineReason)
    }

    private func timerFired(reason: String) {
        guard let context, exchange == nil else { return }
        // A 408 cannot be written here: no request exists for it to answer (the HTTP pipeline
        // handler would refuse it), so a slow head simply loses its connection.
        if reason == "header" { services.metrics.upstreamError("client_header_timeout") }
        context.close(promise: nil)
    }

    // MARK: Client → proxy

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // After a response that closes the connection, nothing more from this client is routed:
        // a request smuggled behind a refused one must never reach an upstream.
        if closing { return }
        let part = unwrapInboundIn(data)
        // HTTP/1.1 pipelining: a request that arrives while the previous response is still being
        // sent waits here, in order, and reads pause until it is served (bounded memory).
        if !pipelined.isEmpty || (!requestOpen && responseOutstanding) {
            pipelined.append(part)
            pauseReads()
            return
        }
        process(part, context: context)
    }

    /// Parts of requests that arrived while an earlier response was in progress.
    private var pipelined = CircularBuffer<HTTPServerRequestPart>()
    /// Between a request's head and its end.
    private var requestOpen = false
    /// Between a request's head and the end of its response.
    private var responseOutstanding = false
    /// Close once the current response is done (server shutting down).
    private var closeAfterResponse = false

    /// The response in progress has been fully written: serve the next pipelined request, if any.
    private func responseFinished() {
        responseOutstanding = false
        guard let context else { return }
        if closeAfterResponse {
            closing = true
            context.close(promise: nil)
            return
        }
        while !pipelined.isEmpty, !closing, requestOpen || !responseOutstanding {
            process(pipelined.removeFirst(), context: context)
        }
        if pipelined.isEmpty, exchange == nil || exchange?.upstreamHandler != nil { resumeReads() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            // Graceful shutdown: idle connections close now, busy ones after their response.
            if responseOutstanding || requestOpen { closeAfterResponse = true } else { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func process(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            clearTimer()
            awaitingHead = false
            requestOpen = true
            responseOutstanding = true
            requestHead(head, context: context)
        case .body(let buffer):
            guard let exchange else { return }  // a local answer: the body is ignored
            exchange.bytesIn += buffer.readableBytes
            if let handler = exchange.upstreamHandler {
                handler.send(.body(.byteBuffer(buffer)))
                if let upstream = exchange.upstream, !upstream.isWritable { pauseReads() }
            } else {
                exchange.buffered.append(.body(buffer))
            }
        case .end(let trailers):
            requestOpen = false
            if let local = pendingLocal {
                pendingLocal = nil
                respond(context, status: local.status, body: local.body, close: local.close, route: local.route, host: local.host, path: local.path)
                return
            }
            guard let exchange else { return }
            exchange.requestEnded = true
            if let handler = exchange.upstreamHandler {
                handler.send(.end(trailers), flush: true)
                startFirstByteTimer(exchange)
            } else {
                exchange.buffered.append(.end(trailers))
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.upstreamHandler?.flush()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if readsPaused { pendingRead = true } else { context.read() }
    }

    private func pauseReads() { readsPaused = true }

    private func resumeReads() {
        guard readsPaused else { return }
        readsPaused = false
        if pendingRead, let context {
            pendingRead = false
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        exchange?.upstreamHandler?.setPaused(!context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let parserError = error as? HTTPParserError, !closing, !(exchange?.responseHeadSent ?? false) {
            // A malformed request (or body, e.g. a bad chunk size): cancel any upstream request
            // it started and answer 400 (431 for oversized headers), then close.
            if let exchange {
                exchange.firstByteTimer?.cancel()
                exchange.upstreamHandler?.delegate = nil
                exchange.upstream?.close(promise: nil)
                self.exchange = nil
                finishLog(exchange, status: 400)
            }
            pendingLocal = nil
            switch parserError {
            case .headerOverflow:
                respondAndClose(context, status: .requestHeaderFieldsTooLarge, body: "request header fields too large\n")
            default:
                respondAndClose(context, status: .badRequest, body: "malformed request (\(parserError))\n")
            }
            return
        }
        context.close(promise: nil)
    }

    // MARK: Routing a request

    private func requestHead(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let hasBody = Self.hasBody(head)
        let keepAlive = head.isKeepAlive
        func local(_ status: HTTPResponseStatus, _ body: String, route: String = "-", host: String = "-", path: String = "-") {
            // Answer at once if a body follows (and close, rather than read a body nobody wants);
            // otherwise once the request has ended.
            if hasBody {
                respond(context, status: status, body: body, close: true, route: route, host: host, path: path)
            } else {
                pendingLocal = (status, body, !keepAlive, route, host, path)
            }
        }
        // Request smuggling: only `chunked` framing, never together with Content-Length (the
        // decoder already refuses CL+TE and differing lengths).
        if head.headers.contains(name: "transfer-encoding"),
           head.headers[canonicalForm: "transfer-encoding"].map({ $0.lowercased() }) != ["chunked"] {
            return respond(context, status: .badRequest, body: "unsupported transfer-encoding\n", close: true, route: "-", host: "-", path: "-")
        }
        let hostHeaders = head.headers["host"]
        guard hostHeaders.count == 1, let rawHost = hostHeaders.first, RequestHost.isValid(rawHost) else {
            return respond(context, status: .badRequest, body: "exactly one valid Host header is required\n", close: true, route: "-", host: "-", path: "-")
        }
        let host = RequestHost.normalize(rawHost)
        let path: String, query: String?
        switch RequestPath.normalize(target: head.uri) {
        case .success(let result): (path, query) = result
        case .failure(let problem):
            return respond(context, status: .badRequest, body: "bad request target (\(problem))\n", close: true, route: "-", host: host, path: "-")
        }
        let logPath = AccessLogEntry.redactQuery(path: path, query: query)

        if path.hasPrefix("/.well-known/acme-challenge/"), head.method == .GET || head.method == .HEAD {
            return answerChallenge(token: path.dropFirst("/.well-known/acme-challenge/".count), context: context,
                                   host: host, path: logPath, keepAlive: keepAlive && !hasBody)
        }
        guard let matcher = services.table() else {
            return local(.serviceUnavailable, "no route table has been published yet\n", host: host, path: logPath)
        }
        let compiledRoute: RouteMatcher.CompiledRoute
        switch matcher.match(host: host, path: path, method: head.method.rawValue) {
        case .unknownHost: return local(.notFound, "unknown host\n", host: host, path: logPath)
        case .noRoute: return local(.notFound, "no route\n", host: host, path: logPath)
        case .route(_, let route): compiledRoute = route
        }
        let entry = compiledRoute.entry
        if entry.auth != nil {
            // Fails closed: a guarded route is never served unguarded, and this build does not
            // enforce auth policies yet.
            return local(.serviceUnavailable, "this route requires an auth policy that this proxy cannot enforce yet\n",
                         route: entry.route, host: host, path: logPath)
        }
        let target: UpstreamTarget
        switch pool.target(for: entry.upstream) {
        case .success(let resolved): target = resolved
        case .failure(let problem):
            return local(.badGateway, problem.reason + "\n", route: entry.route, host: host, path: logPath)
        }
        let isUpgrade = head.headers.contains(name: "upgrade")
            && head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
        let rewritten = RequestHeaderRewriter.rewrite(head.headers, context: .init(
            clientAddress: clientAddress, scheme: services.configuration.scheme, requestID: services.nextRequestID(on: pool), upgrade: isUpgrade))
        var uri = UpstreamTarget.upstreamPath(path: path, entry: entry, basePath: target.basePath)
        if let query { uri += "?" + query }
        var upstreamHead = HTTPRequestHead(version: .http1_1, method: head.method, uri: uri, headers: rewritten.headers)
        if !isUpgrade { upstreamHead.headers.replaceOrAdd(name: "connection", value: "keep-alive") }
        let exchange = Exchange(method: head.method, version: head.version, host: host, logPath: logPath, route: entry.route,
                                revision: matcher.document.revision, requestID: rewritten.requestID, upstreamHead: upstreamHead,
                                endpoints: pool.order(target.endpoints, key: entry.route), isUpgrade: isUpgrade,
                                clientKeepAlive: keepAlive, hasBody: hasBody)
        self.exchange = exchange
        // Only a body needs holding back until the upstream is there; toggling read interest for
        // every request would cost two epoll_ctl calls each.
        if hasBody { pauseReads() }
        connect(exchange)
    }

    static func hasBody(_ head: HTTPRequestHead) -> Bool {
        if head.headers.contains(name: "transfer-encoding") { return true }
        if let length = head.headers.first(name: "content-length"), let value = Int(length) { return value > 0 }
        return false
    }

    private func answerChallenge(token: Substring, context: ChannelHandlerContext, host: String, path: String, keepAlive: Bool) {
        guard ChallengeStore.isValidToken(token), let store = services.challenges else {
            pendingLocal = (.notFound, "no such challenge\n", !keepAlive, "acme-challenge", host, path)
            return
        }
        let tokenText = String(token)
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        services.threadPool.runIfActive(eventLoop: context.eventLoop) { try store.keyAuthorization(token: tokenText) }
            .whenComplete { result in
                let handler = loopBound.value
                let answer: (HTTPResponseStatus, String)
                switch result {
                case .success(let value?): answer = (.ok, value)
                case .success(nil): answer = (.notFound, "no such challenge\n")
                case .failure: answer = (.serviceUnavailable, "challenge store unavailable\n")
                }
                // The request (no body) may or may not have ended yet; answer when it has.
                handler.pendingLocal = (answer.0, answer.1, !keepAlive, "acme-challenge", host, path)
                handler.flushPendingLocalIfEnded()
            }
        challengeAwaitingEnd = true
    }

    private var challengeAwaitingEnd = false
    private func flushPendingLocalIfEnded() {
        // The request's end has normally been read already (no body); the response goes now.
        guard let context, let local = pendingLocal, challengeAwaitingEnd else { return }
        challengeAwaitingEnd = false
        pendingLocal = nil
        respond(context, status: local.status, body: local.body, close: local.close, route: local.route, host: local.host, path: local.path)
    }

    // MARK: Upstream connection

    private func connect(_ exchange: Exchange) {
        guard let context, exchange.attempt < exchange.endpoints.count else { return }
        let endpoint = exchange.endpoints[exchange.attempt]
        exchange.endpoint = endpoint
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        pool.checkout(endpoint).whenComplete { result in
            loopBound.value.connected(exchange, endpoint: endpoint, result: result)
        }
    }

    private func connected(_ exchange: Exchange, endpoint: Endpoint, result: Result<Channel, Error>) {
        guard let context, self.exchange === exchange else {
            if case .success(let channel) = result { channel.close(promise: nil) }
            return
        }
        switch result {
        case .success(let channel):
            guard let handler = try? channel.pipeline.syncOperations.handler(type: UpstreamHandler.self) else {
                channel.close(promise: nil)
                return fail(exchange, status: .badGateway, reason: "upstream pipeline")
            }
            exchange.reusedConnection = handler.hasServed
            handler.hasServed = true
            handler.delegate = self
            handler.setPaused(!context.channel.isWritable)
            exchange.upstream = channel
            exchange.upstreamHandler = handler
            handler.send(.head(exchange.upstreamHead))
            for part in exchange.buffered {
                switch part {
                case .body(let buffer): handler.send(.body(.byteBuffer(buffer)))
                case .end(let trailers): handler.send(.end(trailers))
                case .head: break
                }
            }
            handler.flush()
            exchange.buffered.removeAll()
            if exchange.requestEnded { startFirstByteTimer(exchange) }
            if channel.isWritable, readsPaused { resumeReads() }
        case .failure(let error):
            if Self.isTimeout(error) {
                services.metrics.upstreamError("connect_timeout")
                fail(exchange, status: .gatewayTimeout, reason: "connect timeout")
            } else {
                services.metrics.upstreamError("connect_refused")
                pool.markDown(endpoint)
                exchange.attempt += 1
                if exchange.attempt < exchange.endpoints.count {
                    connect(exchange)
                } else {
                    fail(exchange, status: .badGateway, reason: "upstream refused the connection")
                }
            }
        }
    }

    static func isTimeout(_ error: Error) -> Bool {
        if case ChannelError.connectTimeout = error { return true }
        return String(describing: error).lowercased().contains("timeout")
    }

    private func startFirstByteTimer(_ exchange: Exchange) {
        guard let context, exchange.responseStatus == nil, !exchange.isUpgrade else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        exchange.firstByteTimer = context.eventLoop.scheduleTask(in: services.configuration.firstByteTimeout) {
            let handler = loopBound.value
            guard handler.exchange === exchange, exchange.responseStatus == nil else { return }
            handler.services.metrics.upstreamError("first_byte_timeout")
            handler.fail(exchange, status: .gatewayTimeout, reason: "upstream did not answer in time")
        }
    }

    /// Ends an exchange that got no response head with a proxy-made error.
    private func fail(_ exchange: Exchange, status: HTTPResponseStatus, reason: String) {
        guard let context, self.exchange === exchange else { return }
        exchange.firstByteTimer?.cancel()
        if let upstream = exchange.upstream {
            exchange.upstreamHandler?.delegate = nil
            upstream.close(promise: nil)
        }
        self.exchange = nil
        resumeReads()
        if exchange.responseHeadSent {
            context.close(promise: nil)
            finishLog(exchange, status: exchange.responseStatus ?? Int(status.code))
            return
        }
        // The rest of an unsent request body cannot be resynchronized: close after answering.
        let close = !exchange.clientKeepAlive || !exchange.requestEnded
        respond(context, status: status, body: "\(reason)\n", close: close, route: exchange.route, host: exchange.host,
                path: exchange.logPath, exchange: exchange)
    }

    // MARK: Upstream → client

    func upstreamResponsePart(_ part: HTTPClientResponsePart) {
        guard let context, let exchange else { return }
        switch part {
        case .head(let head):
            exchange.firstByteTimer?.cancel()
            exchange.responseStatus = Int(head.status.code)
            if exchange.isUpgrade && head.status == .switchingProtocols {
                return startTunnel(head, exchange: exchange, context: context)
            }
            exchange.upstreamKeepAlive = head.isKeepAlive
            var headers = RequestHeaderRewriter.rewriteResponse(head.headers, keepUpgrade: false)
            if !exchange.clientKeepAlive { headers.replaceOrAdd(name: "connection", value: "close") }
            else if exchange.version == .http1_0 { headers.replaceOrAdd(name: "connection", value: "keep-alive") }
            let response = HTTPResponseHead(version: exchange.version, status: head.status, headers: headers)
            exchange.responseHeadSent = true
            context.write(wrapOutboundOut(.head(response)), promise: nil)
        case .body(let buffer):
            exchange.bytesOut += buffer.readableBytes
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            if !context.channel.isWritable { exchange.upstreamHandler?.setPaused(true) }
        case .end(let trailers):
            if exchange.isUpgrade && exchange.responseStatus == 101 { return }  // the 101's end: handled by the tunnel
            exchange.responseEnded = true
            // Book-keeping happens now, not when the write completes: with pipelining the next
            // request's head is delivered while this write is still in flight.
            let close = completed(exchange)
            if close {
                closing = true
                let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
                let promise = context.eventLoop.makePromise(of: Void.self)
                context.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: promise)
                promise.futureResult.whenComplete { _ in loopBound.value.context?.close(promise: nil) }
            } else {
                context.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: nil)
                armTimer(services.configuration.idleTimeout, reason: "idle")
                responseFinished()
            }
        }
    }

    func upstreamReadComplete() { context?.flush() }

    func upstreamWritabilityChanged(isWritable: Bool) {
        guard let exchange, !exchange.requestEnded else { return }
        if isWritable { resumeReads() } else { pauseReads() }
    }

    func upstreamClosed(error: Error?) {
        guard let exchange, !exchange.responseEnded else { return }
        exchange.upstream = nil
        exchange.upstreamHandler = nil
        if exchange.responseStatus == nil, exchange.reusedConnection, !exchange.retriedStale, exchange.bytesIn == 0,
           exchange.requestEnded || !exchange.hasBody {
            // A keep-alive connection the upstream closed just as it was reused: try a fresh one.
            exchange.retriedStale = true
            exchange.buffered = exchange.requestEnded ? [.end(nil)] : []
            connect(exchange)
            return
        }
        services.metrics.upstreamError(exchange.responseStatus == nil ? "reset_before_response" : "reset_during_response")
        fail(exchange, status: .badGateway, reason: "upstream closed the connection")
    }

    /// Releases or closes the upstream connection, logs, and says whether the client connection
    /// must close after this response.
    private func completed(_ exchange: Exchange) -> Bool {
        guard self.exchange === exchange else { return false }
        self.exchange = nil
        if let upstream = exchange.upstream, let handler = exchange.upstreamHandler, let endpoint = exchange.endpoint {
            if exchange.requestEnded && exchange.upstreamKeepAlive {
                pool.release(upstream, handler: handler, endpoint: endpoint)
            } else {
                handler.delegate = nil
                upstream.close(promise: nil)
            }
        }
        finishLog(exchange, status: exchange.responseStatus ?? 0)
        return !exchange.clientKeepAlive || !exchange.requestEnded
    }

    // MARK: WebSocket and other upgrades

    private func startTunnel(_ head: HTTPResponseHead, exchange: Exchange, context: ChannelHandlerContext) {
        guard let upstream = exchange.upstream else { return }
        let headers = RequestHeaderRewriter.rewriteResponse(head.headers, keepUpgrade: true)
        exchange.responseHeadSent = true
        // The encoder turns these into bytes right away, before it is removed below.
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: exchange.version, status: head.status, headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        finishLog(exchange, status: 101)
        self.exchange = nil
        closing = true  // nothing more is routed on this connection
        // Rebuild both pipelines once the upstream decoder has finished delivering this response
        // (its `.end` follows the head); bytes after the 101 stay in the decoder until then and
        // are forwarded when it is removed.
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let handler = loopBound.value
            guard let context = handler.context else { upstream.close(promise: nil); return }
            exchange.upstreamHandler?.delegate = nil
            do {
                let (clientGlue, upstreamGlue) = GlueHandler.pair()
                let server = upstream.pipeline.syncOperations
                try server.addHandler(upstreamGlue)
                try server.removeHTTPClientHandlers()
                let client = context.pipeline.syncOperations
                try client.addHandler(clientGlue)
                try client.removeHTTPServerHandlers()
                client.removeHandler(context: context, promise: nil)
            } catch {
                context.close(promise: nil)
                upstream.close(promise: nil)
            }
        }
    }

    // MARK: Responses the proxy makes itself

    private func respondAndClose(_ context: ChannelHandlerContext, status: HTTPResponseStatus, body: String) {
        closing = true
        respond(context, status: status, body: body, close: true, route: "-", host: "-", path: "-")
    }

    private func respond(_ context: ChannelHandlerContext, status: HTTPResponseStatus, body: String, close: Bool,
                         route: String, host: String, path: String, exchange: Exchange? = nil) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "text/plain; charset=utf-8")
        headers.add(name: "content-length", value: String(body.utf8.count))
        headers.add(name: "cache-control", value: "no-store")
        if close {
            headers.add(name: "connection", value: "close")
            closing = true
            pauseReads()
        }
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let start = exchange?.start ?? .now()
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: promise)
        if close {
            promise.futureResult.whenComplete { _ in loopBound.value.context?.close(promise: nil) }
        } else {
            armTimer(services.configuration.idleTimeout, reason: "idle")
        }
        record(status: Int(status.code), route: route, host: host, path: path, method: exchange?.method.rawValue ?? "-",
               start: start, bytesIn: exchange?.bytesIn ?? 0, bytesOut: body.utf8.count, upstream: exchange?.endpoint?.description ?? "-",
               revision: exchange?.revision ?? (services.table()?.document.revision ?? "-"), requestID: exchange?.requestID ?? "-")
        if !close { responseFinished() }
    }

    private func finishLog(_ exchange: Exchange, status: Int) {
        record(status: status, route: exchange.route, host: exchange.host, path: exchange.logPath, method: exchange.method.rawValue,
               start: exchange.start, bytesIn: exchange.bytesIn, bytesOut: exchange.bytesOut,
               upstream: exchange.endpoint?.description ?? "-", revision: exchange.revision, requestID: exchange.requestID)
    }

    /// One finished request: its metric and its access-log entry (one place builds both).
    private func record(status: Int, route: String, host: String, path: String, method: String, start: NIODeadline,
                        bytesIn: Int, bytesOut: Int, upstream: String, revision: String, requestID: String) {
        let seconds = Double((NIODeadline.now() - start).nanoseconds) / 1e9
        services.metrics.requestFinished(route: route, status: status, seconds: seconds)
        services.accessLog?.record(AccessLogEntry(
            time: Self.timestamp(), replica: services.configuration.replicaID, client: clientAddress, method: method, host: host,
            path: path, status: status, bytesIn: bytesIn, bytesOut: bytesOut, durationMicroseconds: Int(seconds * 1e6),
            upstream: upstream, route: route, revision: revision, requestID: requestID))
    }

    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let millis = now.tv_nsec / 1_000_000
        return "\(now.tv_sec)." + (millis < 10 ? "00" : millis < 100 ? "0" : "") + String(millis)
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// Removes the HTTP handlers of a client connection that becomes a tunnel (the proxy handler
    /// itself is removed by the caller).
    func removeHTTPServerHandlers() throws {
        if let activity = try? self.handler(type: ActivityHandler.self) { activity.enabled = false }
        if let context = try? self.context(handlerType: ActivityHandler.self) { removeHandler(context: context, promise: nil) }
        if let context = try? self.context(handlerType: HTTPServerPipelineHandler.self) { removeHandler(context: context, promise: nil) }
        if let context = try? self.context(handlerType: NIOHTTPResponseHeadersValidator.self) { removeHandler(context: context, promise: nil) }
        removeHandler(context: try self.context(handlerType: HTTPResponseEncoder.self), promise: nil)
        removeHandler(context: try self.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self), promise: nil)
    }

    /// Removes the HTTP handlers and the upstream handler of an upstream connection that becomes a tunnel.
    func removeHTTPClientHandlers() throws {
        removeHandler(context: try self.context(handlerType: UpstreamHandler.self), promise: nil)
        if let context = try? self.context(handlerType: NIOHTTPRequestHeadersValidator.self) { removeHandler(context: context, promise: nil) }
        removeHandler(context: try self.context(handlerType: HTTPRequestEncoder.self), promise: nil)
        removeHandler(context: try self.context(handlerType: ByteToMessageHandler<HTTPResponseDecoder>.self), promise: nil)
    }
}

import Auth
import Foundation
import NIOCore
import HTTPWire
import NIOHTTP1  // HTTPResponseStatus only
import Routing
import Spec

/// The per-connection proxy: reads requests from a client as bytes, parses each head itself
/// (strictly, `HTTPWire`), matches it against the current route table, and streams it to an
/// upstream and the answer back, copying header lines it keeps byte for byte and passing bodies
/// through in their own framing, with backpressure both ways (a side that cannot take more bytes
/// pauses reads on the other). Runs entirely on the client connection's event loop; upstream
/// connections are opened on the same loop.
final class ProxyHandler: ChannelDuplexHandler, RemovableChannelHandler, UpstreamDelegate {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// What follows a request head (see `headArrived`), as the inbound side frames it.
    enum RequestPart {
        case body(ByteBuffer)
        case end
    }

    /// Where the inbound byte stream is.
    enum InboundState {
        case head
        case length(remaining: Int)
        case chunked(ChunkedDecoder)
        /// After an upgrade request: later bytes wait for the upstream's answer (a 101 makes
        /// them the tunnel's first bytes; anything else, the next request).
        case upgrade
    }

    let services: ProxyServices
    let pool: UpstreamPool
    /// The client's address: from the socket, or from a trusted PROXY protocol header.
    var clientAddress: String
    var context: ChannelHandlerContext?
    var exchange: Exchange?
    /// The host this connection's last request named, with its entry in the table of that
    /// version (the version, not the table: an idle connection must not keep a whole old table).
    var lastHost: (tableVersion: Int, name: String, entry: RouteMatcher.CompiledHost?)?
    /// See `routedHost`. Never empty: an empty Host is not valid.
    var hostMemo: (raw: [UInt8], host: String)?
    /// A response the proxy gives itself, sent once the request (without a body) has ended.
    var pendingLocal: LocalAnswer?

    /// A named struct rather than a tuple: the compiler destroys this tuple type through the
    /// runtime's generic tuple witness, which showed on every request.
    struct LocalAnswer {
        var status: HTTPResponseStatus
        var body: String
        var close: Bool
        var route: String
        var host: String
        var path: LogPath

        init(_ status: HTTPResponseStatus, _ body: String, close: Bool, route: String, host: String, path: LogPath) {
            (self.status, self.body, self.close, self.route, self.host, self.path) = (status, body, close, route, host, path)
        }
    }
    var readsPaused = false
    var pendingRead = false
    var timer: Scheduled<Void>?
    var awaitingHead = false
    var closing = false
    /// Bytes read and not yet framed (a partial head, or requests pipelined behind the current one).
    var inbound: ByteBuffer?
    var inboundState = InboundState.head
    var draining = false
    /// The head being parsed, kept and refilled request after request (its arrays' storage too):
    /// a parse result in an enum was copied and then destroyed through the runtime's generic
    /// value witness, on every request.
    var parsedHead = RequestHead()
    let headLimits: HeadLimits

    /// Whether this connection came in over TLS: `X-Forwarded-Proto`, redirects and HSTS follow it.
    let isTLS: Bool
    var pendingLocalHeaders: [(String, String)] = []
    var parsedClientAddress: (text: String, bytes: [UInt8]?)?
    var renderedForwarding: (address: String, lines: [UInt8])?
    /// The buffer of the last request head sent upstream, for the next one (see
    /// `Exchange.upstreamHead`).
    var spareRequestBuffer: ByteBuffer?
    /// The credentials this connection's last guarded request passed with (see `CredentialMemo`),
    /// and its grant's header lines as sent upstream.
    var credentialMemo: (memo: CredentialMemo, lines: [UInt8])?

    /// Whether no outbound handler lies between this handler and the socket (a plain connection;
    /// on TLS the TLS handler does). Decided where the pipeline is built (`ProxyServer.start`).
    let socketIsNext: Bool
    /// The client channel itself, as the core that reads and writes its socket, when
    /// `socketIsNext`: response bytes and read requests then skip the walk to the pipeline's head
    /// (three per request, with their retains). Such a channel runs without `autoRead` (NIO's
    /// automatic read request walks the whole pipeline): this handler asks for the next read
    /// itself after each read, unless reads are paused. Dropped when the handler leaves the
    /// pipeline.
    var clientCore: ChannelCore?

    init(services: ProxyServices, pool: UpstreamPool, clientAddress: String, isTLS: Bool = false, socketIsNext: Bool = false) {
        self.services = services
        self.pool = pool
        self.clientAddress = clientAddress
        self.isTLS = isTLS
        self.socketIsNext = socketIsNext && !isTLS
        self.headLimits = HeadLimits(maxBytes: services.configuration.maxHeaderBytes, maxFields: 200)
        parsedHead.fields.reserveCapacity(32)
    }

    // MARK: Lifecycle

    /// The client channel's allocator and writability, kept here: reaching them through
    /// `context.channel` goes through the pipeline (and retains) on every use.
    var allocator = ByteBufferAllocator()
    var clientWritable = true

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        allocator = context.channel.allocator
        clientWritable = context.channel.isWritable
        if socketIsNext { clientCore = context.channel._channelCore }
        if context.channel.isActive {
            connectionStarted(context: context)
            clientCore?.read0()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        clientCore = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        connectionStarted(context: context)
        clientCore?.read0()
        context.fireChannelActive()
    }

    var started = false
    func connectionStarted(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        services.metrics.connectionOpened()
        armTimer(services.configuration.idleTimeout, reason: .idle)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        deadline = nil
        inbound = nil
        pendingHead = nil
        if let exchange {
            // The client went away: cancel the upstream request.
            exchange.upstreamHandler?.delegate = nil
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
        armTimer(services.configuration.headerTimeout, reason: .header)
    }

    /// One connection timer, driven by a deadline: arming it per request only moves the deadline
    /// (no task is scheduled or cancelled on the hot path); the scheduled task re-arms itself
    /// when it fires before the deadline.
    var deadline: NIODeadline?
    var deadlineReason = TimerReason.idle

    /// What the connection's one timer is waiting for (an enum, not a string: it is set twice
    /// per request).
    enum TimerReason {
        /// No request yet, or between requests.
        case idle
        /// A request head has begun to arrive (slowloris defence).
        case header
        /// The upstream has the request and owes the first byte of its answer.
        case firstByte
    }
    var timerDue: NIODeadline?

    /// When the event being handled (a client read, the end of an upstream response) began: the
    /// clock is read once for it, and the timers it arms, the exchange it starts and the log entry
    /// it finishes share that reading (a request armed three timers and read the clock five
    /// times). Nil outside such an event; `eventNow` then reads the clock. (Not named `now`:
    /// the auth code's local `now` is wall-clock seconds, a different clock.)
    var eventTime: NIODeadline?
    var eventNow: NIODeadline { eventTime ?? .now() }

    func armTimer(_ amount: TimeAmount, reason: TimerReason) {
        let due = eventNow + amount
        deadline = due
        deadlineReason = reason
        if let timerDue, timerDue <= due { return }  // the pending task will re-arm itself
        schedule(at: due)
    }

    func clearTimer() { deadline = nil }

    func schedule(at due: NIODeadline) {
        guard let context else { return }
        timer?.cancel()
        timerDue = due
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: due) { loopBound.value.timerTick() }
    }

    func timerTick() {
        timer = nil
        timerDue = nil
        guard let deadline else { return }
        if deadline > .now() { return schedule(at: deadline) }
        self.deadline = nil
        timerFired(reason: deadlineReason)
    }

    func timerFired(reason: TimerReason) {
        if reason == .firstByte {
            guard let exchange, exchange.responseStatus == nil else { return }
            services.metrics.upstreamError("first_byte_timeout")
            return fail(exchange, status: .gatewayTimeout, reason: "upstream did not answer in time")
        }
        guard let context, exchange == nil else { return }
        // A slow head simply loses its connection (no request exists for a 408 to answer).
        if reason == .header { services.metrics.upstreamError("client_header_timeout") }
        context.close(promise: nil)
    }

    // MARK: Client → proxy

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // After a response that closes the connection, nothing more from this client is routed:
        // a request smuggled behind a refused one must never reach an upstream.
        if closing { return }
        eventTime = .now()
        defer { eventTime = nil }
        bytesArrived()
        inbound.accumulate(unwrapInboundIn(data))
        drain()
    }

    /// Frames what `inbound` holds into request parts, as far as the connection's state allows.
    /// HTTP/1.1 pipelining: a request head that arrives while the previous response is still
    /// outstanding stays unparsed in `inbound`, and reads pause until it is served (bounded memory).
    func drain() {
        guard !draining, let context else { return }
        draining = true
        defer { draining = false }
        while !closing, var buffer = inbound, buffer.readableBytes > 0 {
            switch inboundState {
            case .head:
                if responseOutstanding {
                    pauseReads()
                    return
                }
                let status = buffer.withUnsafeReadableBytes { HeadParser.parseRequest($0, limits: headLimits, into: &parsedHead) }
                switch status {
                case .needMore:
                    return
                case .invalid(let error):
                    inbound = nil
                    return malformedRequest(context, error: error)
                case .complete:
                    let head = parsedHead
                    let headBytes = buffer.readSlice(length: head.length)!
                    inbound = buffer.readableBytes > 0 ? buffer : nil
                    switch head.framing {
                    case .length(let length): inboundState = .length(remaining: length)
                    case .chunked: inboundState = .chunked(ChunkedDecoder(maxTrailerBytes: services.configuration.maxHeaderBytes))
                    case .none, .untilClose: inboundState = .head
                    }
                    headArrived(head, bytes: headBytes, context: context)
                    if case .head = inboundState {
                        process(.end, context: context)
                        if head.isUpgrade, exchange?.isUpgrade == true { inboundState = .upgrade }
                    }
                }
            case .length(let remaining):
                let take = min(remaining, buffer.readableBytes)
                let slice = buffer.readSlice(length: take)!
                inbound = buffer.readableBytes > 0 ? buffer : nil
                inboundState = take == remaining ? .head : .length(remaining: remaining - take)
                process(.body(slice), context: context)
                if take == remaining { process(.end, context: context) }
            case .chunked(var decoder):
                let consumed: Int
                do {
                    consumed = try buffer.withUnsafeReadableBytes { raw in try decoder.consume(raw) { _ in } }
                } catch {
                    inbound = nil
                    return malformedRequest(context, error: .malformed(.transferEncoding))
                }
                let slice = buffer.readSlice(length: consumed)!
                inbound = buffer
                inboundState = decoder.isDone ? .head : .chunked(decoder)
                if consumed > 0 { process(.body(slice), context: context) }
                if decoder.isDone { process(.end, context: context) }
            case .upgrade:
                pauseReads()
                return
            }
        }
        if let buffer = inbound, buffer.readableBytes == 0 { inbound = nil }
    }

    /// Between a request's head and its end.
    var requestOpen = false
    /// Between a request's head and the end of its response.
    var responseOutstanding = false
    /// Close once the current response is done (server shutting down).
    var closeAfterResponse = false

    /// The response in progress has been fully written: serve the next pipelined request, if any.
    func responseFinished() {
        responseOutstanding = false
        guard let context else { return }
        if closeAfterResponse {
            closing = true
            context.close(promise: nil)
            return
        }
        if case .upgrade = inboundState { inboundState = .head }
        drain()
        // Reads stay paused while a pipelined request waits unparsed, or while the request just
        // started waits for its upstream connection.
        let heldBack = responseOutstanding && (inbound?.readableBytes ?? 0) > 0
        if !heldBack, exchange == nil || exchange?.upstreamHandler != nil { resumeReads() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            // Graceful shutdown: idle connections close now, busy ones after their response.
            if responseOutstanding || requestOpen { closeAfterResponse = true } else { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// A request head, framed: the request begins (called directly by `drain`, not through a
    /// `RequestPart`, which would copy the head with its arrays on the way).
    func headArrived(_ head: RequestHead, bytes: ByteBuffer, context: ChannelHandlerContext) {
        clearTimer()
        awaitingHead = false
        requestOpen = true
        responseOutstanding = true
        requestHead(head, bytes: bytes, context: context)
    }

    func process(_ part: RequestPart, context: ChannelHandlerContext) {
        switch part {
        case .body(let buffer):
            if authPending {
                authHeldBody.append(buffer)
                return
            }
            guard let exchange else { return }  // a local answer: the body is ignored
            exchange.bytesIn += buffer.readableBytes
            if let handler = exchange.upstreamHandler {
                handler.send(buffer)
                if let upstream = exchange.upstream, !upstream.isWritable { pauseReads() }
            } else {
                exchange.buffered.append(buffer)
            }
        case .end:
            requestOpen = false
            if authPending {
                authRequestEnded = true
                return
            }
            if let local = pendingLocal {
                pendingLocal = nil
                let headers = pendingLocalHeaders
                pendingLocalHeaders = []
                respond(context, status: local.status, body: local.body, close: local.close, route: local.route, host: local.host, path: local.path,
                        headers: headers)
                return
            }
            guard let exchange else { return }
            exchange.requestEnded = true
            if let handler = exchange.upstreamHandler {
                handler.flush()
                startFirstByteTimer(exchange)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.upstreamHandler?.flush()
        if let clientCore {
            // What `autoRead` and `read(context:)` would do, without the walk (see `clientCore`).
            if readsPaused { pendingRead = true } else { clientCore.read0() }
        }
        // Not passed on: this is the pipeline's last handler (only the tail, which ignores it,
        // would get it), as it does not pass on the bytes either.
    }

    func read(context: ChannelHandlerContext) {
        if readsPaused { pendingRead = true } else { context.read() }
    }

    func pauseReads() { readsPaused = true }

    func resumeReads() {
        guard readsPaused else { return }
        readsPaused = false
        if pendingRead, let context {
            pendingRead = false
            if let clientCore { clientCore.read0() } else { context.read() }
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        clientWritable = context.channel.isWritable
        exchange?.upstreamHandler?.setPaused(!clientWritable)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    /// A malformed request (or body, e.g. a bad chunk size): cancel any upstream request it
    /// started and answer 400 (431 for an oversized head), then close.
    func malformedRequest(_ context: ChannelHandlerContext, error: HeadError) {
        if let exchange {
            exchange.upstreamHandler?.delegate = nil
            exchange.upstream?.close(promise: nil)
            self.exchange = nil
            finishLog(exchange, status: 400)
            if exchange.responseHeadSent {
                closing = true
                context.close(promise: nil)
                return
            }
        }
        pendingLocal = nil
        switch error {
        case .tooLarge:
            respondAndClose(context, status: .requestHeaderFieldsTooLarge, body: "request header fields too large\n")
        case .malformed(let problem):
            respondAndClose(context, status: .badRequest, body: "malformed request (\(problem.rawValue))\n")
        }
    }

    // MARK: Routing a request

    func requestHead(_ head: RequestHead, bytes: ByteBuffer, context: ChannelHandlerContext) {
        let hasBody = head.framing != .none
        let keepAlive = head.keepAlive
        func local(_ status: HTTPResponseStatus, _ body: String, route: String = "-", host: String = "-", path: LogPath = "-",
                   headers: [(String, String)] = []) {
            // Answer at once if a body follows (and close, rather than read a body nobody wants);
            // otherwise once the request has ended.
            if hasBody {
                respond(context, status: status, body: body, close: true, route: route, host: host, path: path, headers: headers)
            } else {
                pendingLocal = LocalAnswer(status, body, close: !keepAlive, route: route, host: host, path: path)
                pendingLocalHeaders = headers
            }
        }
        // Framing was checked by the parser (request smuggling: only a single `chunked`, never
        // together with Content-Length, no differing lengths).
        guard let hostRange = head.host,
              let host = bytes.withUnsafeReadableBytes({ routedHost(UnsafeRawBufferPointer(rebasing: $0[hostRange])) }) else {
            return respond(context, status: .badRequest, body: "exactly one valid Host header is required\n", close: true, route: "-", host: "-", path: "-")
        }
        // Straight from the head's bytes: no String of the whole target, the method as a literal.
        let method = bytes.withUnsafeReadableBytes { HeadParser.methodName(UnsafeRawBufferPointer(rebasing: $0[head.method])) }
        let path: String, query: String?
        do {
            (path, query) = try bytes.withUnsafeReadableBytes { raw throws(RequestPath.Problem) in
                try RequestPath.normalized(target: UnsafeRawBufferPointer(rebasing: raw[head.target]))
            }
        } catch {
            return respond(context, status: .badRequest, body: "bad request target (\(error))\n", close: true, route: "-", host: host, path: "-")
        }
        let logPath = LogPath(path: path, query: query)

        // Both paths the proxy answers before routing begin with `/.`, which a normalized path
        // otherwise rarely does: one byte compare spares most requests two `hasPrefix` calls.
        var pathBytes = path.utf8.makeIterator()
        _ = pathBytes.next()
        let wellKnown = pathBytes.next() == UInt8(ascii: ".")
        if wellKnown, path.hasPrefix("/.well-known/acme-challenge/"), method == "GET" || method == "HEAD" {
            return answerChallenge(token: path.dropFirst("/.well-known/acme-challenge/".count), context: context,
                                   host: host, path: logPath, keepAlive: keepAlive && !hasBody)
        }
        guard let matcher = services.currentMatcher(on: pool) else {
            return local(.serviceUnavailable, "no route table has been published yet\n", host: host, path: logPath)
        }
        // Plain HTTP to a Domain with redirectHTTP goes to HTTPS — once a certificate for the host is
        // loaded (before that the redirect would lead nowhere). ACME challenges were answered above.
        if !isTLS, let certificates = services.certificates, let hostEntry = matcher.host(host)?.entry, hostEntry.redirectHTTP,
           certificates.hasCertificate(forHost: host) {
            let port = services.httpsPort.withLockedValue { $0 }.map { $0 == 443 ? "" : ":\($0)" } ?? ""
            let targetText = bytes.getString(at: bytes.readerIndex + head.target.lowerBound, length: head.target.count)!
            let location = "https://" + host + port + (targetText.hasPrefix("/") ? targetText : path + (query.map { "?" + $0 } ?? ""))
            return local(.permanentRedirect, "moved to \(location)\n", route: "redirect-https", host: host, path: logPath,
                         headers: [("location", location)])
        }
        // OAuth resource metadata (RFC 9728) of a host with JWT-guarded routes, before routing:
        // MCP clients look for it at this fixed path, whatever the routes say.
        if wellKnown, method == "GET", path.hasPrefix(CompiledAuthPolicy.protectedResourceMetadataPath),
           let document = protectedResourceMetadata(path: path, host: host, matcher: matcher) {
            return local(.ok, document, route: "oauth-protected-resource", host: host, path: logPath,
                         headers: [("content-type", "application/json"), ("cache-control", "max-age=300")])
        }
        // References to the compiled route and host (no copies of their entries' strings). The
        // host's entry is remembered per connection: a keep-alive client names the same host
        // request after request, and comparing it costs less than hashing it for the lookup.
        let compiledHost: RouteMatcher.CompiledHost
        if let known = lastHost, known.tableVersion == pool.tableVersion, known.name == host {
            guard let entry = known.entry else { return local(.notFound, "unknown host\n", host: host, path: logPath) }
            compiledHost = entry
        } else {
            let entry = matcher.host(host)
            lastHost = (pool.tableVersion, host, entry)
            guard let entry else { return local(.notFound, "unknown host\n", host: host, path: logPath) }
            compiledHost = entry
        }
        guard let route = matcher.route(in: compiledHost, path: path, method: method) else {
            return local(.notFound, "no route\n", host: host, path: logPath)
        }
        // Unguarded routes take the direct path: no policy lookup, no closure (this is the hot path).
        // Client X-Auth-* headers are dropped as forged on every route by HeadWriter; identity
        // headers a policy names beyond X-Auth-* (not expressible in the spec yet) are dropped on
        // the routes that policy guards.
        guard let policyName = route.entry.auth else {
            return forward(head: head, bytes: bytes, context: context, method: method, host: host, path: path, query: query,
                           logPath: logPath, route: route, compiledHost: compiledHost, matcher: matcher, hasBody: hasBody, keepAlive: keepAlive,
                           remove: [], grantLines: [])
        }
        // A guarded route is never served unguarded: anything unknown fails closed.
        guard let guarded = pool.policies?.guards[policyName], let address = clientAddressBytes() else {
            return local(.serviceUnavailable, "this route's auth policy is not available\n", route: route.entry.route, host: host, path: logPath)
        }
        let policy = guarded.policy
        // Identity headers under any name and forward auth's copyHeaders, as the client sent them
        // (X-Auth-* are dropped as forged by HeadWriter on every route anyway).
        let remove = guarded.headersToRemove
        let now = Date().timeIntervalSince1970
        // The same credentials as the connection's last allowed request: no parsing, hashing or
        // cache lookup (the memo still checks policy, host, ipAllow and lifetime).
        if let (memo, lines) = credentialMemo,
           Self.withAuthorizationValue(head, bytes: bytes, { memo.grant(policy: policy, host: host, authorization: $0,
                                                                        clientAddress: address, now: now) != nil }) == true {
            return forward(head: head, bytes: bytes, context: context, method: method, host: host, path: path, query: query,
                           logPath: logPath, route: route, compiledHost: compiledHost, matcher: matcher, hasBody: hasBody, keepAlive: keepAlive,
                           remove: remove, grantLines: lines)
        }
        // The target is the normalized path, as routed: an auth server told `/public/../admin`
        // could judge a path other than the one the upstream will serve.
        var request = AuthRequest(method: method, host: host, target: query.map { path + "?" + $0 } ?? path, scheme: isTLS ? "https" : "http",
                                  headers: Self.headerList(head, bytes: bytes, onlyAuthorization: !policy.readsOtherHeaders),
                                  clientAddress: address)
        request.clientAddressText = clientAddress
        // Only checks that finish later need the request kept in a closure (an allocation).
        func held() -> HeldRequest {
            HeldRequest(route: route.entry.route, host: host, path: logPath, method: method, hasBody: hasBody, keepAlive: keepAlive,
                        forward: { [self] grant in
                            self.forward(head: head, bytes: bytes, context: context, method: method, host: host, path: path, query: query,
                                         logPath: logPath, route: route, compiledHost: compiledHost, matcher: matcher, hasBody: hasBody,
                                         keepAlive: keepAlive, remove: remove, grantLines: HeadWriter.headerLines(grant))
                        })
        }
        let keySets = services.keySets
        // Starts empty so that a memo after `evaluate` is the one this grant made.
        var memo: CredentialMemo?
        let decision = policy.evaluate(request, now: now, keys: { keySets.state($0, now: now) },
                                       tokens: &services.tokenCache(for: context.eventLoop).tokens, memo: &memo)
        switch decision {
        case .allow(let grant):
            let lines = HeadWriter.headerLines(grant.upstreamHeaders)
            if let memo { credentialMemo = (memo, lines) }
            forward(head: head, bytes: bytes, context: context, method: method, host: host, path: path, query: query,
                    logPath: logPath, route: route, compiledHost: compiledHost, matcher: matcher, hasBody: hasBody, keepAlive: keepAlive,
                    remove: remove, grantLines: lines)
        case .deny(let denial):
            local(HTTPResponseStatus(statusCode: denial.status), denial.body, route: route.entry.route, host: host, path: logPath,
                  headers: denial.wwwAuthenticate.map { [("www-authenticate", $0)] } ?? [])
        case .verifyBasic(let job):
            if services.credentialCache.withLockedValue({ $0.contains(job.cacheKey, now: now) }),
               case .allow(let grant) = job.cachedDecision {
                return held().forward(grant.upstreamHeaders)
            }
            verifyBasic(job, context: context, held: held())
        case .forward(let subrequest):
            forwardAuth(subrequest, policy: policy, context: context, held: held())
        case .needKeys(let needed):
            awaitKeys(needed, policy: policy, request: request, context: context, held: held())
        }
    }

    /// The host to route by (`RequestHost.parse`) from a Host header's bytes. The bytes of the
    /// connection's last request are remembered with their host: a keep-alive client sends the
    /// same ones request after request, and comparing them costs less than parsing them again.
    func routedHost(_ raw: UnsafeRawBufferPointer) -> String? {
        if let memo = hostMemo, memo.raw.count == raw.count,
           memo.raw.withUnsafeBytes({ memcmp($0.baseAddress!, raw.baseAddress!, raw.count) }) == 0 {
            return memo.host
        }
        guard let host = RequestHost.parse(raw) else { return nil }
        hostMemo = (Array(raw), host)
        return host
    }

    /// A response head not yet written (see `.head` in `upstreamResponsePart`).
    var pendingHead: ByteBuffer?
    /// Response bytes written to the client and not flushed yet.
    var clientUnflushed = false
    /// Set while a bcrypt check runs: body bytes are held, and the request's end is remembered.
    var authPending = false
    var authHeldBody: [ByteBuffer] = []
    var authRequestEnded = false

    /// Set while an ACME challenge answer waits for its request to end (see `answerChallenge`).
    var challengeAwaitingEnd = false
}

import Auth
import Foundation
import NIOCore
import HTTPWire
import NIOHTTP1  // HTTPResponseStatus only
import Routing
import Spec

/// The upstream connection of an exchange, the response on its way to the client, and upgraded
/// (tunnelled) connections.
extension ProxyHandler {
    // MARK: Upstream connection

    func connect(_ exchange: Exchange) {
        guard let context, exchange.attempt < exchange.endpoints.count else { return }
        let endpoint = exchange.endpoints[exchange.attempt]
        exchange.endpoint = endpoint
        if let (channel, handler) = pool.checkoutIdle(endpoint) {
            return attach(exchange, channel: channel, handler: handler, context: context)
        }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        pool.connect(endpoint).whenComplete { result in
            loopBound.value.connected(exchange, endpoint: endpoint, result: result)
        }
    }

    func connected(_ exchange: Exchange, endpoint: Endpoint, result: Result<Channel, Error>) {
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
            attach(exchange, channel: channel, handler: handler, context: context)
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

    /// Gives the exchange its upstream connection and sends what the client sent so far.
    func attach(_ exchange: Exchange, channel: Channel, handler: UpstreamHandler, context: ChannelHandlerContext) {
            exchange.reusedConnection = handler.hasServed
            handler.hasServed = true
            handler.delegate = self
            handler.setPaused(!clientWritable)
            exchange.upstream = channel
            exchange.upstreamHandler = handler
            handler.requestIsHead = exchange.method == "HEAD"
            if let head = exchange.upstreamHead { handler.send(head) }
            for buffer in exchange.buffered { handler.send(buffer) }
            handler.flush()
            exchange.buffered.removeAll()
            if exchange.requestEnded { startFirstByteTimer(exchange) }
            if channel.isWritable, readsPaused { resumeReads() }
    }

    static func isTimeout(_ error: Error) -> Bool {
        if case ChannelError.connectTimeout = error { return true }
        return String(describing: error).lowercased().contains("timeout")
    }

    /// The upstream's answer is due within `firstByteTimeout`: the connection's one timer
    /// (a deadline move, no task per request) fires `timerFired(reason: .firstByte)`.
    func startFirstByteTimer(_ exchange: Exchange) {
        guard exchange.responseStatus == nil, !exchange.isUpgrade else { return }
        armTimer(services.configuration.firstByteTimeout, reason: .firstByte)
    }

    /// Ends an exchange that got no response head with a proxy-made error.
    func fail(_ exchange: Exchange, status: HTTPResponseStatus, reason: String) {
        guard let context, self.exchange === exchange else { return }
        pendingHead = nil
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

    func upstreamResponseHead(_ head: ResponseHead, bytes: ByteBuffer) {
        guard let context, let exchange else { return }
        if head.status < 200 && head.status != 101 {
            // 100 Continue and other interim answers: passed on to an HTTP/1.1 client as they are.
            if exchange.clientMinorVersion == 1 {
                let interim = HeadWriter.responseHead(head, bytes: bytes, clientMinorVersion: 1, body: .asIs, keepAlive: true,
                                                      keepUpgrade: false, allocator: allocator)
                context.writeAndFlush(wrapOutboundOut(interim), promise: nil)
            }
            return
        }
        clearTimer()
        exchange.responseStatus = head.status
        // No retry after an answer began: the request head's buffer serves this connection's
        // next request (its storage is reused once the socket has let go of it).
        spareRequestBuffer = exchange.upstreamHead
        exchange.upstreamHead = nil
        if head.status == 101 {
            guard exchange.isUpgrade else {
                services.metrics.upstreamError("bad_response")
                return fail(exchange, status: .badGateway, reason: "upstream switched protocols unasked")
            }
            return startTunnel(head, bytes: bytes, exchange: exchange, context: context)
        }
        exchange.upstreamKeepAlive = head.keepAlive
        var keepAlive = exchange.clientKeepAlive
        let framing = head.framing(requestWasHead: exchange.method == "HEAD")
        switch framing {
        case .chunked where exchange.clientMinorVersion == 0:
            exchange.responseBody = .dechunked
            exchange.upstreamHandler?.dechunk = true
            keepAlive = false
        case .untilClose:
            exchange.upstreamKeepAlive = false
            if exchange.clientMinorVersion == 1 && keepAlive {
                exchange.responseBody = .rechunked
            } else {
                keepAlive = false
            }
        default:
            break
        }
        exchange.closeAfterResponse = !keepAlive
        var response = pool.takeResponseBuffer() ?? allocator.buffer(capacity: 0)
        HeadWriter.responseHead(head, bytes: bytes, clientMinorVersion: exchange.clientMinorVersion, body: exchange.responseBody,
                                keepAlive: keepAlive, keepUpgrade: false, hsts: exchange.hsts, into: &response)
        exchange.responseHeadSent = true
        // Held until the body's first bytes (or the end of this read): a small response
        // then leaves in one buffer and one write.
        pendingHead = response
    }

    func upstreamResponsePart(_ part: UpstreamPart) {
        guard let context, let exchange else { return }
        switch part {
        case .body(let buffer):
            let count = buffer.readableBytes
            guard count > 0 else { return }
            exchange.bytesOut += count
            if var head = pendingHead {
                pendingHead = nil
                if count <= 16 * 1024, exchange.responseBody != .rechunked {
                    head.writeImmutableBuffer(buffer)
                    writeToClient(context, head)
                    pool.giveBackResponseBuffer(head)
                    if !clientWritable { exchange.upstreamHandler?.setPaused(true) }
                    return
                }
                writeToClient(context, head)
                pool.giveBackResponseBuffer(head)
            }
            if exchange.responseBody == .rechunked {
                var size = allocator.buffer(capacity: 20)
                size.writeString(String(count, radix: 16))
                size.writeStaticString("\r\n")
                writeToClient(context, size)
                writeToClient(context, buffer)
                writeToClient(context, Self.crlf)
            } else {
                writeToClient(context, buffer)
            }
            if !clientWritable { exchange.upstreamHandler?.setPaused(true) }
        case .end:
            eventTime = .now()
            defer { eventTime = nil }
            exchange.responseEnded = true
            writePendingHead(context)
            if exchange.responseBody == .rechunked { writeToClient(context, Self.lastChunk) }
            if exchange.upstreamHandler?.hasUnexpectedBytes == true { exchange.upstreamKeepAlive = false }
            // Book-keeping happens now, not when the write completes: with pipelining the next
            // request's head is parsed while this write is still in flight.
            let close = completed(exchange)
            if close {
                closing = true
                let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
                let promise = context.eventLoop.makePromise(of: Void.self)
                context.writeAndFlush(wrapOutboundOut(allocator.buffer(capacity: 0)), promise: promise)
                promise.futureResult.whenComplete { _ in loopBound.value.context?.close(promise: nil) }
            } else {
                flushClient(context)
                armTimer(services.configuration.idleTimeout, reason: .idle)
                responseFinished()
            }
        }
    }

    static let crlf = ByteBuffer(staticString: "\r\n")
    static let lastChunk = ByteBuffer(staticString: "0\r\n\r\n")

    func writePendingHead(_ context: ChannelHandlerContext) {
        guard let head = pendingHead else { return }
        pendingHead = nil
        writeToClient(context, head)
        pool.giveBackResponseBuffer(head)
    }

    @inline(__always) func writeToClient(_ context: ChannelHandlerContext, _ buffer: ByteBuffer) {
        if let clientCore { clientCore.write0(NIOAny(buffer), promise: nil) } else { context.write(wrapOutboundOut(buffer), promise: nil) }
        clientUnflushed = true
    }

    func flushClient(_ context: ChannelHandlerContext) {
        guard clientUnflushed else { return }
        clientUnflushed = false
        if let clientCore { clientCore.flush0() } else { context.flush() }
    }

    func upstreamReadComplete() {
        guard let context else { return }
        writePendingHead(context)
        flushClient(context)
    }

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
            exchange.buffered = []
            connect(exchange)
            return
        }
        services.metrics.upstreamError(exchange.responseStatus == nil ? "reset_before_response" : "reset_during_response")
        fail(exchange, status: .badGateway, reason: "upstream closed the connection")
    }

    /// Releases or closes the upstream connection, logs, and says whether the client connection
    /// must close after this response.
    func completed(_ exchange: Exchange) -> Bool {
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
        return !exchange.clientKeepAlive || !exchange.requestEnded || exchange.closeAfterResponse
    }

    // MARK: WebSocket and other upgrades

    func startTunnel(_ head: ResponseHead, bytes: ByteBuffer, exchange: Exchange, context: ChannelHandlerContext) {
        guard let upstream = exchange.upstream, let upstreamHandler = exchange.upstreamHandler else { return }
        let response = HeadWriter.responseHead(head, bytes: bytes, clientMinorVersion: exchange.clientMinorVersion, body: .asIs,
                                               keepAlive: true, keepUpgrade: true, allocator: allocator)
        exchange.responseHeadSent = true
        exchange.responseEnded = true
        context.write(wrapOutboundOut(response), promise: nil)
        // Bytes of the new protocol that came with the 101, and client bytes that followed the
        // upgrade request before it: each goes to the other side first.
        if let early = upstreamHandler.takeLeftover() { context.write(wrapOutboundOut(early), promise: nil) }
        context.flush()
        if let early = inbound, early.readableBytes > 0 { upstreamHandler.send(early, flush: true) }
        inbound = nil
        upstreamHandler.delegate = nil
        finishLog(exchange, status: 101)
        self.exchange = nil
        closing = true  // nothing more is routed on this connection
        timer?.cancel()
        deadline = nil
        // Both pipelines become byte pipes, whose handlers rely on `autoRead` (the handlers they
        // replace requested each read themselves).
        do {
            let (clientGlue, upstreamGlue) = GlueHandler.pair()
            let server = upstream.pipeline.syncOperations
            server.removeHandler(context: try server.context(handlerType: UpstreamHandler.self), promise: nil)
            try server.addHandler(upstreamGlue)
            try upstream.syncOptions?.setOption(.autoRead, value: true)
            let client = context.pipeline.syncOperations
            let channel = context.channel
            client.removeHandler(context: context, promise: nil)
            try client.addHandler(clientGlue)
            try channel.syncOptions?.setOption(.autoRead, value: true)
        } catch {
            context.close(promise: nil)
            upstream.close(promise: nil)
        }
    }

}

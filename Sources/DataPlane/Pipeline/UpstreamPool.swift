import NIOCore
import NIOHTTP1
import NIOPosix
import Spec

/// An upstream address (`host:port`).
struct Endpoint: Hashable, CustomStringConvertible {
    var host: String
    var port: Int
    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Receives what an upstream connection produces while it serves one exchange.
protocol UpstreamDelegate: AnyObject {
    func upstreamResponsePart(_ part: HTTPClientResponsePart)
    func upstreamReadComplete()
    func upstreamWritabilityChanged(isWritable: Bool)
    func upstreamClosed(error: Error?)
}

/// Sits at the end of an upstream channel's pipeline and forwards to the exchange that has the
/// connection checked out. Reads are withheld while `paused` (client not writable): backpressure.
final class UpstreamHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    weak var delegate: UpstreamDelegate?
    var onIdleClose: (() -> Void)?
    /// True once the connection carried an exchange (a later checkout is a reuse).
    var hasServed = false
    private var paused = false
    private var pendingRead = false
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if let delegate { delegate.upstreamResponsePart(part) } else { context.close(promise: nil) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
        context.fireChannelReadComplete()
    }

    /// Writes a request part to the upstream (on this channel's event loop).
    func send(_ part: HTTPClientRequestPart, flush: Bool = false) {
        guard let context else { return }
        context.write(wrapOutboundOut(part), promise: nil)
        if flush { context.flush() }
    }

    func flush() { context?.flush() }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        delegate?.upstreamWritabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let delegate { self.delegate = nil; delegate.upstreamClosed(error: nil) } else { onIdleClose?() }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let delegate { self.delegate = nil; delegate.upstreamClosed(error: error) }
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if paused { pendingRead = true } else { context.read() }
    }

    func setPaused(_ value: Bool) {
        paused = value
        if !value, pendingRead, let context {
            pendingRead = false
            context.read()
        }
    }
}

/// Keep-alive connections to upstream endpoints, one pool per event loop (so a connection and the
/// client it serves share a thread and never hop). Also remembers endpoints that refused a
/// connection recently (passive health) and the round-robin position of each route.
final class UpstreamPool {
    let eventLoop: EventLoop
    let configuration: ProxyConfiguration
    private var idle: [Endpoint: [Channel]] = [:]
    private var downUntil: [Endpoint: NIODeadline] = [:]
    private var cursor: [String: Int] = [:]
    /// Resolved `url:` upstreams, so a URL is parsed once, not per request.
    private var targets: [String: Result<UpstreamTarget, UpstreamTarget.Unservable>] = [:]

    func target(for upstream: RouteTableDocument.Upstream) -> Result<UpstreamTarget, UpstreamTarget.Unservable> {
        guard case .url(let url) = upstream else { return UpstreamTarget.resolve(upstream) }
        if let cached = targets[url] { return cached }
        let resolved = UpstreamTarget.resolve(upstream)
        if targets.count > 10_000 { targets.removeAll() }
        targets[url] = resolved
        return resolved
    }

    /// Per-loop request counter (no lock: only this loop touches it).
    var requestSequence: UInt64 = 0
    var loopIndex = 0

    init(eventLoop: EventLoop, configuration: ProxyConfiguration) {
        self.eventLoop = eventLoop
        self.configuration = configuration
    }

    /// Endpoints in the order to try: round-robin start, healthy ones first.
    func order(_ endpoints: [Endpoint], key: String) -> [Endpoint] {
        guard endpoints.count > 1 else { return endpoints }
        let start = cursor[key, default: 0] % endpoints.count
        cursor[key] = start + 1
        let rotated = Array(endpoints[start...] + endpoints[..<start])
        let now = NIODeadline.now()
        let healthy = rotated.filter { (downUntil[$0] ?? .distantPast) <= now }
        return healthy + rotated.filter { (downUntil[$0] ?? .distantPast) > now }
    }

    func markDown(_ endpoint: Endpoint) { downUntil[endpoint] = .now() + configuration.endpointDownTime }

    /// An idle connection to `endpoint`, or a new one.
    /// The caller takes the channel's `UpstreamHandler` with `syncOperations` (same event loop).
    func checkout(_ endpoint: Endpoint) -> EventLoopFuture<Channel> {
        while var list = idle[endpoint], let channel = list.popLast() {
            idle[endpoint] = list
            if channel.isActive, let handler = try? channel.pipeline.syncOperations.handler(type: UpstreamHandler.self) {
                handler.onIdleClose = nil
                return eventLoop.makeSucceededFuture(channel)
            }
        }
        let timeout = configuration.connectTimeout
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.autoRead, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(leftOverBytesStrategy: .forwardBytes, enableOutboundHeaderValidation: false)
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandler())
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
    }

    /// Returns a connection that finished an exchange cleanly and may be reused.
    func release(_ channel: Channel, handler: UpstreamHandler, endpoint: Endpoint) {
        handler.delegate = nil
        handler.setPaused(false)
        var list = idle[endpoint, default: []]
        guard channel.isActive, list.count < configuration.maxIdleUpstreamConnectionsPerEndpoint else {
            channel.close(promise: nil)
            return
        }
        handler.onIdleClose = { [weak self, weak channel] in
            guard let self, let channel else { return }
            self.idle[endpoint]?.removeAll { $0 === channel }
        }
        list.append(channel)
        idle[endpoint] = list
    }

    func closeAll() {
        for list in idle.values { for channel in list { channel.close(promise: nil) } }
        idle = [:]
    }
}

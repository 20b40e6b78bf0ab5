import NIOCore
import NIOPosix
import Spec

/// An upstream address (`host:port`).
struct Endpoint: Hashable, CustomStringConvertible {
    var host: String
    var port: Int
    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
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
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandler())
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
    }

    /// Returns a connection that finished an exchange cleanly and may be reused.
    func release(_ channel: Channel, handler: UpstreamHandler, endpoint: Endpoint) {
        handler.delegate = nil
        handler.reset()
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

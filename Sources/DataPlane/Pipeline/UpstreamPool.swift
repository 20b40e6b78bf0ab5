import Routing
import Auth
import NIOCore
import NIOPosix
import Spec

/// An upstream address (`host:port`).
struct Endpoint: Hashable, CustomStringConvertible {
    let host: String
    let port: Int
    /// `host:port` (`[v6]:port`), made once: it is logged with every request.
    let description: String

    init(host: String, port: Int) {
        self.host = host
        self.port = port
        description = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    static func == (left: Endpoint, right: Endpoint) -> Bool { left.port == right.port && left.host == right.host }
    func hash(into hasher: inout Hasher) {
        hasher.combine(host)
        hasher.combine(port)
    }
}

/// The idle keep-alive connections to one endpoint, on one event loop. A class, so a connection
/// can keep a reference to its endpoint's list and be put back without hashing the endpoint.
final class IdleConnections {
    var handlers: [UpstreamHandler] = []

    func remove(_ handler: UpstreamHandler) { handlers.removeAll { $0 === handler } }
}

/// Keep-alive connections to upstream endpoints, one pool per event loop (so a connection and the
/// client it serves share a thread and never hop). Also remembers endpoints that refused a
/// connection recently (passive health) and the round-robin position of each route.
final class UpstreamPool {
    let eventLoop: EventLoop
    let configuration: ProxyConfiguration
    private var idle: [Endpoint: IdleConnections] = [:]
    private var downUntil: [Endpoint: NIODeadline] = [:]
    private var cursor: [String: Int] = [:]
    /// The resolved upstream of each route of `resolvedFor` (by `CompiledRoute.index`), filled
    /// as routes are first used: a request finds its target by index, with no hashing, and a URL
    /// is parsed (an instance's endpoints built) once per table, not per request. A request held
    /// across a swap (auth) may still name a route of the old table: that one is resolved afresh.
    private var resolved: [Result<UpstreamTarget, UpstreamTarget.Unservable>?] = []
    private var resolvedFor: RouteMatcher?

    func target(for route: RouteMatcher.CompiledRoute, in matcher: RouteMatcher) -> Result<UpstreamTarget, UpstreamTarget.Unservable> {
        if matcher !== resolvedFor {
            guard matcher === self.matcher else { return UpstreamTarget.resolve(route.entry.upstream) }
            resolvedFor = matcher
            resolved = Array(repeating: nil, count: matcher.routeCount)
        }
        guard route.index < resolved.count else { return UpstreamTarget.resolve(route.entry.upstream) }
        if let known = resolved[route.index] { return known }
        let made = UpstreamTarget.resolve(route.entry.upstream)
        resolved[route.index] = made
        return made
    }

    /// The table and policies this loop serves, as of `tableVersion` (`ProxyServices.currentTable`).
    /// The buffer the last response head (and a small body with it) was written to the client
    /// in, kept for the next one on this loop: once the socket has taken it, nothing else holds
    /// it and its storage is written again, with no allocation (see `takeResponseBuffer`).
    private var responseBuffer: ByteBuffer?

    /// The kept response buffer, handed out once (a second taker until it is given back gets
    /// nil and writes into a new one).
    func takeResponseBuffer() -> ByteBuffer? {
        defer { responseBuffer = nil }
        return responseBuffer
    }

    /// Keeps a response buffer for the next response of the loop, unless it has grown large
    /// (a big head or body is not worth holding on to).
    func giveBackResponseBuffer(_ buffer: ByteBuffer) {
        if buffer.capacity <= 32 * 1024 { responseBuffer = buffer }
    }

    var tableVersion = -1
    var matcher: RouteMatcher?
    var policies: AuthPolicySet?

    /// Per-loop request counter (no lock: only this loop touches it).
    var requestSequence: UInt64 = 0
    var loopIndex = 0
    /// `<replica prefix>-<loop>-`, made once.
    var requestIDStem = ""
    /// This loop's request counters for `/metrics`.
    let counters: RequestCounters
    /// This loop's access-log writer (nil: no access log).
    var accessLog: AccessLogWriter?

    init(eventLoop: EventLoop, configuration: ProxyConfiguration, counters: RequestCounters) {
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.counters = counters
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

    /// An idle keep-alive connection to `endpoint`, if one is left (no future, no lookup: the
    /// common case of a request).
    func checkoutIdle(_ endpoint: Endpoint) -> (Channel, UpstreamHandler)? {
        let list: IdleConnections
        if let last = lastIdle, last.endpoint == endpoint {
            list = last.list
        } else {
            guard let found = idle[endpoint] else { return nil }
            list = found
            lastIdle = (endpoint, found)
        }
        while let handler = list.handlers.popLast() {
            if let channel = handler.channel, channel.isActive {
                handler.idleIn = nil
                return (channel, handler)
            }
        }
        return nil
    }

    /// The idle list last looked up, by endpoint: requests in a row mostly go to one endpoint, and
    /// comparing it costs less than hashing its host for the dictionary.
    private var lastIdle: (endpoint: Endpoint, list: IdleConnections)?

    /// A new connection to `endpoint`.
    /// The caller takes the channel's `UpstreamHandler` with `syncOperations` (same event loop).
    func connect(_ endpoint: Endpoint) -> EventLoopFuture<Channel> {
        let timeout = configuration.connectTimeout
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            // UpstreamHandler requests each read itself (see its `core`).
            .channelOption(.autoRead, value: false)
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
        let list: IdleConnections
        if let home = handler.home {
            list = home
        } else if let existing = idle[endpoint] {
            list = existing
        } else {
            list = IdleConnections()
            idle[endpoint] = list
        }
        handler.home = list
        guard channel.isActive, list.handlers.count < configuration.maxIdleUpstreamConnectionsPerEndpoint else {
            channel.close(promise: nil)
            return
        }
        handler.idleIn = list
        list.handlers.append(handler)
    }

    func closeAll() {
        for list in idle.values { for handler in list.handlers { handler.channel?.close(promise: nil) } }
        idle = [:]
        lastIdle = nil
    }
}

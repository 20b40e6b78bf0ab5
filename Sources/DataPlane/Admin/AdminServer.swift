import NIOCore
import NIOHTTP1
import NIOPosix

/// The admin listener (`127.0.0.1:9090` by default): `/healthz` (the process runs), `/readyz` (a
/// route table is loaded) and `/metrics` (Prometheus text).
public final class AdminServer: @unchecked Sendable {
    public typealias Readiness = @Sendable () -> (ready: Bool, detail: String)
    public typealias Metrics = @Sendable () -> String

    let group: EventLoopGroup
    let readiness: Readiness
    let metrics: Metrics

    public init(group: EventLoopGroup, readiness: @escaping Readiness, metrics: @escaping Metrics) {
        self.group = group
        self.readiness = readiness
        self.metrics = metrics
    }

    public func start(address: SocketAddress) throws -> SocketAddress? {
        let readiness = self.readiness, metrics = self.metrics
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(readiness: readiness, metrics: metrics))
                }
            }
            .bind(to: address).wait()
        return channel.localAddress
    }
}

final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let readiness: AdminServer.Readiness
    let metrics: AdminServer.Metrics
    private var uri: String?
    private var keepAlive = true

    init(readiness: @escaping AdminServer.Readiness, metrics: @escaping AdminServer.Metrics) {
        self.readiness = readiness
        self.metrics = metrics
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            uri = head.uri
            keepAlive = head.isKeepAlive
        case .body:
            break
        case .end:
            let (status, contentType, body): (HTTPResponseStatus, String, String)
            switch uri?.split(separator: "?").first ?? "" {
            case "/healthz": (status, contentType, body) = (.ok, "text/plain", "ok\n")
            case "/readyz":
                let state = readiness()
                (status, contentType, body) = (state.ready ? .ok : .serviceUnavailable, "text/plain", state.detail + "\n")
            case "/metrics": (status, contentType, body) = (.ok, "text/plain; version=0.0.4", metrics())
            default: (status, contentType, body) = (.notFound, "text/plain", "not found\n")
            }
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: contentType)
            headers.add(name: "content-length", value: String(body.utf8.count))
            if !keepAlive { headers.add(name: "connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            if !keepAlive { context.close(promise: nil) }
        }
    }
}

import NIOCore
import NIOHTTP1
import NIOPosix

/// The controller's HTTP listener (127.0.0.1:9000 by default). Bodies are read up to 1 MiB (a push
/// payload is far smaller); larger ones get 413 without being read further.
public final class ControllerServer: @unchecked Sendable {
    public static let maximumBody = 1 << 20

    private let api: ControllerAPI
    private let group: EventLoopGroup
    private var channel: Channel?

    public init(api: ControllerAPI, group: EventLoopGroup) {
        self.api = api
        self.group = group
    }

    /// Binds and returns the bound address (port 0 picks a free one).
    public func start(host: String, port: Int) throws -> SocketAddress {
        let api = self.api
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(ControllerRequestHandler(api: api))
                }
            }
            .bind(host: host, port: port).wait()
        self.channel = channel
        return channel.localAddress!
    }

    public func stop() {
        try? channel?.close().wait()
    }
}

final class ControllerRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let api: ControllerAPI
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false

    init(api: ControllerAPI) { self.api = api }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.removeAll(keepingCapacity: true)
            tooLarge = false
        case .body(var buffer):
            guard !tooLarge else { return }
            if body.count + buffer.readableBytes > ControllerServer.maximumBody {
                tooLarge = true
                body.removeAll()
            } else {
                body += buffer.readBytes(length: buffer.readableBytes) ?? []
            }
        case .end:
            guard let head else { return }
            self.head = nil
            let reply = tooLarge
                ? ControllerAPI.Reply(status: 413, body: "request body over \(ControllerServer.maximumBody) bytes\n")
                : api.respond(method: head.method.rawValue, target: head.uri,
                              headers: head.headers.map { (name: $0.name.lowercased(), value: $0.value) }, body: body)
            let keepAlive = head.isKeepAlive && !tooLarge
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: reply.contentType)
            headers.add(name: "content-length", value: String(reply.body.utf8.count))
            headers.add(name: "cache-control", value: "no-store")
            for (name, value) in reply.headers { headers.add(name: name, value: value) }
            if !keepAlive { headers.add(name: "connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: reply.status), headers: headers))), promise: nil)
            if head.method != .HEAD {
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: reply.body)))), promise: nil)
            }
            let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !keepAlive {
                let channel = context.channel
                written.whenComplete { _ in channel.close(promise: nil) }
            }
            body.removeAll()
        }
    }
}

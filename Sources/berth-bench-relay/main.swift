// The least an HTTP/1.1 proxy on SwiftNIO can do per request: a TCP relay that pairs each client
// connection with one upstream connection and copies bytes both ways (one read and one write in
// each direction per request, no parsing). bench/proxy.sh runs it beside berth-proxy and nginx,
// so the report can tell what NIO's own channel machinery costs from what berth-proxy adds.
//
//   berth-bench-relay LISTEN_PORT UPSTREAM_PORT   (loopback only, one event loop)
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

final class Relay: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    var partner: Relay?
    var context: ChannelHandlerContext?
    var pending: [ByteBuffer] = []

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil; partner = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if let partner, let other = partner.context {
            other.write(wrapOutboundOut(buffer), promise: nil)
            other.flush()
        } else {
            pending.append(buffer)
        }
    }

    func pair(with other: Relay) {
        partner = other
        other.partner = self
        for buffer in pending { other.context?.write(wrapOutboundOut(buffer), promise: nil) }
        pending = []
        other.context?.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.context?.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
}

let arguments = CommandLine.arguments
guard arguments.count == 3, let listen = Int(arguments[1]), let upstream = Int(arguments[2]) else {
    print("usage: berth-bench-relay LISTEN_PORT UPSTREAM_PORT")
    exit(2)
}
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let server = try ServerBootstrap(group: group)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        let client = Relay()
        let upstreamRelay = Relay()
        return channel.pipeline.addHandler(client).flatMap {
            ClientBootstrap(group: channel.eventLoop)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { $0.pipeline.addHandler(upstreamRelay) }
                .connect(host: "127.0.0.1", port: upstream)
                .map { _ in client.pair(with: upstreamRelay) }
        }
    }
    .bind(host: "127.0.0.1", port: listen).wait()
try server.closeFuture.wait()

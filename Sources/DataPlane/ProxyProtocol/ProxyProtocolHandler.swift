import NIOCore
import ProxyProtocol
import Spec

/// The first handler of every client connection. From a trusted load balancer (a peer inside
/// `--proxy-protocol-trusted`) the connection must start with a valid PROXY v1/v2 header, whose
/// source address becomes the client address; from anyone else a PROXY header is refused. A
/// malformed header, or one that does not arrive in time, closes the connection. Once decided,
/// the handler passes on the remaining bytes and removes itself.
final class ProxyProtocolHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    enum Mode { case required, refused }

    let mode: Mode
    let timeout: TimeAmount
    /// Called with the client address a trusted header carried.
    let onAddress: (String) -> Void
    private var buffer: ByteBuffer?
    private var timer: Scheduled<Void>?
    private var done = false

    init(mode: Mode, timeout: TimeAmount = .seconds(5), onAddress: @escaping (String) -> Void) {
        self.mode = mode
        self.timeout = timeout
        self.onAddress = onAddress
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard mode == .required else { return }
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) { loopBound.value.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) { timer?.cancel() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return context.fireChannelRead(data) }
        var incoming = unwrapInboundIn(data)
        if buffer == nil { buffer = incoming } else { buffer!.writeBuffer(&incoming) }
        let result = buffer!.withUnsafeReadableBytes { ProxyProtocolParser.parse($0) }
        switch (result, mode) {
        case (.needMoreBytes, _):
            if buffer!.readableBytes > 4096 + 16 { context.close(promise: nil) }
        case (.header(let header), .required):
            if header.command == .proxy, let source = header.source { onAddress(source.ipString) }
            buffer!.moveReaderIndex(forwardBy: header.length)
            finish(context)
        case (.header, .refused), (.invalid, _):
            context.close(promise: nil)
        case (.notProxyProtocol, .required):
            context.close(promise: nil)
        case (.notProxyProtocol, .refused):
            finish(context)
        }
    }

    private func finish(_ context: ChannelHandlerContext) {
        done = true
        timer?.cancel()
        if let rest = buffer, rest.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(rest)) }
        buffer = nil
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

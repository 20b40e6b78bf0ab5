import HTTPWire
import NIOCore

/// What an upstream connection delivers after a response head, framed (RFC 9112 §6.3) but not
/// re-encoded: body bytes as received (slices of the read buffers), then the end.
enum UpstreamPart {
    case body(ByteBuffer)
    case end
}

/// Receives what an upstream connection produces while it serves one exchange.
protocol UpstreamDelegate: AnyObject {
    /// A response head as parsed, with its bytes (passed as they are, not wrapped in an enum: a
    /// head is large, and wrapping it copied it, with its arrays, twice per response).
    func upstreamResponseHead(_ head: ResponseHead, bytes: ByteBuffer)
    func upstreamResponsePart(_ part: UpstreamPart)
    func upstreamReadComplete()
    func upstreamWritabilityChanged(isWritable: Bool)
    func upstreamClosed(error: Error?)
}

/// The only handler of an upstream channel: writes request bytes, reads response heads and
/// frames their bodies, and forwards both to the exchange that has the connection checked out.
/// Reads are withheld while `paused` (client not writable): backpressure.
final class UpstreamHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct MalformedResponse: Error { var reason: String }

    enum State {
        case head
        case length(remaining: Int)
        case chunked(ChunkedDecoder)
        case untilClose
        /// After a 101: bytes stay in `inbound` for the tunnel.
        case switched
    }

    /// The client side of the exchange in flight. Strong, not weak: a weak reference gives the
    /// ProxyHandler a side table, and every retain and release of it (several per request) then
    /// takes the runtime's slow path. The cycle it makes lasts one exchange: the delegate is
    /// cleared when the connection goes back to the pool, when either side closes, and when an
    /// exchange is abandoned, and a closed channel clears it in `channelInactive` whatever happened.
    var delegate: UpstreamDelegate?
    /// The idle list holding this connection while it is idle.
    var idleIn: IdleConnections?
    /// The idle list of this connection's endpoint, once it has been in it (a connection serves
    /// one endpoint for life, so later releases need no dictionary lookup).
    var home: IdleConnections?
    /// True once the connection carried an exchange (a later checkout is a reuse).
    var hasServed = false
    /// The request in flight was HEAD (its response has no body whatever its headers say).
    var requestIsHead = false
    /// Deliver only chunk data, not chunk framing (set by the delegate when it takes a head).
    var dechunk = false
    private(set) var state = State.head
    private var inbound: ByteBuffer?
    /// The response head being parsed, refilled response after response (see ProxyHandler's
    /// `parsedHead`).
    private var parsedHead = ResponseHead()
    private var paused = false
    private var pendingRead = false
    private var context: ChannelHandlerContext?

    /// The channel itself, as the core that reads and writes its socket. This handler is the
    /// only one in an upstream channel's pipeline (plain TCP, see `UpstreamPool.connect`), so a
    /// write, flush or read request through `context` would only walk to the pipeline's head to
    /// reach the same core; going straight there saves the walk (three per request, with their
    /// retains). That is also why the channel runs without `autoRead` (NIO's automatic read
    /// request walks the whole pipeline): this handler asks for the next read itself after each
    /// read, unless paused — what `autoRead` and `read(context:)` did together. Dropped when the
    /// handler leaves the pipeline (the channel owns the handler, not the other way round).
    private var core: ChannelCore?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        core = context.channel._channelCore
        parsedHead.fields.reserveCapacity(32)
    }
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        core = nil
    }

    var channel: Channel? { context?.channel }

    /// Bytes received after the end of the last response (the connection cannot be reused).
    var hasUnexpectedBytes: Bool { (inbound?.readableBytes ?? 0) > 0 }

    /// Bytes that followed a 101 head (already the upgraded protocol's).
    func takeLeftover() -> ByteBuffer? {
        defer { inbound = nil }
        return inbound.flatMap { $0.readableBytes > 0 ? $0 : nil }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inbound.accumulate(unwrapInboundIn(data))
        guard delegate != nil else {
            // Nobody asked: an idle connection that talks is not reusable.
            inbound = nil
            context.close(promise: nil)
            return
        }
        do { try drain() } catch {
            inbound = nil
            if let delegate { self.delegate = nil; delegate.upstreamClosed(error: error) }
            context.close(promise: nil)
        }
    }

    private func drain() throws {
        while let delegate, var buffer = inbound, buffer.readableBytes > 0 {
            switch state {
            case .head:
                let status = buffer.withUnsafeReadableBytes { HeadParser.parseResponse($0, into: &parsedHead) }
                switch status {
                case .needMore: return
                case .invalid(let error): throw MalformedResponse(reason: "\(error)")
                case .complete:
                    let head = parsedHead
                    let headBytes = buffer.readSlice(length: head.length)!
                    inbound = buffer.readableBytes > 0 ? buffer : nil
                    if head.status == 101 {
                        state = .switched
                        delegate.upstreamResponseHead(head, bytes: headBytes)
                        return
                    }
                    dechunk = false
                    switch head.framing(requestWasHead: requestIsHead) {
                    case .none: state = .head
                    case .length(let length): state = .length(remaining: length)
                    case .chunked: state = .chunked(ChunkedDecoder())
                    case .untilClose: state = .untilClose
                    }
                    delegate.upstreamResponseHead(head, bytes: headBytes)
                    if head.status >= 200, case .head = state { delegate.upstreamResponsePart(.end) }
                }
            case .length(let remaining):
                let take = min(remaining, buffer.readableBytes)
                let slice = buffer.readSlice(length: take)!
                inbound = buffer.readableBytes > 0 ? buffer : nil
                state = take == remaining ? .head : .length(remaining: remaining - take)
                delegate.upstreamResponsePart(.body(slice))
                if take == remaining { delegate.upstreamResponsePart(.end) }
            case .chunked(var decoder):
                var pieces: [Range<Int>] = []
                let consumed: Int
                do {
                    consumed = try buffer.withUnsafeReadableBytes { raw in
                        try decoder.consume(raw) { range in if self.dechunk { pieces.append(range) } }
                    }
                } catch {
                    throw MalformedResponse(reason: "bad chunked framing (\(error))")
                }
                let slice = buffer.readSlice(length: consumed)!
                inbound = buffer
                state = decoder.isDone ? .head : .chunked(decoder)
                if dechunk {
                    for range in pieces where !range.isEmpty {
                        delegate.upstreamResponsePart(.body(slice.getSlice(at: slice.readerIndex + range.lowerBound, length: range.count)!))
                    }
                } else if consumed > 0 {
                    delegate.upstreamResponsePart(.body(slice))
                }
                if decoder.isDone { delegate.upstreamResponsePart(.end) }
            case .untilClose:
                inbound = nil
                delegate.upstreamResponsePart(.body(buffer))
            case .switched:
                return
            }
        }
        if let buffer = inbound, buffer.readableBytes == 0 { inbound = nil }
    }

    func channelActive(context: ChannelHandlerContext) {
        core?.read0()
        context.fireChannelActive()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
        requestRead()
        // Not passed on: the channel's only handler (the tail ignores it).
    }

    /// The next read (see `core`): at once, or when reads resume.
    private func requestRead() {
        if paused { pendingRead = true } else { core?.read0() }
    }

    /// Writes request bytes to the upstream (on this channel's event loop).
    func send(_ buffer: ByteBuffer, flush: Bool = false) {
        guard let core else { return }
        core.write0(NIOAny(buffer), promise: nil)
        unflushed = true
        if flush { self.flush() }
    }

    /// Flushes what `send` wrote (a flush with nothing written still walks the pipeline).
    func flush() {
        guard unflushed, let core else { return }
        unflushed = false
        core.flush0()
    }

    private var unflushed = false

    /// Ready for the next exchange's response.
    func reset() {
        state = .head
        requestIsHead = false
        dechunk = false
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        delegate?.upstreamWritabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let delegate {
            self.delegate = nil
            if case .untilClose = state {
                // The close is the end of this body.
                state = .head
                delegate.upstreamResponsePart(.end)
            } else {
                delegate.upstreamClosed(error: nil)
            }
        } else if let list = idleIn {
            idleIn = nil
            list.remove(self)
        }
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
        if !value, pendingRead, let core {
            pendingRead = false
            core.read0()
        }
    }
}

import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import TestSupport

/// What an upstream server saw, read by the tests from any thread.
final class UpstreamStats: @unchecked Sendable {
    private let lock = NSLock()
    private var requestLines: [String] = []
    private var accepted = 0
    private var open = 0
    private var streams = 0
    private var closedStreams = 0
    private var abandoned = 0

    private var connectionNumbers: [Int] = []
    func requestArrived(_ line: String, connection: Int = 0) { lock.withLock { requestLines.append(line); connectionNumbers.append(connection) } }
    @discardableResult
    func connectionOpened() -> Int { lock.withLock { accepted += 1; open += 1; return accepted } }
    /// For each request, the number (1, 2, …) of the upstream connection it arrived on.
    var requestConnections: [Int] { lock.withLock { connectionNumbers } }
    func connectionClosed() { lock.withLock { open -= 1 } }
    func streamOpened() { lock.withLock { streams += 1 } }
    func streamClosed() { lock.withLock { streams -= 1; closedStreams += 1 } }
    func requestAbandoned() { lock.withLock { abandoned += 1 } }
    private var sentBytes = 0
    func bodySent(_ count: Int) { lock.withLock { sentBytes += count } }
    /// Response body bytes of `/big` handed to the socket so far.
    var bodyBytesSent: Int { lock.withLock { sentBytes } }
    private var bodyBytes = 0
    func bodyReceived(_ count: Int) { lock.withLock { bodyBytes += count } }
    /// Request body bytes received so far (all requests).
    var bodyBytesReceived: Int { lock.withLock { bodyBytes } }

    /// Request lines ("GET /x") or, for raw servers, whole request heads, in arrival order.
    var requests: [String] { lock.withLock { requestLines } }
    var requestCount: Int { lock.withLock { requestLines.count } }
    var connectionsAccepted: Int { lock.withLock { accepted } }
    var openConnections: Int { lock.withLock { open } }
    /// SSE streams or tunnels open now.
    var openStreams: Int { lock.withLock { streams } }
    var streamsClosed: Int { lock.withLock { closedStreams } }
    /// Delayed responses whose connection closed before they were sent.
    var abandonedRequests: Int { lock.withLock { abandoned } }
}

/// An HTTP/1.1 upstream on 127.0.0.1 written with SwiftNIO. By path:
/// - `/sse`: `text/event-stream`, an event every 200 ms, never ends;
/// - `/big?size=N`: N bytes of `Pattern`, written as the connection can take them;
/// - `/upload`: consumes the body, answers `{"length": N, "valid": true|false}` (checked against `Pattern`);
/// - `/delay?ms=N`: the echo, N ms late;
/// - anything else: the echo — JSON with the server's name, request line, headers and body length.
final class HTTPUpstream: @unchecked Sendable {
    let name: String
    let stats = UpstreamStats()
    let channel: Channel
    var port: Int { channel.localAddress!.port! }
    var url: String { "http://127.0.0.1:\(port)" }

    init(name: String, group: EventLoopGroup) throws {
        self.name = name
        let stats = self.stats
        channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let number = stats.connectionOpened()
                channel.closeFuture.whenComplete { _ in stats.connectionClosed() }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(UpstreamHTTPHandler(name: name, stats: stats, connection: number))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
    }

    func close() { try? channel.close().wait() }
}

final class UpstreamHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let name: String
    let stats: UpstreamStats
    private var head: HTTPRequestHead?
    private var bodyLength = 0
    private var verifier: PatternVerifier?
    private var downloadRemaining = 0
    private var downloadIndex = 0
    private var downloading = false
    private var sseTask: RepeatedTask?
    private var sseCount = 0
    private var streaming = false
    private var delayPending = false

    let connection: Int

    init(name: String, stats: UpstreamStats, connection: Int) {
        self.name = name
        self.stats = stats
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            bodyLength = 0
            stats.requestArrived("\(head.method.rawValue) \(head.uri)", connection: connection)
            verifier = Self.split(head.uri).path == "/upload" ? PatternVerifier() : nil
        case .body(let buffer):
            bodyLength += buffer.readableBytes
            stats.bodyReceived(buffer.readableBytes)
            if verifier != nil { buffer.withUnsafeReadableBytes { verifier!.consume($0) } }
        case .end:
            respond(context: context)
        }
    }

    static func split(_ uri: String) -> (path: String, query: [String: String]) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var query: [String: String] = [:]
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                query[String(kv[0])] = kv.count > 1 ? String(kv[1]) : ""
            }
        }
        return (String(parts[0]), query)
    }

    private func respond(context: ChannelHandlerContext) {
        guard let head else { return }
        let (path, query) = Self.split(head.uri)
        switch path {
        case "/sse":
            startEvents(context: context)
        case "/big":
            downloadRemaining = Int(query["size"] ?? "0") ?? 0
            downloadIndex = 0
            downloading = true
            let headers = HTTPHeaders([("content-type", "application/octet-stream"), ("content-length", String(downloadRemaining))])
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            pump(context: context)
        case "/upload":
            let report: [String: Any] = ["length": bodyLength, "valid": verifier?.valid ?? false, "first_mismatch": verifier?.firstMismatch ?? -1]
            sendJSON(context: context, report)
        case "/delay":
            delayPending = true
            let milliseconds = Int64(query["ms"] ?? "0") ?? 0
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: .milliseconds(milliseconds)) {
                guard handler.value.delayPending else { return }
                handler.value.delayPending = false
                handler.value.echo(context: boundContext.value)
            }
        default:
            echo(context: context)
        }
    }

    private func echo(context: ChannelHandlerContext) {
        guard let head else { return }
        let report: [String: Any] = [
            "server": name, "method": head.method.rawValue, "uri": head.uri,
            "version": "HTTP/\(head.version.major).\(head.version.minor)",
            "headers": head.headers.map { [$0.name, $0.value] }, "body_length": bodyLength,
        ]
        sendJSON(context: context, report)
    }

    private func sendJSON(context: ChannelHandlerContext, _ object: [String: Any]) {
        guard let head, context.channel.isActive else { return }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        var headers = HTTPHeaders([("content-type", "application/json"), ("content-length", String(data.count)),
                                   ("x-upstream", name)])
        if !head.isKeepAlive { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: data)))), promise: nil)
        }
        let keepAlive = head.isKeepAlive
        let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { boundContext.value.close(promise: nil) }
        }
    }

    // MARK: SSE

    private func startEvents(context: ChannelHandlerContext) {
        let headers = HTTPHeaders([("content-type", "text/event-stream"), ("cache-control", "no-cache")])
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        streaming = true
        stats.streamOpened()
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        sseTask = context.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(200), delay: .milliseconds(200)) { _ in
            handler.value.sendEvent(context: boundContext.value)
        }
    }

    private func sendEvent(context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        sseCount += 1
        let text = "id: \(sseCount)\ndata: event \(sseCount)\n\n"
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
    }

    // MARK: Large download

    private func pump(context: ChannelHandlerContext) {
        guard downloading else { return }
        while downloadRemaining > 0 && context.channel.isWritable {
            let count = min(Pattern.blockSize, downloadRemaining)
            var buffer = context.channel.allocator.buffer(capacity: count)
            _ = Pattern.base.withUnsafeBytes { buffer.writeBytes(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            if count >= 8 { buffer.setInteger(UInt64(downloadIndex), at: buffer.readerIndex, endianness: .little) }
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            stats.bodySent(count)
            downloadIndex += 1
            downloadRemaining -= count
        }
        if downloadRemaining == 0 {
            downloading = false
            context.write(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { pump(context: context) }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        sseTask?.cancel()
        sseTask = nil
        if streaming { streaming = false; stats.streamClosed() }
        if delayPending { delayPending = false; stats.requestAbandoned() }
        context.fireChannelInactive()
    }
}

/// A TCP upstream below HTTP: `.upgradeEcho` reads one request head, answers
/// `101 Switching Protocols` and then echoes every byte (closing after echoing `bye`);
/// `.blackhole` reads and never answers; `.onePerConnection` answers the first request of a
/// connection (a keep-alive 200 whose body is its request line) and closes the connection, without
/// answering, when a second request arrives on it (an upstream that dropped an idle connection
/// just as the proxy reused it).
final class RawUpstream: @unchecked Sendable {
    enum Kind: Sendable { case upgradeEcho, blackhole, onePerConnection }

    let stats = UpstreamStats()
    let channel: Channel
    var port: Int { channel.localAddress!.port! }
    var url: String { "http://127.0.0.1:\(port)" }

    init(kind: Kind, group: EventLoopGroup) throws {
        let stats = self.stats
        channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                stats.connectionOpened()
                channel.closeFuture.whenComplete { _ in stats.connectionClosed() }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RawUpstreamHandler(kind: kind, stats: stats))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
    }

    func close() { try? channel.close().wait() }
}

final class RawUpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let kind: RawUpstream.Kind
    let stats: UpstreamStats
    private var head: [UInt8] = []
    private var tunnel = false
    private var answered = false

    init(kind: RawUpstream.Kind, stats: UpstreamStats) {
        self.kind = kind
        self.stats = stats
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = Array(unwrapInboundIn(data).readableBytesView)
        if tunnel { return echo(bytes, context: context) }
        head += bytes
        guard let end = head.firstRange(of: Array("\r\n\r\n".utf8)) else { return }
        stats.requestArrived(String(decoding: head[..<end.lowerBound], as: UTF8.self))
        let rest = Array(head[end.upperBound...])
        head = []
        if kind == .onePerConnection {
            if answered { return context.close(promise: nil) }
            answered = true
            let line = String(decoding: bytes.prefix { $0 != 0x0d }, as: UTF8.self)
            let answer = "HTTP/1.1 200 OK\r\nContent-Length: \(line.utf8.count)\r\n\r\n" + line
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: answer)), promise: nil)
            return
        }
        guard kind == .upgradeEcho else { return }
        tunnel = true
        stats.streamOpened()
        let answer = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"
        context.write(wrapOutboundOut(context.channel.allocator.buffer(string: answer)), promise: nil)
        if !rest.isEmpty { echo(rest, context: context) }
        context.flush()
    }

    private func echo(_ bytes: [UInt8], context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: nil)
        if bytes.firstRange(of: Array("bye".utf8)) != nil {
            let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(NIOAny(ByteBuffer())).whenComplete { _ in boundContext.value.close(promise: nil) }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }

    func channelInactive(context: ChannelHandlerContext) {
        if tunnel { tunnel = false; stats.streamClosed() }
        context.fireChannelInactive()
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` seconds pass; returns whether it held.
@discardableResult
func eventually(timeout: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if try condition() { return true }
        if Date() >= deadline { return false }
        Thread.sleep(forTimeInterval: 0.02)
    }
}

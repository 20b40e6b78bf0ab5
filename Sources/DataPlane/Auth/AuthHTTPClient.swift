import Auth
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// An answer from an issuer's JWKS endpoint or a forward-auth server.
struct AuthHTTPResponse: Sendable {
    var status: Int
    var reason: String
    /// As received: names in their original case, repeated names repeated.
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func values(_ name: String) -> [String] { headers.filter { $0.name.lowercased() == name }.map(\.value) }
}

struct AuthHTTPError: Error, CustomStringConvertible {
    var description: String
}

/// The proxy's own small HTTP/1.1 client for auth: one request per connection (`Connection:
/// close`), on the event loop it is given, never blocking it (name resolution runs off the loop in
/// NIO's resolver). https with the system's trust roots (or `--auth-ca-file`), the certificate
/// checked against the URL's host. Every request has a deadline and a bound on the body it
/// accepts, so a slow or hostile auth server costs one timer and a bounded buffer.
final class AuthHTTPClient: Sendable {
    private let tlsContext: NIOSSLContext?
    private let tlsProblem: String?

    /// `caFile`: PEM roots to trust instead of the system's (a private issuer, tests).
    init(caFile: String? = nil) {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let caFile { configuration.trustRoots = .file(caFile) }
        do {
            tlsContext = try NIOSSLContext(configuration: configuration)
            tlsProblem = nil
        } catch {
            tlsContext = nil
            tlsProblem = "TLS client set-up failed: \(error)"
        }
    }

    /// Sends `method url` with `headers` (lower-case names; `Host`, `Connection` and framing are
    /// the client's) and collects the answer, failing after `timeout` or when the body exceeds
    /// `maxBody` bytes.
    func send(_ method: String, _ url: OutboundURL, headers: [(name: String, value: String)], maxBody: Int,
              timeout: TimeAmount, on loop: EventLoop) -> EventLoopFuture<AuthHTTPResponse> {
        let promise = loop.makePromise(of: AuthHTTPResponse.self)
        if url.isTLS, tlsContext == nil {
            promise.fail(AuthHTTPError(description: tlsProblem ?? "TLS is not available"))
            return promise.futureResult
        }
        let tlsContext = url.isTLS ? self.tlsContext : nil
        let collector = ResponseCollector(promise: promise, maxBody: maxBody)
        let deadline = loop.scheduleTask(in: timeout) {
            collector.fail(AuthHTTPError(description: "no answer from \(url.hostHeader) within \(timeout.nanoseconds / 1_000_000) ms"))
        }
        promise.futureResult.whenComplete { _ in deadline.cancel() }
        ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tlsContext {
                        try pipeline.addHandler(NIOSSLClientHandler(context: tlsContext, serverHostname: url.isIPAddress ? nil : url.host))
                    }
                    try pipeline.addHTTPClientHandlers()
                    try pipeline.addHandler(collector)
                }
            }
            .connect(host: url.host, port: url.port)
            .whenComplete { result in
                switch result {
                case .failure(let error):
                    collector.fail(AuthHTTPError(description: "cannot connect to \(url.hostHeader): \(error)"))
                case .success(let channel):
                    collector.channel = channel
                    if collector.finished {
                        channel.close(promise: nil)
                        return
                    }
                    var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: url.target)
                    head.headers.add(name: "Host", value: url.hostHeader)
                    for (name, value) in headers { head.headers.add(name: name, value: value) }
                    head.headers.add(name: "Connection", value: "close")
                    channel.write(HTTPClientRequestPart.head(head), promise: nil)
                    channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                }
            }
        return promise.futureResult
    }
}

/// Collects one response; completes the promise once (answer, error, timeout or close first).
private final class ResponseCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<AuthHTTPResponse>
    private let maxBody: Int
    private var head: HTTPResponseHead?
    private var body: [UInt8] = []
    /// Set on the loop once connected; closed when the exchange ends, however it ends.
    var channel: Channel?
    private(set) var finished = false

    init(promise: EventLoopPromise<AuthHTTPResponse>, maxBody: Int) {
        self.promise = promise
        self.maxBody = maxBody
    }

    func fail(_ error: Error) {
        guard !finished else { return }
        finished = true
        channel?.close(promise: nil)
        promise.fail(error)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished else { return }
        switch unwrapInboundIn(data) {
        case .head(let received):
            head = received
        case .body(let buffer):
            guard body.count + buffer.readableBytes <= maxBody else {
                return fail(AuthHTTPError(description: "answer body larger than \(maxBody) bytes"))
            }
            body += buffer.readableBytesView
        case .end:
            guard let head else { return fail(AuthHTTPError(description: "answer without a head")) }
            finished = true
            context.close(promise: nil)
            promise.succeed(AuthHTTPResponse(status: Int(head.status.code), reason: head.status.reasonPhrase,
                                             headers: head.headers.map { (name: $0.name, value: $0.value) }, body: body))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(AuthHTTPError(description: "the connection closed before a complete answer"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail(AuthHTTPError(description: "\(error)"))
    }
}

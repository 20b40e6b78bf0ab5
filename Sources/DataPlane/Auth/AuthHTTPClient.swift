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

/// The proxy's own small HTTP/1.1 client for auth, on the event loop it is given, never blocking
/// it (name resolution runs off the loop in NIO's resolver). https with the system's trust roots
/// (or `--auth-ca-file`), the certificate checked against the URL's host. Every request has a
/// deadline and a bound on the body it accepts, so a slow or hostile auth server costs one timer
/// and a bounded buffer.
///
/// Forward-auth subrequests (`reuse: true`, one per guarded request) keep their connections
/// open and reuse them, per event loop and server: a new TCP (and TLS) connection per request
/// would cost a handshake each and, at a few hundred requests a second, fill the port range with
/// TIME_WAIT sockets. A kept connection that turns out to be closed by the server before it
/// answered is replaced once by a new one (the subrequest is a GET without a body, safe to send
/// again). JWKS fetches, rare, use one connection each (`Connection: close`).
final class AuthHTTPClient: Sendable {
    private let tlsContext: NIOSSLContext?
    private let tlsProblem: String?
    private let idle = NIOLockedValueBox<[IdleKey: [AuthConnection]]>([:])

    /// Idle connections kept per event loop and server; more are closed when they finish.
    static let maxIdlePerServer = 16
    /// An idle connection is closed after this long (auth servers commonly close theirs after 60–90 s).
    static let idleTimeout = TimeAmount.seconds(30)

    struct IdleKey: Hashable {
        var loop: ObjectIdentifier
        var tls: Bool
        var host: String
        var port: Int
    }

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

    /// Idle kept connections, all loops and servers (for tests and metrics).
    var idleConnectionCount: Int { idle.withLockedValue { $0.values.reduce(0) { $0 + $1.count } } }

    /// Sends `method url` with `headers` (lower-case names; `Host`, `Connection` and framing are
    /// the client's) and collects the answer, failing after `timeout` or when the body exceeds
    /// `maxBody` bytes. `reuse`: take a kept connection to the server when there is one and keep
    /// this one afterwards when the server allows it.
    func send(_ method: String, _ url: OutboundURL, headers: [(name: String, value: String)], maxBody: Int,
              timeout: TimeAmount, reuse: Bool = false, on loop: EventLoop) -> EventLoopFuture<AuthHTTPResponse> {
        let promise = loop.makePromise(of: AuthHTTPResponse.self)
        if url.isTLS, tlsContext == nil {
            promise.fail(AuthHTTPError(description: tlsProblem ?? "TLS is not available"))
            return promise.futureResult
        }
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: url.target)
        head.headers.add(name: "Host", value: url.hostHeader)
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        if !reuse { head.headers.add(name: "Connection", value: "close") }
        let exchange = AuthExchange(promise: promise, head: head, maxBody: maxBody, reuse: reuse)
        let deadline = loop.scheduleTask(in: timeout) {
            exchange.fail(AuthHTTPError(description: "no answer from \(url.hostHeader) within \(timeout.nanoseconds / 1_000_000) ms"))
        }
        promise.futureResult.whenComplete { _ in deadline.cancel() }
        let key = IdleKey(loop: ObjectIdentifier(loop), tls: url.isTLS, host: url.host, port: url.port)
        let start: @Sendable () -> Void = { [self] in
            if reuse, let kept = checkOut(key) {
                // A kept connection the server closed meanwhile fails before any answer: the
                // exchange then starts again once on a new connection.
                exchange.retry = { [self] in connect(url, key: key, exchange: exchange, timeout: timeout, on: loop) }
                kept.begin(exchange)
            } else {
                connect(url, key: key, exchange: exchange, timeout: timeout, on: loop)
            }
        }
        if loop.inEventLoop { start() } else { loop.execute(start) }
        return promise.futureResult
    }

    private func connect(_ url: OutboundURL, key: IdleKey, exchange: AuthExchange, timeout: TimeAmount, on loop: EventLoop) {
        guard !exchange.finished else { return }
        let tlsContext = url.isTLS ? self.tlsContext : nil
        let connection = AuthConnection(client: self, key: key)
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
                    try pipeline.addHandler(connection)
                }
            }
            .connect(host: url.host, port: url.port)
            .whenComplete { result in
                switch result {
                case .failure(let error):
                    exchange.fail(AuthHTTPError(description: "cannot connect to \(url.hostHeader): \(error)"))
                case .success:
                    connection.begin(exchange)
                }
            }
    }

    // MARK: Kept connections (each touched on its own loop only; the lock guards the table)

    private func checkOut(_ key: IdleKey) -> AuthConnection? {
        idle.withLockedValue { table in table[key]?.popLast() }
    }

    /// Keeps a connection whose exchange ended cleanly; false when the server already has enough.
    fileprivate func checkIn(_ connection: AuthConnection) -> Bool {
        idle.withLockedValue { table in
            guard table[connection.key, default: []].count < Self.maxIdlePerServer else { return false }
            table[connection.key, default: []].append(connection)
            return true
        }
    }

    /// Forgets an idle connection that closed or timed out.
    fileprivate func remove(_ connection: AuthConnection) {
        idle.withLockedValue { table in table[connection.key]?.removeAll { $0 === connection } }
    }
}

/// One request and what came back for it; completes its promise once (answer, error, timeout or
/// close, whichever is first). Used on its event loop only.
private final class AuthExchange: @unchecked Sendable {
    let promise: EventLoopPromise<AuthHTTPResponse>
    let head: HTTPRequestHead
    let maxBody: Int
    let reuse: Bool
    /// Set while the exchange runs on a kept connection: starts it again on a new one.
    var retry: (() -> Void)?
    /// The connection carrying it, closed when the exchange fails.
    var connection: AuthConnection?
    private(set) var finished = false

    init(promise: EventLoopPromise<AuthHTTPResponse>, head: HTTPRequestHead, maxBody: Int, reuse: Bool) {
        self.promise = promise
        self.head = head
        self.maxBody = maxBody
        self.reuse = reuse
    }

    func fail(_ error: Error) {
        guard !finished else { return }
        finished = true
        connection?.close()
        promise.fail(error)
    }

    func succeed(_ response: AuthHTTPResponse) {
        guard !finished else { return }
        finished = true
        promise.succeed(response)
    }
}

/// A connection to an auth server: carries one exchange at a time, and between exchanges waits
/// in the client's idle table (when the request and the answer both allowed keep-alive).
private final class AuthConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let key: AuthHTTPClient.IdleKey
    private weak var client: AuthHTTPClient?
    private var context: ChannelHandlerContext?
    private var exchange: AuthExchange?
    private var head: HTTPResponseHead?
    private var body: [UInt8] = []
    private var idleTimer: Scheduled<Void>?
    private var closed = false

    init(client: AuthHTTPClient, key: AuthHTTPClient.IdleKey) {
        self.client = client
        self.key = key
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    /// Breaks the context ↔ handler cycle once the channel's pipeline is torn down.
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Sends the exchange's request on this connection.
    func begin(_ exchange: AuthExchange) {
        idleTimer?.cancel()
        idleTimer = nil
        guard let context, !closed else {
            // Closed between check-out and now: start over on a new connection, or fail.
            return restartOrFail(exchange)
        }
        guard !exchange.finished else { return exchange.reuse ? checkInOrClose() : close() }
        self.exchange = exchange
        exchange.connection = self
        head = nil
        body = []
        context.write(wrapOutboundOut(.head(exchange.head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func close() {
        guard !closed else { return }
        closed = true
        context?.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let exchange else {
            // Nothing is asked on an idle connection: anything arriving is out of step.
            return close()
        }
        switch unwrapInboundIn(data) {
        case .head(let received):
            head = received
            exchange.retry = nil
        case .body(let buffer):
            guard body.count + buffer.readableBytes <= exchange.maxBody else {
                return exchange.fail(AuthHTTPError(description: "answer body larger than \(exchange.maxBody) bytes"))
            }
            body += buffer.readableBytesView
        case .end:
            guard let head else { return exchange.fail(AuthHTTPError(description: "answer without a head")) }
            self.exchange = nil
            exchange.connection = nil
            let keep = exchange.reuse && !exchange.finished && head.isKeepAlive
            exchange.succeed(AuthHTTPResponse(status: Int(head.status.code), reason: head.status.reasonPhrase,
                                              headers: head.headers.map { (name: $0.name, value: $0.value) }, body: body))
            self.head = nil
            body = []
            if keep { checkInOrClose() } else { close() }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        idleTimer?.cancel()
        client?.remove(self)
        if let exchange {
            self.exchange = nil
            exchange.connection = nil
            restartOrFail(exchange)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let exchange, exchange.retry == nil {
            exchange.fail(AuthHTTPError(description: "\(error)"))
        }
        close()
    }

    /// A kept connection that failed before an answer began: the exchange gets one new connection.
    private func restartOrFail(_ exchange: AuthExchange) {
        guard !exchange.finished else { return }
        if let retry = exchange.retry {
            exchange.retry = nil
            exchange.connection = nil
            retry()
        } else {
            exchange.fail(AuthHTTPError(description: "the connection closed before a complete answer"))
        }
    }

    private func checkInOrClose() {
        guard let context, !closed, let client, client.checkIn(self) else { return close() }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        idleTimer = context.eventLoop.scheduleTask(in: AuthHTTPClient.idleTimeout) {
            let connection = bound.value
            connection.client?.remove(connection)
            connection.close()
        }
    }
}

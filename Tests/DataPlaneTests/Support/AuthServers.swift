import Auth
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Spec
import _CryptoExtras

/// An HTTP/1.1 server on 127.0.0.1 whose answers a test scripts: a JWKS endpoint whose key set
/// can be rotated, or a forward-auth server. It records every request it was sent.
final class ScriptedHTTPServer: @unchecked Sendable {
    struct Request: Sendable {
        var method: String
        var uri: String
        var headers: [(String, String)]
        func header(_ name: String) -> [String] { headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1) }
    }

    struct Answer: Sendable {
        var status: Int
        var headers: [(String, String)] = []
        var body: String = ""
    }

    typealias Script = @Sendable (Request) -> Answer

    private let lock = NSLock()
    private var script: Script
    private var received: [Request] = []
    private var accepted = 0
    private var dropped = 0
    private let channel: Channel
    var port: Int { channel.localAddress!.port! }
    var url: String { "http://127.0.0.1:\(port)" }

    /// `oneRequestPerConnection`: answer the first request on a connection with keep-alive and
    /// close the connection, unanswered, when a second one arrives on it (a server whose idle
    /// timeout struck just as the client reused the connection).
    init(group: EventLoopGroup, oneRequestPerConnection: Bool = false, script: @escaping Script) throws {
        self.script = script
        let box = Box()
        channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                box.server?.countConnection()
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(ScriptedHandler(server: box, oneRequestPerConnection: oneRequestPerConnection))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        box.server = self
    }

    /// Replaces the script (a key rotation, another answer).
    func setScript(_ script: @escaping Script) { lock.withLock { self.script = script } }

    var requests: [Request] { lock.withLock { received } }
    /// Connections accepted so far.
    var connections: Int { lock.withLock { accepted } }
    fileprivate func countConnection() { lock.withLock { accepted += 1 } }
    /// Requests closed unanswered (`oneRequestPerConnection`).
    var droppedRequests: Int { lock.withLock { dropped } }
    fileprivate func countDropped() { lock.withLock { dropped += 1 } }

    fileprivate func answer(_ request: Request) -> Answer {
        lock.withLock {
            received.append(request)
            return script
        }(request)
    }

    func close() { try? channel.close().wait() }

    /// Set once the server is bound (the handlers need it before `init` returns).
    fileprivate final class Box: @unchecked Sendable {
        weak var server: ScriptedHTTPServer?
    }
}

private final class ScriptedHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let server: ScriptedHTTPServer.Box
    let oneRequestPerConnection: Bool
    private var head: HTTPRequestHead?
    private var answered = 0
    /// Set once the connection is being closed unanswered: what else was read is ignored.
    private var dropping = false

    init(server: ScriptedHTTPServer.Box, oneRequestPerConnection: Bool) {
        self.server = server
        self.oneRequestPerConnection = oneRequestPerConnection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let received):
            if oneRequestPerConnection && answered > 0 {
                head = nil
                dropping = true
                server.server?.countDropped()
                return context.close(promise: nil)
            }
            head = received
        case .body: break
        case .end:
            if dropping { return }
            guard let head, let server = server.server else { return context.close(promise: nil) }
            answered += 1
            let answer = server.answer(.init(method: head.method.rawValue, uri: head.uri, headers: head.headers.map { ($0.name, $0.value) }))
            var headers = HTTPHeaders(answer.headers)
            headers.replaceOrAdd(name: "content-length", value: String(answer.body.utf8.count))
            if !head.isKeepAlive { headers.add(name: "connection", value: "close") }
            let status = HTTPResponseStatus(statusCode: answer.status)
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: answer.body)))), promise: nil)
            let keepAlive = head.isKeepAlive
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { bound.value.close(promise: nil) }
            }
        }
    }
}

/// An OAuth issuer made in the test, with swift-crypto keys (RSA-2048, P-256, Ed25519): its JWKS
/// and tokens signed by it, or forged the ways attackers try.
struct TokenIssuer: Sendable {
    static let issuer = "https://issuer.example.test"

    let rsa = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    let p256 = P256.Signing.PrivateKey()
    let ed25519 = Curve25519.Signing.PrivateKey()

    enum Algorithm: String, Sendable { case rs256 = "RS256", es256 = "ES256", edDSA = "EdDSA" }

    func jwk(_ algorithm: Algorithm, kid: String) -> JSONValue {
        switch algorithm {
        case .rs256:
            let primitives = try! rsa.publicKey.getKeyPrimitives()
            return .object(["kty": .string("RSA"), "kid": .string(kid), "use": .string("sig"), "alg": .string("RS256"),
                            "n": .string(Base64URL.encode(primitives.modulus)), "e": .string(Base64URL.encode(primitives.publicExponent))])
        case .es256:
            let raw = Array(p256.publicKey.rawRepresentation)
            return .object(["kty": .string("EC"), "crv": .string("P-256"), "kid": .string(kid),
                            "x": .string(Base64URL.encode(raw[0..<32])), "y": .string(Base64URL.encode(raw[32..<64]))])
        case .edDSA:
            return .object(["kty": .string("OKP"), "crv": .string("Ed25519"), "kid": .string(kid),
                            "x": .string(Base64URL.encode(ed25519.publicKey.rawRepresentation))])
        }
    }

    /// `rsa-1`, `ec-1`, `ed-1`, as a JWKS document.
    var jwks: String { Self.document([jwk(.rs256, kid: "rsa-1"), jwk(.es256, kid: "ec-1"), jwk(.edDSA, kid: "ed-1")]) }

    static func document(_ keys: [JSONValue]) -> String { JSONValue.object(["keys": .array(keys)]).canonicalString }

    static func claims(audience: String = "https://\(shopHost)", scope: String? = "read write", exp: Double? = Date().timeIntervalSince1970 + 600,
                       nbf: Double? = nil, issuer: String = issuer, subject: String = "alice") -> [String: JSONValue] {
        var claims: [String: JSONValue] = ["iss": .string(issuer), "sub": .string(subject), "aud": .string(audience),
                                           "iat": .int(Int(Date().timeIntervalSince1970) - 5)]
        if let exp { claims["exp"] = .int(Int(exp)) }
        if let nbf { claims["nbf"] = .int(Int(nbf)) }
        if let scope { claims["scope"] = .string(scope) }
        return claims
    }

    static func signingInput(header: [String: JSONValue], claims: [String: JSONValue]) -> String {
        Base64URL.encode(JSONValue.object(header).canonicalBytes) + "." + Base64URL.encode(JSONValue.object(claims).canonicalBytes)
    }

    func token(_ algorithm: Algorithm, kid: String? = nil, claims: [String: JSONValue] = TokenIssuer.claims()) -> String {
        let defaultKid = ["RS256": "rsa-1", "ES256": "ec-1", "EdDSA": "ed-1"][algorithm.rawValue]!
        let header: [String: JSONValue] = ["alg": .string(algorithm.rawValue), "typ": .string("JWT"), "kid": .string(kid ?? defaultKid)]
        let input = Self.signingInput(header: header, claims: claims)
        let message = Array(input.utf8)
        let signature: [UInt8]
        switch algorithm {
        case .rs256: signature = Array(try! rsa.signature(for: message, padding: .insecurePKCS1v1_5).rawRepresentation)
        case .es256: signature = Array(try! p256.signature(for: message).rawRepresentation)
        case .edDSA: signature = Array(try! ed25519.signature(for: message))
        }
        return input + "." + Base64URL.encode(signature)
    }

    /// `alg: none` with an empty signature (RFC 7519 §6).
    static func unsecured(claims: [String: JSONValue] = TokenIssuer.claims()) -> String {
        signingInput(header: ["alg": .string("none"), "kid": .string("rsa-1")], claims: claims) + "."
    }

    /// HS256 with the issuer's RSA public key (PEM text) as the HMAC secret: the classic forgery.
    func hs256WithRSAPublicKey(claims: [String: JSONValue] = TokenIssuer.claims()) -> String {
        let input = Self.signingInput(header: ["alg": .string("HS256"), "typ": .string("JWT"), "kid": .string("rsa-1")], claims: claims)
        let secret = SymmetricKey(data: Array(rsa.publicKey.pemRepresentation.utf8))
        return input + "." + Base64URL.encode(Array(HMAC<Crypto.SHA256>.authenticationCode(for: Array(input.utf8), using: secret)))
    }
}

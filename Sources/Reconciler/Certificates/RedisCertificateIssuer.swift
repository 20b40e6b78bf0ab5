import AsyncHTTPClient
import Crypto
import Foundation
import NIOSSL
import RedisClient
import Spec

/// The real `CertificateIssuer`: ACME over HTTP-01 for `tls: acme`, the internal CA for
/// `tls: self-signed`. Everything it keeps lives in Redis under the prefix:
/// - `acme:account:<sha256(directory|email)>` (hash: `key` PEM, `url`, `directory`, `email`): one
///   account key (P-256) per directory and contact, created on first use;
/// - `acme:challenge:<token>`: the key authorization while the CA validates (SET PX, deleted after);
/// - `ca` (hash: `cert`, `key`): the internal CA, created once.
///
/// `issue(_:)` blocks its caller (the controller's pass thread or the CLI) while the order runs on
/// async-http-client; Redis is only touched from a private serial queue, never from an event loop
/// or the cooperative pool.
public final class RedisCertificateIssuer: CertificateIssuer, @unchecked Sendable {
    public struct Options: Sendable {
        public var redisURL: String
        public var prefix: String
        /// PEM bundle of CAs trusted for the ACME directory's own HTTPS certificate (pebble's), in
        /// addition to nothing else: when set, only it is trusted.
        public var acmeCAFile: String?
        /// Lifetime of a challenge key authorization in Redis.
        public var challengeTTLMilliseconds = 300_000
        public var orderTimeout: TimeInterval = 180

        public init(redisURL: String, prefix: String = "berth:", acmeCAFile: String? = nil) {
            self.redisURL = redisURL
            self.prefix = prefix
            self.acmeCAFile = acmeCAFile
        }
    }

    public let options: Options
    private let keys: RedisKeys
    private let queue = DispatchQueue(label: "berth.certificates.redis")
    private var connection: RedisConnection?
    private let lock = NSLock()
    private var httpClient: HTTPClient?
    private var clients: [String: ACMEClient] = [:]

    public init(options: Options) throws {
        self.options = options
        self.keys = RedisKeys(prefix: options.prefix)
        if let file = options.acmeCAFile, !FileManager.default.isReadableFile(atPath: file) {
            throw IssuanceError(code: "acme-ca-file", message: "--acme-ca-file \(file) cannot be read")
        }
    }

    deinit { try? httpClient?.syncShutdown() }

    /// Closes the HTTP client and the Redis connection.
    public func shutdown() {
        let client = lock.withLock { () -> HTTPClient? in
            defer { httpClient = nil; clients = [:] }
            return httpClient
        }
        try? client?.syncShutdown()
        queue.sync { connection?.close(); connection = nil }
    }

    // MARK: Issuing

    public func issue(_ request: CertificateRequest) throws -> IssuedCertificate {
        switch request.source {
        case .selfSigned:
            return try certificateAuthority().issue(hosts: request.hosts)
        case .acme:
            guard let directory = request.directory else {
                throw IssuanceError(code: "acme-no-directory", message: "no ACME directory configured", hint: "set --acme-directory or spec.acme.directory")
            }
            return try Self.blocking { try await self.issueACME(request, directory: directory) }
        }
    }

    func issueACME(_ request: CertificateRequest, directory: String) async throws -> IssuedCertificate {
        let client = try await acmeClient(directory: directory, email: request.email)
        let key = P256.Signing.PrivateKey()
        let chain = try await client.order(hosts: request.hosts, key: key, email: request.email,
                                           challenges: RedisChallengePublisher(issuer: self))
        if let url = await client.accountURL {
            let accountKey = keys.acmeAccount(Self.accountDigest(directory: directory, email: request.email))
            _ = try? await onRedis { connection in try connection.send(["HSET", accountKey, "url", url]) }
        }
        let metadata = try CertificateInspection.metadata(chainPEM: chain, source: .acme)
        let missing = Set(request.hosts).subtracting(metadata.sans)
        guard missing.isEmpty else {
            throw IssuanceError(code: "certificate-invalid", message: "the CA's certificate does not name \(missing.sorted().joined(separator: ", "))")
        }
        return IssuedCertificate(chainPEM: chain, keyPEM: key.pemRepresentation, metadata: metadata)
    }

    // MARK: ACME accounts

    static func accountDigest(directory: String, email: String?) -> String { Spec.SHA256.hex("\(directory)|\(email ?? "")") }

    private func acmeClient(directory: String, email: String?) async throws -> ACMEClient {
        let digest = Self.accountDigest(directory: directory, email: email)
        if let client = lock.withLock({ clients[digest] }) { return client }
        let key = keys.acmeAccount(digest)
        // Create the account key once (HSETNX), then use whichever key won.
        let candidate = P256.Signing.PrivateKey().pemRepresentation
        let stored = try await onRedis { connection -> [String?] in
            _ = try connection.send(["HSETNX", key, "key", candidate])
            _ = try connection.send(["HSET", key, "directory", directory, "email", email ?? ""])
            return (try connection.send(["HMGET", key, "key", "url"]).array ?? []).map(\.string)
        }
        guard let pem = stored.first ?? nil, let accountKey = try? P256.Signing.PrivateKey(pemRepresentation: pem) else {
            throw IssuanceError(code: "acme-account", message: "the account key in \(key) is not a P-256 key", hint: "delete \(key) to make a new account")
        }
        let client = ACMEClient(http: try http(), directoryURL: directory, accountKey: accountKey, accountURL: stored.count > 1 ? stored[1] : nil)
        await client.setOrderTimeout(options.orderTimeout)
        let url = try await client.account(email: email)
        _ = try await onRedis { connection in try connection.send(["HSET", key, "url", url]) }
        lock.withLock { clients[digest] = client }
        return client
    }

    private func http() throws -> HTTPClient {
        try lock.withLock {
            if let httpClient { return httpClient }
            var tls = TLSConfiguration.makeClientConfiguration()
            if let file = options.acmeCAFile {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(file))
            }
            var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
            configuration.timeout = .init(connect: .seconds(10), read: .seconds(30))
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            httpClient = client
            return client
        }
    }

    // MARK: Challenges

    func publishChallenge(token: String, keyAuthorization: String) async throws {
        let key = keys.acmeChallenge(token), ttl = String(options.challengeTTLMilliseconds)
        _ = try await onRedis { connection in try connection.send(["SET", key, keyAuthorization, "PX", ttl]) }
    }

    func withdrawChallenge(token: String) async {
        let key = keys.acmeChallenge(token)
        _ = try? await onRedis { connection in try connection.send(["DEL", key]) }
    }

    // MARK: Internal CA

    /// The internal CA, created on first use (atomically: two controllers get the same one).
    public func certificateAuthority() throws -> SelfSignedCA {
        let key = keys.certificateAuthority
        var values = try queue.sync { try redis { connection in try connection.send(["HMGET", key, "cert", "key"]).array ?? [] } }
        if values.count != 2 || values[0].string == nil || values[1].string == nil {
            let generated = try SelfSignedCA.generate(name: "Berth internal CA (\(options.prefix))")
            values = try queue.sync {
                try redis { connection in
                    try connection.evaluate(Self.createOnce, keys: [key], arguments: [generated.certificatePEM, generated.keyPEM]).array ?? []
                }
            }
        }
        guard values.count == 2, let certificate = values[0].string, let privateKey = values[1].string else {
            throw IssuanceError(code: "ca-invalid", message: "\(key) does not hold a CA (cert and key)")
        }
        do { return try SelfSignedCA(certificatePEM: certificate, keyPEM: privateKey) } catch {
            throw IssuanceError(code: "ca-invalid", message: "the CA in \(key) does not parse: \(error)", hint: "delete \(key) to make a new CA (every self-signed certificate is then re-issued by the next pass only if it renews)")
        }
    }

    /// KEYS: ca. ARGV: cert PEM, key PEM. Creates the CA hash only when absent; returns cert and key.
    static let createOnce = RedisScript("""
        if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('HSET', KEYS[1], 'cert', ARGV[1], 'key', ARGV[2]) end
        return redis.call('HMGET', KEYS[1], 'cert', 'key')
        """)

    // MARK: Redis and blocking

    /// Runs `body` with the issuer's connection; call on `queue` only.
    private func redis<T>(_ body: (RedisConnection) throws -> T) throws -> T {
        do {
            if connection == nil || connection!.isClosed {
                connection = try RedisConnection(url: try RedisURL(parsing: options.redisURL))
            }
            return try body(connection!)
        } catch let error as RedisError {
            connection?.close()
            connection = nil
            throw RedisStateStore.stateError(error)
        }
    }

    private func onRedis<T: Sendable>(_ body: @escaping @Sendable (RedisConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try self.redis(body) }) }
        }
    }

    /// Runs async work to completion from a thread that may block (never from the cooperative pool).
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let semaphore = DispatchSemaphore(value: 0)
        let box = ResultBox<T>()
        Task {
            do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
            semaphore.signal()
        }
        semaphore.wait()
        return try box.result!.get()
    }
}

private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, Error>?
}

struct RedisChallengePublisher: ChallengePublisher {
    let issuer: RedisCertificateIssuer
    func publish(token: String, keyAuthorization: String) async throws { try await issuer.publishChallenge(token: token, keyAuthorization: keyAuthorization) }
    func withdraw(token: String) async { await issuer.withdrawChallenge(token: token) }
}

extension ACMEClient {
    func setOrderTimeout(_ timeout: TimeInterval) { orderTimeout = timeout }
}

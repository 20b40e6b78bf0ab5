import NIOCore
import NIOPosix
import RedisClient

/// A whole proxy replica — watcher, HTTP and HTTPS listeners, admin, access log — started and
/// stopped as one object: `berth-proxy` is this plus flags, and `berth up` runs one in-process.
public final class EmbeddedProxy: @unchecked Sendable {
    public struct Options: Sendable {
        public var redisURL: RedisURL
        public var prefix = "berth:"
        public var replicaID: String
        public var http: [SocketAddress]
        /// HTTPS listeners; certificates come from Redis with the route table, chosen by SNI.
        public var https: [SocketAddress] = []
        /// Certificate (`cert:<name>`) for handshakes whose name matches no host; none refuses them.
        public var defaultCertificate: String?
        public var admin: SocketAddress?
        public var threads = 1
        public var accessLog = true
        /// Approximate cap on the access log stream's length (see `AccessLogShipper.Configuration`).
        public var accessLogMaxEntries = AccessLogShipper.Configuration.defaultMaxStreamLength
        public var configuration = ProxyConfiguration()

        public init(redisURL: RedisURL, replicaID: String, http: [SocketAddress]) {
            self.redisURL = redisURL
            self.replicaID = replicaID
            self.http = http
        }
    }

    public let options: Options
    private let group: MultiThreadedEventLoopGroup
    private let threadPool = NIOThreadPool(numberOfThreads: 2)
    private let watcher: RouteTableWatcher
    private let accessLog: AccessLogShipper
    private let services: ProxyServices
    private let server: ProxyServer
    private let adminServer: AdminServer
    public private(set) var boundHTTP: [SocketAddress] = []
    public private(set) var boundHTTPS: [SocketAddress] = []
    public private(set) var boundAdmin: SocketAddress?

    public init(options: Options) {
        var options = options
        options.configuration.replicaID = options.replicaID
        self.options = options
        group = MultiThreadedEventLoopGroup(numberOfThreads: options.threads)
        let watcher = RouteTableWatcher(configuration: .init(redisURL: options.redisURL, prefix: options.prefix, replicaID: options.replicaID))
        let certificates = options.https.isEmpty ? nil : CertificateStore(defaultName: options.defaultCertificate)
        watcher.certificates = certificates
        self.watcher = watcher
        var logConfiguration = AccessLogShipper.Configuration(redisURL: options.redisURL, streamKey: options.prefix + "log:requests",
                                                              replica: options.replicaID)
        logConfiguration.maxStreamLength = options.accessLogMaxEntries
        let accessLog = AccessLogShipper(configuration: logConfiguration)
        self.accessLog = accessLog
        let metrics = ProxyMetrics()
        services = ProxyServices(configuration: options.configuration, group: group, metrics: metrics,
                                 served: { watcher.served }, tableVersion: { watcher.tableVersion },
                                 accessLog: options.accessLog ? accessLog : nil,
                                 challenges: ChallengeStore(url: options.redisURL, prefix: options.prefix), threadPool: threadPool,
                                 certificates: certificates)
        server = ProxyServer(services: services, group: group)
        // Each new table's key sets are fetched as it goes live, so its first JWT requests need not wait.
        let keySets = services.keySets
        watcher.onSwap = { [weak watcher] _ in
            keySets.prepare(urls: Set(watcher?.authPolicies?.policies.values.compactMap(\.jwksURL) ?? []))
        }
        watcher.otherErrors = { keySets.failures.sorted { $0.key < $1.key }.map { "JWKS \($0.key): \($0.value)" } }
        adminServer = AdminServer(group: group, readiness: {
            let status = watcher.currentStatus
            if let generation = status.generation { return (true, "serving generation \(generation) (revision \(status.revision ?? "?"))") }
            return (false, "no route table loaded" + (status.lastError.map { ": \($0)" } ?? ""))
        }, metrics: {
            let status = watcher.currentStatus
            return metrics.render(generation: status.generation, droppedLogEntries: accessLog.dropped,
                                  tableSwaps: status.swaps, tablesRejected: status.rejected)
        })
    }

    public var status: RouteTableWatcher.Status { watcher.currentStatus }

    public func start() throws {
        threadPool.start()
        watcher.start()
        if options.accessLog { accessLog.start() }
        if !options.https.isEmpty {
            boundHTTPS = try server.start(addresses: options.https, tls: services.certificates)
            services.httpsPort.withLockedValue { $0 = boundHTTPS.first?.port }
        }
        boundHTTP = try server.start(addresses: options.http)
        if let admin = options.admin { boundAdmin = try adminServer.start(address: admin) }
    }

    /// Stops accepting, lets requests in flight finish for up to `grace`, then stops everything.
    public func stop(grace: TimeAmount) {
        server.shutdown(grace: grace)
        watcher.stop()
        accessLog.stop()
        try? group.syncShutdownGracefully()
        try? threadPool.syncShutdownGracefully()
    }
}

import ArgumentParser
import DataPlane
import Dispatch
import Foundation
import NIOCore
import NIOPosix
import RedisClient
import Spec

struct BerthProxy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "berth-proxy",
        abstract: "Berth's data plane: serves the route table that `berth apply` publishes to Redis.",
        discussion: """
            Any number of replicas can run against one Redis. Each loads the published route table at start \
            (answering 503 until one exists), follows announcements and re-checks the generation every \
            2 s, swaps new tables in without touching requests in flight, keeps serving its last good \
            table when Redis is away, and heartbeats under <prefix>proxy:<replica-id>.

            Client identity headers (X-Forwarded-*, X-Real-IP, X-Auth-*) are never trusted: the client \
            address comes from the socket, or from a PROXY protocol header sent by a load balancer in a \
            --proxy-protocol-trusted network (connections from there must send one; from elsewhere a PROXY \
            header is refused).

            SIGTERM stops accepting, lets in-flight requests finish (up to --shutdown-grace), then exits 0.

            Example:
              berth-proxy --redis redis://10.0.0.5:6379/0 --http 0.0.0.0:80 \\
                --proxy-protocol-trusted 10.0.0.0/24
            """)

    @Option(help: ArgumentHelp("Redis URL (default: $REDIS_URL, then redis://127.0.0.1:6379/0).", valueName: "url"))
    var redis: String?

    @Option(help: "Prefix of Berth's Redis keys.")
    var prefix: String = "berth:"

    @Option(name: .customLong("http"), help: ArgumentHelp("Plain HTTP listener (repeatable; default :80 unless only --https is given).", valueName: "addr:port"))
    var http: [String] = []

    @Option(name: .customLong("https"), help: ArgumentHelp("HTTPS listener (repeatable): TLS 1.2/1.3, certificate chosen by SNI from those the controller stores in Redis.", valueName: "addr:port"))
    var https: [String] = []

    @Option(name: .customLong("default-certificate"), help: ArgumentHelp("Certificate (a Domain's name) for TLS handshakes whose server name matches no host; without it they are refused.", valueName: "name"))
    var defaultCertificate: String?

    @Option(help: ArgumentHelp("Admin listener for /healthz, /readyz and /metrics.", valueName: "addr:port"))
    var admin: String = "127.0.0.1:9090"

    @Option(name: .customLong("proxy-protocol-trusted"), help: ArgumentHelp("Network of load balancers that send PROXY protocol headers (repeatable).", valueName: "cidr"))
    var proxyProtocolTrusted: [String] = []

    @Option(name: .customLong("replica-id"), help: "Name of this replica in heartbeats and logs (default: host-pid).")
    var replicaID: String?

    @Option(help: "Event-loop threads (default: the number of cores).")
    var threads: Int = System.coreCount

    @Option(name: .customLong("shutdown-grace"), help: "Seconds to let in-flight requests finish on SIGTERM.")
    var shutdownGrace: Int = 30

    @Option(name: .customLong("max-connections"), help: "Client connections accepted at once.")
    var maxConnections: Int = 10_000

    @Option(name: .customLong("header-timeout"), help: "Seconds to receive a request head once it has started (slowloris).")
    var headerTimeout: Int = 10

    @Option(name: .customLong("idle-timeout"), help: "Seconds a keep-alive connection may sit idle.")
    var idleTimeout: Int = 60

    @Flag(name: .customLong("no-access-log"), help: "Do not write the access log to Redis (it is on by default).")
    var noAccessLog = false

    @Option(name: .customLong("access-log-max-entries"),
            help: ArgumentHelp("About how many entries the access log stream keeps (XTRIM MAXLEN ~ after each batch of entries); each takes about 340 bytes of Redis memory.",
                               valueName: "n"))
    var accessLogMaxEntries: Int = AccessLogShipper.Configuration.defaultMaxStreamLength

    @Option(name: .customLong("upstream-timeout"), help: "Seconds from the end of a request to the upstream's response head (504 after).")
    var upstreamTimeout: Int = 60

    @Option(name: .customLong("auth-timeout"), help: "Seconds allowed for a JWKS fetch or a forward-auth subrequest (503 after).")
    var authTimeout: Int = 5

    @Option(name: .customLong("auth-ca-file"), help: ArgumentHelp("PEM roots to trust for https JWKS and forward-auth URLs instead of the system's.", valueName: "file"))
    var authCAFile: String?

    func validate() throws {
        if authTimeout < 1 { throw ValidationError("--auth-timeout must be at least 1 second") }
        if let authCAFile, !FileManager.default.isReadableFile(atPath: authCAFile) {
            throw ValidationError("--auth-ca-file \(authCAFile) cannot be read")
        }
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
        if accessLogMaxEntries < 1 { throw ValidationError("--access-log-max-entries must be at least 1 (use --no-access-log to write none)") }
        for cidr in proxyProtocolTrusted {
            if case .failure = CIDR.parse(cidr) { throw ValidationError("--proxy-protocol-trusted \(cidr) is not a CIDR such as 10.0.0.0/24") }
        }
        for address in http + https + [admin] where BerthProxy.socketAddress(address) == nil {
            throw ValidationError("\(address) is not an address such as 0.0.0.0:80 or [::]:80")
        }
    }

    static func socketAddress(_ text: String) -> SocketAddress? {
        guard let address = ListenAddress(text) else { return nil }
        return try? SocketAddress(ipAddress: address.host, port: address.port)
    }

    func run() throws {
        let urlText = redis ?? ProcessInfo.processInfo.environment["REDIS_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "redis://127.0.0.1:6379/0"
        let url: RedisURL
        do { url = try RedisURL(parsing: urlText) } catch { throw ValidationError("\(error)") }
        let replica = replicaID ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())"
        var configuration = ProxyConfiguration()
        configuration.replicaID = replica
        configuration.proxyProtocolTrusted = proxyProtocolTrusted.compactMap { try? CIDR.parse($0).get() }
        configuration.maxConnections = maxConnections
        configuration.headerTimeout = .seconds(Int64(headerTimeout))
        configuration.idleTimeout = .seconds(Int64(idleTimeout))
        configuration.firstByteTimeout = .seconds(Int64(upstreamTimeout))
        configuration.authTimeout = .seconds(Int64(authTimeout))
        configuration.authCAFile = authCAFile

        var options = EmbeddedProxy.Options(redisURL: url, replicaID: replica, http: (http.isEmpty && https.isEmpty ? [":80"] : http).compactMap(BerthProxy.socketAddress))
        options.prefix = prefix
        options.https = https.compactMap(BerthProxy.socketAddress)
        options.defaultCertificate = defaultCertificate
        options.admin = BerthProxy.socketAddress(admin)
        options.threads = threads
        options.accessLog = !noAccessLog
        options.accessLogMaxEntries = accessLogMaxEntries
        options.configuration = configuration
        let proxy = EmbeddedProxy(options: options)
        try proxy.start()
        let listening = (proxy.boundHTTP.map { "http://\($0.ipAddress ?? "?"):\($0.port ?? 0)" }
            + proxy.boundHTTPS.map { "https://\($0.ipAddress ?? "?"):\($0.port ?? 0)" }).joined(separator: ", ")
        let adminBound = proxy.boundAdmin
        say("berth-proxy \(replica): listening on \(listening); admin on \(adminBound.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? admin); redis \(url)")

        // Wait for SIGTERM or SIGINT (blocked in main.swift, so they queue for us here).
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        var received: Int32 = 0
        sigwait(&signals, &received)
        say("berth-proxy \(replica): signal \(received), shutting down, letting in-flight requests finish (up to \(shutdownGrace)s)")
        proxy.stop(grace: .seconds(Int64(shutdownGrace)))
    }
}

/// One line to standard output, unbuffered (supervisors and tests read it as it comes).
func say(_ line: String) {
    FileHandle.standardOutput.write((line + "\n").data(using: .utf8)!)
}

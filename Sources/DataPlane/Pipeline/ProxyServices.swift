import Auth
import NIOConcurrencyHelpers
import Foundation
import NIOCore
import NIOPosix
import Routing

/// What every connection handler shares: the current route table, metrics, the access log, the
/// challenge store, and one upstream pool per event loop.
public final class ProxyServices: @unchecked Sendable {
    /// Basic credentials that passed bcrypt recently (by hash of the credentials, never the password).
    let credentialCache = NIOLockedValueBox(CredentialCache(ttl: 60, capacity: 10_000))
    /// The JWK sets of the served JWT policies, by URL.
    let keySets: KeySetStore
    /// Sends forward-auth subrequests (and JWKS fetches, through `keySets`).
    let authClient: AuthHTTPClient
    /// The certificates HTTPS listeners serve (nil: no HTTPS listener).
    public let certificates: CertificateStore?
    /// Port named in redirects from plain HTTP to HTTPS (the first HTTPS listener's, known once
    /// bound); left out of the URL when 443.
    public let httpsPort = NIOLockedValueBox<Int?>(nil)
    public let configuration: ProxyConfiguration
    public let metrics: ProxyMetrics
    /// The served table with its auth policies, read together, and a number that moves whenever
    /// they change (`currentTable` reads the pair again only then).
    let served: @Sendable () -> (matcher: RouteMatcher?, auth: AuthPolicySet?)
    let tableVersion: @Sendable () -> Int
    let accessLog: AccessLogShipper?
    let challenges: ChallengeStore?
    let threadPool: NIOThreadPool
    private let pools: [ObjectIdentifier: UpstreamPool]
    private let tokenCaches: [ObjectIdentifier: LoopTokenCache]
    private let idPrefix: String

    public init(configuration: ProxyConfiguration, group: MultiThreadedEventLoopGroup, metrics: ProxyMetrics,
                served: @escaping @Sendable () -> (matcher: RouteMatcher?, auth: AuthPolicySet?),
                tableVersion: @escaping @Sendable () -> Int, accessLog: AccessLogShipper?, challenges: ChallengeStore?,
                threadPool: NIOThreadPool, certificates: CertificateStore? = nil) {
        self.configuration = configuration
        self.served = served
        self.tableVersion = tableVersion
        self.certificates = certificates
        self.metrics = metrics
        self.accessLog = accessLog
        self.challenges = challenges
        self.threadPool = threadPool
        var pools: [ObjectIdentifier: UpstreamPool] = [:]
        var tokenCaches: [ObjectIdentifier: LoopTokenCache] = [:]
        for (index, loop) in group.makeIterator().enumerated() {
            let pool = UpstreamPool(eventLoop: loop, configuration: configuration, counters: metrics.makeCounters())
            pool.loopIndex = index
            pool.accessLog = accessLog?.makeWriter(for: loop)
            pools[ObjectIdentifier(loop)] = pool
            tokenCaches[ObjectIdentifier(loop)] = LoopTokenCache()
        }
        self.pools = pools
        self.tokenCaches = tokenCaches
        authClient = AuthHTTPClient(caFile: configuration.authCAFile)
        keySets = KeySetStore(client: authClient, group: group, timeout: configuration.authTimeout)
        var random = SystemRandomNumberGenerator()
        idPrefix = String(random.next() & 0xffff_ffff, radix: 16)
    }

    func pool(for loop: EventLoop) -> UpstreamPool {
        if let pool = pools[ObjectIdentifier(loop)] { return pool }
        preconditionFailure("no upstream pool for event loop \(loop)")
    }

    /// The verified-token cache of `loop`'s connections (used on that loop only: no lock).
    func tokenCache(for loop: EventLoop) -> LoopTokenCache {
        if let cache = tokenCaches[ObjectIdentifier(loop)] { return cache }
        preconditionFailure("no token cache for event loop \(loop)")
    }

    /// The table to serve a request on `pool`'s loop with; the policies that go with it are then
    /// `pool.policies`. The loop keeps the pair it read last and reads again only when the table
    /// version moved: no shared lock per request (with one event loop per core, every request used
    /// to take the watcher's lock twice). Returning the policies too would copy the policy set
    /// (four references) for every request, guarded or not.
    func currentMatcher(on pool: UpstreamPool) -> RouteMatcher? {
        let version = tableVersion()
        if version != pool.tableVersion {
            // Read after the version: a swap in between leaves a newer pair under an older number,
            // which the next request replaces.
            (pool.matcher, pool.policies) = served()
            pool.tableVersion = version
        }
        return pool.matcher
    }

    /// A request id unique to this replica's lifetime: `<random prefix>-<loop>-<sequence>`.
    /// Called on `pool`'s event loop.
    func nextRequestID(on pool: UpstreamPool) -> RequestID {
        pool.requestSequence += 1
        if pool.requestIDStem.isEmpty { pool.requestIDStem = idPrefix + "-" + String(pool.loopIndex) + "-" }
        return RequestID(stem: pool.requestIDStem, sequence: pool.requestSequence)
    }
}

/// One event loop's `VerifiedTokenCache`: a JWT checked on a connection of the loop is not
/// checked again on the next request (same or another connection of the loop) for a while.
/// Touched only on its loop, so it needs no lock.
final class LoopTokenCache: @unchecked Sendable {
    var tokens = VerifiedTokenCache(ttl: 30, capacity: 10_000)
}

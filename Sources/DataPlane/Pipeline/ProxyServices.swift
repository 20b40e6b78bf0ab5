import Foundation
import NIOCore
import NIOPosix
import Routing

/// What every connection handler shares: the current route table, metrics, the access log, the
/// challenge store, and one upstream pool per event loop.
public final class ProxyServices: @unchecked Sendable {
    public let configuration: ProxyConfiguration
    public let metrics: ProxyMetrics
    let table: @Sendable () -> RouteMatcher?
    let accessLog: AccessLogShipper?
    let challenges: ChallengeStore?
    let threadPool: NIOThreadPool
    private let pools: [ObjectIdentifier: UpstreamPool]
    private let requestCounter = NSLock()
    private var requestSequence: UInt64 = 0
    private let idPrefix: String

    public init(configuration: ProxyConfiguration, group: MultiThreadedEventLoopGroup, metrics: ProxyMetrics,
                table: @escaping @Sendable () -> RouteMatcher?, accessLog: AccessLogShipper?, challenges: ChallengeStore?,
                threadPool: NIOThreadPool) {
        self.configuration = configuration
        self.metrics = metrics
        self.table = table
        self.accessLog = accessLog
        self.challenges = challenges
        self.threadPool = threadPool
        var pools: [ObjectIdentifier: UpstreamPool] = [:]
        for loop in group.makeIterator() {
            pools[ObjectIdentifier(loop)] = UpstreamPool(eventLoop: loop, configuration: configuration)
        }
        self.pools = pools
        var random = SystemRandomNumberGenerator()
        idPrefix = String(random.next() & 0xffff_ffff, radix: 16)
    }

    func pool(for loop: EventLoop) -> UpstreamPool {
        if let pool = pools[ObjectIdentifier(loop)] { return pool }
        preconditionFailure("no upstream pool for event loop \(loop)")
    }

    /// A request id unique to this replica's lifetime: `<random prefix>-<sequence>`.
    func nextRequestID() -> String {
        let sequence = requestCounter.withLock { () -> UInt64 in
            requestSequence += 1
            return requestSequence
        }
        return "\(idPrefix)-\(String(sequence, radix: 16))"
    }
}

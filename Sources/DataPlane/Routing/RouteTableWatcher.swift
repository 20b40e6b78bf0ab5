import Auth
import Foundation
import Synchronization
import RedisClient
import Routing
import Spec

/// Keeps a replica's route table current: loads the published table at start, follows the
/// announcement channel, and also checks the generation on a timer (a lost pub/sub message must
/// not leave a replica stale). Each new table is decoded and compiled on this watcher's own
/// thread, then swapped in whole; a table that fails is rejected and the last good one stays.
/// When Redis goes away the replica keeps serving and the watcher reconnects with backoff.
/// It also writes the replica's heartbeat (`proxy:<replica>`, with a TTL).
public final class RouteTableWatcher: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var redisURL: RedisURL
        public var prefix: String
        public var replicaID: String
        public var pollInterval: Double = 2
        public var heartbeatInterval: Double = 5
        public var heartbeatTTLMilliseconds = 15_000

        public init(redisURL: RedisURL, prefix: String, replicaID: String) {
            self.redisURL = redisURL
            self.prefix = prefix
            self.replicaID = replicaID
        }
    }

    public struct Status: Sendable {
        public var generation: Int?
        public var revision: String?
        public var lastError: String?
        public var redisConnected = false
        public var swaps = 0
        public var rejected = 0
    }

    public let configuration: Configuration
    private let lock = NSLock()
    private var currentMatcher: RouteMatcher?
    private var status = Status()
    private var stopped = false
    private var thread: Thread?
    private let startedAt = ISO8601DateFormatter().string(from: Date())
    /// Loaded with every new table, before it is swapped in, when this replica serves HTTPS.
    public var certificates: CertificateStore?
    /// Called on the watcher thread after each swap (metrics, logs).
    public var onSwap: (@Sendable (RouteMatcher) -> Void)?
    /// Problems of other parts of the replica (key sets that cannot be fetched), added to the
    /// heartbeat's `last_error` so `berth status` shows them.
    public var otherErrors: (@Sendable () -> [String])?

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// The table to serve, or nil before one was ever loaded (the proxy answers 503 then).
    public var matcher: RouteMatcher? { lock.withLock { currentMatcher } }
    /// The served table and its auth policies, read together (one lock, one consistent pair).
    public var served: (matcher: RouteMatcher?, auth: AuthPolicySet?) { lock.withLock { (currentMatcher, currentAuth) } }
    /// Bumped after every swap: an event loop re-reads `served` only when this moved, so requests
    /// take no shared lock (see `ProxyServices.currentTable`).
    public var tableVersion: Int { swapCount.load(ordering: .acquiring) }
    private let swapCount = Atomic<Int>(0)
    /// The served table's auth policies, compiled with it.
    public var authPolicies: AuthPolicySet? { lock.withLock { currentAuth } }
    private var currentAuth: AuthPolicySet?
    public var currentStatus: Status { lock.withLock { status } }

    private var isStopped: Bool { lock.withLock { stopped } }

    public func start() {
        let thread = Thread { [self] in self.runLoop() }
        thread.name = "berth-routetable-watcher"
        self.thread = thread
        thread.start()
    }

    public func stop() { lock.withLock { stopped = true } }

    // MARK: Loop

    private func runLoop() {
        var backoff = 0.1
        while !isStopped {
            do {
                let commands = try RedisConnection(url: configuration.redisURL, connectTimeout: .seconds(2), commandTimeout: .seconds(5))
                let subscriber = try RedisConnection(url: configuration.redisURL, connectTimeout: .seconds(2), commandTimeout: nil)
                try subscriber.subscribe([configuration.prefix + "events"])
                update { $0.redisConnected = true }
                backoff = 0.1
                try serve(commands: commands, subscriber: subscriber)
            } catch {
                update {
                    $0.redisConnected = false
                    $0.lastError = "redis: \(error)"
                }
                Thread.sleep(forTimeInterval: backoff)
                backoff = min(backoff * 2, 5)
            }
        }
    }

    private func serve(commands: RedisConnection, subscriber: RedisConnection) throws {
        var nextHeartbeat = Date()
        var nextPoll = Date()
        while !isStopped {
            let now = Date()
            if now >= nextPoll {
                let served = currentStatus.generation
                try refresh(commands)
                nextPoll = now.addingTimeInterval(configuration.pollInterval)
                // A controller rolling out replicas waits for every proxy to report the new table
                // before it stops the old ones: say so now rather than at the next heartbeat.
                if currentStatus.generation != served { nextHeartbeat = now }
            }
            if now >= nextHeartbeat {
                try heartbeat(commands)
                nextHeartbeat = now.addingTimeInterval(configuration.heartbeatInterval)
            }
            let wait = max(0.01, min(nextPoll.timeIntervalSinceNow, nextHeartbeat.timeIntervalSinceNow, 0.5))
            if try subscriber.nextMessage(timeout: .milliseconds(Int(wait * 1000))) != nil {
                nextPoll = Date()  // an announcement: check now
            }
        }
    }

    /// Loads and swaps the table when the published generation differs from the one served.
    func refresh(_ connection: RedisConnection) throws {
        let replies = try connection.pipeline([["GET", configuration.prefix + "routetable:generation"],
                                               ["GET", configuration.prefix + "routetable:hash"]])
        guard let generation = replies[0].string.flatMap({ Int($0) }) else { return }
        let hash = replies[1].string
        // Generation and content hash together name a table: after Redis lost its data, a new
        // table can be published under a generation number this replica already served.
        let served = lock.withLock { (status.generation, servedHash) }
        if generation == served.0 && hash == served.1 { return }
        if lock.withLock({ rejectedGeneration == generation && rejectedHash == hash }) { return }
        guard let bytes = try connection.send(["GET", configuration.prefix + "routetable"]).bytes else { return }
        do {
            let document = try RouteTableDocument(json: try JSONValue.parse(bytes: bytes))
            let matcher = try RouteMatcher(document: document)
            // Every policy must compile, or the table is rejected whole (like a bad regex).
            let auth: AuthPolicySet
            auth = try AuthPolicySet(document: document)
            // Certificates first, so that a redirect to HTTPS never precedes the certificate it needs.
            // One that cannot be loaded is reported; the table is still served.
            let certificateErrors = certificates?.update(table: document) { name in
                let items = try connection.send(["HGETALL", configuration.prefix + "cert:" + name]).array ?? []
                var fields: [String: String] = [:]
                for index in stride(from: 0, to: items.count - 1, by: 2) {
                    if let key = items[index].string { fields[key] = items[index + 1].string ?? "" }
                }
                return fields
            } ?? []
            lock.withLock {
                currentMatcher = matcher
                currentAuth = auth
                servedHash = hash
                status.generation = document.generation
                status.revision = document.revision
                status.lastError = certificateErrors.isEmpty ? nil : certificateErrors.joined(separator: "; ")
                status.swaps += 1
            }
            swapCount.add(1, ordering: .releasing)
            onSwap?(matcher)
        } catch {
            lock.withLock {
                rejectedGeneration = generation
                rejectedHash = hash
                status.rejected += 1
                status.lastError = "generation \(generation) rejected, still serving \(status.generation.map(String.init) ?? "nothing"): \(error)"
            }
        }
    }

    private var rejectedGeneration: Int?
    private var rejectedHash: String?
    private var servedHash: String?

    func heartbeat(_ connection: RedisConnection) throws {
        let current = currentStatus
        let key = configuration.prefix + "proxy:" + configuration.replicaID
        var fields = ["started_at", startedAt, "pid", String(getpid()), "host", ProcessInfo.processInfo.hostName,
                      "generation", current.generation.map(String.init) ?? "", "revision", current.revision ?? "",
                      "last_error", ([current.lastError].compactMap { $0 } + (otherErrors?() ?? [])).joined(separator: "; "),
                      "seen_at", ISO8601DateFormatter().string(from: Date())]
        if fields.count % 2 != 0 { fields.removeLast() }
        let replies = try connection.pipeline([["HSET", key] + fields, ["PEXPIRE", key, String(configuration.heartbeatTTLMilliseconds)]])
        if let error = replies.compactMap(\.errorMessage).first { throw RedisError(serverReply: error) }
    }

    private func update(_ body: (inout Status) -> Void) { lock.withLock { body(&status) } }

    /// Installs a table directly (tests, and a replica started with a table file).
    public func install(_ matcher: RouteMatcher) {
        lock.withLock {
            currentMatcher = matcher
            status.generation = matcher.document.generation
            status.revision = matcher.document.revision
        }
        swapCount.add(1, ordering: .releasing)
    }
}

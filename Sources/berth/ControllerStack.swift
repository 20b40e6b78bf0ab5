import ArgumentParser
import Foundation
import Logging
import NIOPosix
import Reconciler
import ServiceLifecycle
import Spec

/// The controller with its listener and `berth sync` subscription, as `berth controller` and
/// `berth up` run it.
final class ControllerStack: @unchecked Sendable {
    let controller: Controller
    let api: ControllerAPI
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let server: ControllerServer
    private let sync: SyncListener
    private let listen: (host: String, port: Int)
    private(set) var boundListener = ""

    init(configuration: ControllerConfiguration, listen: (host: String, port: Int), verifier: WebhookVerifier?, quiet: Bool = false) throws {
        controller = try Controller(configuration: configuration)
        api = ControllerAPI(controller: controller, verifier: verifier)
        server = ControllerServer(api: api, group: group)
        let controller = self.controller
        sync = SyncListener(redisURL: configuration.redisURL, prefix: configuration.prefix) { message in
            controller.trigger(message.isEmpty ? "sync" : message)
        }
        self.listen = listen
        let lastLeader = LockedBox(false)
        controller.onPass = { record, snapshot in
            let changedLeadership = lastLeader.exchange(snapshot.leader) != snapshot.leader
            guard !quiet || record.outcome != .unchanged else { return }
            if record.outcome == .unchanged && !changedLeadership { return }
            if record.outcome == .standby && !changedLeadership { return }
            var line = "\(Timestamps.string(record.startedAt)) pass #\(record.sequence) (\(record.trigger)): \(record.outcome.rawValue)"
            if record.outcome == .standby { line += " — \(snapshot.leaseHolder ?? "another controller") holds the apply lease" }
            if let revision = record.revision, record.outcome != .standby { line += ", revision \(PlanRenderer.shortRevision(revision))" }
            if record.outcome == .applied || record.outcome == .degraded { line += ", route table generation \(snapshot.generation)" }
            line += " in \(Int((record.duration * 1000).rounded())) ms"
            for change in record.changes.prefix(20) { line += "\n  \(change)" }
            if record.changes.count > 20 { line += "\n  … and \(record.changes.count - 20) more (see berth status)" }
            if let error = record.error { line += "\n  \(error)" }
            if let invalid = snapshot.invalid, record.outcome == .invalid {
                line += "\n" + invalid.diagnostics.map { "  " + $0.replacingOccurrences(of: "\n", with: "\n  ") }.joined(separator: "\n")
            }
            writeStdout(line + "\n")
        }
        controller.onLog = { line in writeStdout("\(Timestamps.string(Date()))   \(line)\n") }
    }

    /// Starts the listener, the sync subscription and the pass loop.
    func start() throws {
        let address = try server.start(host: listen.host, port: listen.port)
        boundListener = "http://\(address.ipAddress ?? listen.host):\(address.port ?? listen.port)"
        sync.start()
        controller.start()
    }

    func stop() {
        controller.stop()
        sync.stop()
        server.stop()
        try? group.syncShutdownGracefully()
    }
}

/// A value shared between threads under a lock.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func exchange(_ new: Value) -> Value { lock.withLock { let old = value; value = new; return old } }
    var current: Value { lock.withLock { value } }
}

/// Adapts something started and stopped by blocking calls to swift-service-lifecycle: it runs
/// until graceful shutdown (SIGTERM, SIGINT) is asked for, then stops on a thread of its own so
/// the cooperative pool is never blocked.
struct BlockingService: Service {
    let start: @Sendable () throws -> Void
    let stop: @Sendable () -> Void

    func run() async throws {
        try start()
        try? await gracefulShutdown()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                stop()
                continuation.resume()
            }
            thread.start()
        }
    }
}

/// Runs services until SIGTERM or SIGINT, then shuts them down gracefully in reverse order.
func runUntilSignalled(_ services: [any Service]) async throws {
    var logger = Logger(label: "berth")
    logger.logLevel = .warning
    let group = ServiceGroup(configuration: .init(
        services: services.map { .init(service: $0) },
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger))
    try await group.run()
}

/// "30s", "2m", "500ms" → seconds, with an error that says what is expected.
func parseInterval(_ text: String, option: String) throws -> TimeInterval {
    guard let milliseconds = Spec.Duration.parseMilliseconds(text), milliseconds > 0 else {
        throw ValidationError("\(option) \"\(text)\" is not a duration such as 500ms, 2s, 30s or 5m")
    }
    return Double(milliseconds) / 1000
}

/// "127.0.0.1:9000", "[::1]:9000", ":9000" → host and port.
func parseListen(_ text: String, option: String) throws -> (host: String, port: Int) {
    guard let address = ListenAddress(text) else {
        throw ValidationError("\(option) \"\(text)\" is not ADDRESS:PORT such as 127.0.0.1:9000")
    }
    return (address.host, address.port)
}

func readWebhookSecret(_ path: String?) throws -> WebhookVerifier? {
    guard let path else { return nil }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ValidationError("--webhook-secret-file \(path) cannot be read")
    }
    guard let verifier = WebhookVerifier(secret: Array(data)) else {
        throw ValidationError("--webhook-secret-file \(path) is empty; put the shared secret configured on the git host in it")
    }
    return verifier
}

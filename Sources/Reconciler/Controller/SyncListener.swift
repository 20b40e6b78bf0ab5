import Foundation
import RedisClient

/// `berth sync` from any host: a message on the `<prefix>control` pub/sub channel triggers a pass.
/// Listens on its own connection and thread, reconnecting with backoff when Redis goes away.
public final class SyncListener: @unchecked Sendable {
    public static func channel(prefix: String) -> String { prefix + "control" }

    private let url: String
    private let channel: String
    private let onMessage: @Sendable (String) -> Void
    private let lock = NSLock()
    private var stopped = false
    private let finished = DispatchSemaphore(value: 0)

    public init(redisURL: String, prefix: String, onMessage: @escaping @Sendable (String) -> Void) {
        self.url = redisURL
        self.channel = SyncListener.channel(prefix: prefix)
        self.onMessage = onMessage
    }

    public func start() {
        let thread = Thread { [self] in
            run()
            finished.signal()
        }
        thread.name = "berth-sync-listener"
        thread.start()
    }

    public func stop() {
        lock.withLock { stopped = true }
        finished.wait()
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    private func run() {
        var delay = 0.1
        while !isStopped {
            do {
                let connection = try RedisConnection(url, connectTimeout: .seconds(2), commandTimeout: .seconds(5))
                defer { connection.close() }
                try connection.subscribe([channel])
                delay = 0.1
                while !isStopped {
                    // Short waits so stop() is prompt.
                    if let message = try connection.nextMessage(timeout: .milliseconds(250)) {
                        onMessage(String(decoding: message.payload, as: UTF8.self))
                    }
                }
            } catch {
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, 5)
            }
        }
    }
}

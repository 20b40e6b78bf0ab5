import Foundation
import RedisClient

/// Ships access-log entries to the Redis stream `log:requests` from its own thread, in pipelined
/// batches. Requests never wait for it: `record` only appends to a bounded queue, and when the
/// queue is full (Redis slow or gone) the entry is dropped and counted.
public final class AccessLogShipper: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var redisURL: RedisURL
        public var streamKey: String
        public var capacity = 10_000
        public var batchSize = 500
        /// Approximate cap on the stream's length (XADD MAXLEN ~).
        public var maxStreamLength = 100_000

        public init(redisURL: RedisURL, streamKey: String) {
            self.redisURL = redisURL
            self.streamKey = streamKey
        }
    }

    public let configuration: Configuration
    private let lock = NSLock()
    private let ready = NSCondition()
    private var queue: [AccessLogEntry] = []
    private var droppedCount = 0
    private var shippedCount = 0
    private var stopped = false

    public init(configuration: Configuration) {
        self.configuration = configuration
        queue.reserveCapacity(configuration.capacity)
    }

    public var dropped: Int { lock.withLock { droppedCount } }
    public var shipped: Int { lock.withLock { shippedCount } }
    public var queued: Int { lock.withLock { queue.count } }

    /// Non-blocking: queues the entry or drops it when the queue is full.
    public func record(_ entry: AccessLogEntry) {
        let wake: Bool = lock.withLock {
            guard queue.count < configuration.capacity else { droppedCount += 1; return false }
            queue.append(entry)
            return queue.count >= configuration.batchSize
        }
        if wake { ready.signal() }
    }

    public func start() {
        let thread = Thread { [self] in self.run() }
        thread.name = "berth-access-log"
        thread.start()
    }

    /// Stops after one last attempt to ship what is queued.
    public func stop() {
        lock.withLock { stopped = true }
        ready.signal()
    }

    private func run() {
        var connection: RedisConnection?
        var backoff = 0.1
        while true {
            ready.lock()
            _ = ready.wait(until: Date().addingTimeInterval(0.1))
            ready.unlock()
            let (batch, finished) = lock.withLock { () -> ([AccessLogEntry], Bool) in
                let batch = Array(queue.prefix(configuration.batchSize))
                queue.removeFirst(batch.count)
                return (batch, stopped)
            }
            if !batch.isEmpty {
                do {
                    if connection == nil || connection!.isClosed {
                        connection = try RedisConnection(url: configuration.redisURL, connectTimeout: .seconds(1), commandTimeout: .seconds(2))
                    }
                    let commands = batch.map { ["XADD", configuration.streamKey, "MAXLEN", "~", String(configuration.maxStreamLength), "*"] + $0.fields }
                    _ = try connection!.pipeline(commands)
                    lock.withLock { shippedCount += batch.count }
                    backoff = 0.1
                } catch {
                    connection?.close()
                    connection = nil
                    lock.withLock { droppedCount += batch.count }
                    Thread.sleep(forTimeInterval: backoff)
                    backoff = min(backoff * 2, 2)
                }
            }
            if finished && lock.withLock({ queue.isEmpty }) { return }
        }
    }
}

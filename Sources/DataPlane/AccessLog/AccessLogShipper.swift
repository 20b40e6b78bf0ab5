import Foundation
import RedisClient

/// Ships access-log entries to the Redis stream `log:requests` from its own thread, in pipelined
/// batches of XADDs encoded straight to RESP (one write and one read per batch). Requests never wait for it: `record` only appends to a bounded queue, and when the
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
        var pipe: RESPPipe?
        var backoff = 0.1
        var taken: [AccessLogEntry] = []
        taken.reserveCapacity(configuration.capacity)
        var encoded: [UInt8] = []
        // Every XADD starts the same: `XADD <key> MAXLEN ~ <n> *`.
        var prefix: [UInt8] = []
        RESPPipe.appendCommand(&prefix, ["XADD", configuration.streamKey, "MAXLEN", "~", String(configuration.maxStreamLength), "*"])
        prefix.removeFirst(4)  // "*6\r\n": the real count includes the fields
        var header: [UInt8] = []
        RESPPipe.appendDecimal(&header, 6 + 2 * AccessLogEntry.fieldCount)
        header = [UInt8(ascii: "*")] + header + [0x0d, 0x0a] + prefix
        while true {
            ready.lock()
            _ = ready.wait(until: Date().addingTimeInterval(0.1))
            ready.unlock()
            // Take everything queued in O(1) under the lock (the event loops append meanwhile).
            let finished = lock.withLock { () -> Bool in
                swap(&queue, &taken)
                return stopped
            }
            var start = 0
            while start < taken.count {
                let batch = taken[start..<min(taken.count, start + configuration.batchSize)]
                start = batch.endIndex
                do {
                    if pipe == nil { pipe = try RESPPipe(url: configuration.redisURL, timeout: 2) }
                    encoded.removeAll(keepingCapacity: true)
                    for entry in batch {
                        encoded.append(contentsOf: header)
                        entry.appendFields(to: &encoded)
                    }
                    try pipe!.write(encoded)
                    let refused = try pipe!.readReplies(batch.count)
                    lock.withLock {
                        shippedCount += batch.count - refused
                        droppedCount += refused
                    }
                    backoff = 0.1
                } catch {
                    pipe?.close()
                    pipe = nil
                    lock.withLock { droppedCount += taken.count - batch.startIndex }
                    start = taken.count
                    Thread.sleep(forTimeInterval: backoff)
                    backoff = min(backoff * 2, 2)
                }
            }
            taken.removeAll(keepingCapacity: true)
            if finished && lock.withLock({ queue.isEmpty }) { return }
        }
    }
}

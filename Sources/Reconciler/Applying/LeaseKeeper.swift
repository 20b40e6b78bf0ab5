import Foundation

/// Renews a lease at a third of its lifetime on its own thread and connection, until stopped.
/// If renewal fails (the lease was taken over, Redis is gone), `lost` turns true; the fenced
/// writes would refuse anyway, this only lets the caller say why sooner.
public final class LeaseKeeper: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    private var lostFlag = false
    private var thread: Thread?

    public init(lease: Lease, renew: @escaping @Sendable (Lease) throws -> Void) {
        let interval = Double(lease.ttlMilliseconds) / 3000
        let thread = Thread { [weak self] in
            while true {
                Thread.sleep(forTimeInterval: interval)
                guard let self, !self.isStopped else { return }
                do { try renew(lease) } catch {
                    self.lock.withLock { self.lostFlag = true }
                    return
                }
            }
        }
        thread.name = "berth-lease-keeper"
        self.thread = thread
        thread.start()
    }

    private var isStopped: Bool { lock.withLock { stopped } }
    public var lost: Bool { lock.withLock { lostFlag } }
    public func stop() { lock.withLock { stopped = true } }
}

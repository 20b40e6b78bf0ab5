import Foundation
import Spec

/// Checks running replicas at their instance's `health.interval`, on a thread of its own, so a
/// replica that stops answering leaves the route table without waiting for a rollout. A replica is
/// *unready* after `failureThreshold` failed checks in a row and ready again after one success;
/// each change of readiness asks the controller for a pass, and so does reaching the instance's
/// `health.restartAfter` (the pass restarts the replica). A restarted replica (new handle) starts
/// counting afresh.
public final class HealthMonitor: @unchecked Sendable {
    public struct Target: Sendable, Equatable {
        public var name: String
        public var address: String
        public var port: Int
        public var path: String
        public var intervalMilliseconds: Int
        public var timeoutMilliseconds: Int
        /// Container id or process id: a replica restarted on the same port is a new one.
        public var handle: String = ""
        public var restartAfter: Int?
    }

    public static let failureThreshold = 3

    private struct State {
        var target: Target
        var nextCheck: Date
        var failures = 0
        var lastAnswer = ""
    }

    private let lock = NSCondition()
    private var states: [String: State] = [:]
    private var stopping = false
    private var thread: Thread?
    /// Called (on the monitor's thread) when a replica becomes unready or ready again.
    public var onChange: (@Sendable (String) -> Void)?

    public init() {}

    /// Replaces the set of replicas watched (each pass hands over the running replicas of instances
    /// that declare a health check). A new replica gets its first check after one interval.
    public func watch(_ targets: [Target]) {
        lock.withLock {
            var next: [String: State] = [:]
            for target in targets {
                if var state = states[target.name], state.target.port == target.port, state.target.handle == target.handle {
                    state.target = target
                    next[target.name] = state
                } else {
                    next[target.name] = State(target: target, nextCheck: Date().addingTimeInterval(Double(target.intervalMilliseconds) / 1000))
                }
            }
            states = next
            if thread == nil && !targets.isEmpty {
                let thread = Thread { [weak self] in self?.run() }
                thread.name = "berth-health"
                self.thread = thread
                thread.start()
            }
            lock.signal()
        }
    }

    /// Replicas failing their checks now: what the checks saw, and how many failed in a row (at
    /// least `failureThreshold`), read together so a pass never mixes two rounds of checks.
    public var unready: (messages: [String: String], failures: [String: Int]) {
        lock.withLock {
            var messages: [String: String] = [:], failures: [String: Int] = [:]
            for (name, state) in states where state.failures >= Self.failureThreshold {
                messages[name] = "failed \(state.failures) health checks in a row (GET \(state.target.path)); last answer: \(state.lastAnswer)"
                failures[name] = state.failures
            }
            return (messages, failures)
        }
    }

    public func stop() {
        lock.withLock {
            stopping = true
            lock.signal()
        }
    }

    private func run() {
        while true {
            let due: [Target] = lock.withLock {
                while !stopping {
                    let now = Date()
                    let ready = states.values.filter { $0.nextCheck <= now }.map(\.target)
                    if !ready.isEmpty { return ready }
                    let next = states.values.map(\.nextCheck).min() ?? now.addingTimeInterval(1)
                    _ = lock.wait(until: min(next, now.addingTimeInterval(1)))
                }
                return []
            }
            if due.isEmpty { return }
            // Checks of one round run side by side: one slow replica must not delay the others' checks.
            let outcomes = UnsafeOutcomes(count: due.count)
            DispatchQueue.concurrentPerform(iterations: due.count) { index in
                let target = due[index]
                outcomes.set(index, HealthProbe.check(address: target.address, port: target.port, path: target.path,
                                                      timeoutMilliseconds: target.timeoutMilliseconds))
            }
            var changed: [String] = []
            lock.withLock {
                for (index, target) in due.enumerated() {
                    guard var state = states[target.name], state.target == target else { continue }
                    let outcome = outcomes.get(index)
                    let wasReady = state.failures < Self.failureThreshold
                    state.failures = outcome.isHealthy ? 0 : state.failures + 1
                    state.lastAnswer = outcome.description
                    state.nextCheck = Date().addingTimeInterval(Double(target.intervalMilliseconds) / 1000)
                    // At restartAfter, and again at every further multiple of it: the pass that should
                    // restart it may have been held back (a retry not yet due) or run on a standby.
                    let restartDue = target.restartAfter.map { state.failures >= $0 && state.failures % $0 == 0 } ?? false
                    if wasReady != (state.failures < Self.failureThreshold) || restartDue {
                        changed.append(target.name)
                    }
                    states[target.name] = state
                }
            }
            for name in changed { onChange?(name) }
        }
    }
}

/// Results written by concurrent checks, each to its own slot.
private final class UnsafeOutcomes: @unchecked Sendable {
    private var values: [HealthProbe.Outcome]
    private let lock = NSLock()
    init(count: Int) { values = Array(repeating: .unreachable("not checked"), count: count) }
    func set(_ index: Int, _ value: HealthProbe.Outcome) { lock.withLock { values[index] = value } }
    func get(_ index: Int) -> HealthProbe.Outcome { lock.withLock { values[index] } }
}

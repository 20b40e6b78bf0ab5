import Foundation
import Spec

/// How a rollout waits: for the proxies to take a new table, for old replicas to drain, for a
/// replica to stop.
public struct RolloutSettings: Sendable, Equatable {
    /// Longest wait for every live proxy to report the new generation before old replicas are
    /// stopped anyway (a proxy that is stuck must not block every rollout; it is logged).
    public var proxyWaitSeconds: Double
    /// Time in-flight requests get on the old replicas after the proxies moved on.
    public var drainSeconds: Double
    /// SIGTERM (docker stop) to SIGKILL.
    public var stopGraceSeconds: Int
    /// Time between health checks while a new replica is being gated.
    public var probeIntervalMilliseconds: Int

    public init(proxyWaitSeconds: Double = 15, drainSeconds: Double = 2, stopGraceSeconds: Int = 10, probeIntervalMilliseconds: Int = 250) {
        self.proxyWaitSeconds = proxyWaitSeconds
        self.drainSeconds = drainSeconds
        self.stopGraceSeconds = stopGraceSeconds
        self.probeIntervalMilliseconds = probeIntervalMilliseconds
    }
}

extension Applier {
    /// Starts `starts` and waits until every replica to gate passes its check. On failure the
    /// replicas started here are removed again and the failure (with the last answer and the
    /// replica's last output) is returned; the instance is then left as it was.
    func startAndGate(_ instance: Instance, starts: [ReplicaChange], gateAll: Bool, runtime: ContainerRuntime,
                      assigned: [String: Int], revision: String) -> ResourceFailure? {
        let specs = (0..<instance.replicas).map { ReplicaSpec(instance: instance, replica: $0, leased: assigned, revision: revision) }
        let startNames = Set(starts.map(\.name))
        // Replicas restarted in place because they kept failing their checks (see the hint below).
        let inPlace = Set(starts.filter { $0.reason.code == "unhealthy" }.map(\.name))
        var started: [String] = []
        func rollBack() {
            for name in started { try? runtime.remove(name: name, graceSeconds: min(rollout.stopGraceSeconds, 5)) }
        }
        for spec in specs where startNames.contains(spec.name) {
            do {
                try runtime.start(spec)
                started.append(spec.name)
                log("started \(spec.name) (\(starts.first { $0.name == spec.name }?.reason.code ?? "start"))")
            } catch {
                rollBack()
                let runtimeError = error as? RuntimeError
                return ResourceFailure(code: runtimeError?.code == "image-unavailable" ? "image-unavailable" : "start-failed",
                                       message: "replica \(spec.replica) of \(instance.name) could not start: \(runtimeError?.message ?? "\(error)")",
                                       hint: runtimeError?.hint)
            }
        }
        let gated = specs.filter { gateAll || startNames.contains($0.name) }
        if var failure = gate(instance, gated, runtime: runtime) {
            rollBack()
            if !inPlace.isEmpty && gated.allSatisfy({ inPlace.contains($0.name) }) {
                // Removing it loses nothing that served (it was out of the route table, or every
                // replica was failing); leaving it would get it routed again as soon as its new
                // handle starts its failure count afresh.
                failure.hint = "the restarted replica failed again and was removed; it is started again after the retry backoff"
            }
            return failure
        }
        return nil
    }

    /// Polls every replica until each has passed `successes` checks in a row, one exits, or the
    /// start timeout passes.
    func gate(_ instance: Instance, _ specs: [ReplicaSpec], runtime: ContainerRuntime) -> ResourceFailure? {
        guard !specs.isEmpty else { return nil }
        let health = instance.health
        let needed = health?.successes ?? 1
        let timeout = health?.timeoutMilliseconds ?? 2_000
        let deadline = Date().addingTimeInterval(Double(health?.startTimeoutMilliseconds ?? Instance.Health.defaultStartTimeoutMilliseconds) / 1000)
        let address = HealthProbe.address(for: instance.runtime == .docker ? instance.bindAddress : "127.0.0.1")
        var passes = Dictionary(uniqueKeysWithValues: specs.map { ($0.name, 0) })
        var last: [String: HealthProbe.Outcome] = [:]
        while true {
            for spec in specs where passes[spec.name]! < needed {
                let state = try? runtime.state(of: spec.name)
                if state != .running, case .exited(let status, _)? = state {
                    let output = runtime.logTail(of: spec.name, lines: 5).map { "; last output: \($0)" } ?? ""
                    return ResourceFailure(code: "exited", message: "replica \(spec.replica) of \(instance.name) exited with status \(status) before it was healthy\(output)",
                                           hint: "the new replicas were removed; the old ones keep serving")
                }
                if state == nil {
                    return ResourceFailure(code: "missing", message: "replica \(spec.replica) of \(instance.name) disappeared while it was being checked")
                }
                guard let port = spec.primaryPort else {
                    // Nothing to probe: running is all that can be asked.
                    if state == .running { passes[spec.name]! += 1 }
                    continue
                }
                let outcome = HealthProbe.check(address: address, port: port, path: health?.path, timeoutMilliseconds: timeout)
                last[spec.name] = outcome
                passes[spec.name] = outcome.isHealthy ? passes[spec.name]! + 1 : 0
            }
            if passes.values.allSatisfy({ $0 >= needed }) { return nil }
            if Date() >= deadline {
                let failing = specs.first { passes[$0.name]! < needed }!
                let answer = last[failing.name]?.description ?? "no answer"
                let check = health.map { "GET \($0.path)" } ?? "a TCP connect"
                let output = runtime.logTail(of: failing.name, lines: 3).map { "; last output: \($0)" } ?? ""
                return ResourceFailure(code: "unhealthy",
                                       message: "replica \(failing.replica) of \(instance.name) did not pass \(check) on port \(failing.primaryPort ?? 0) within \(Duration.format(milliseconds: health?.startTimeoutMilliseconds ?? Instance.Health.defaultStartTimeoutMilliseconds)); last answer: \(answer)\(output)",
                                       hint: "the new replicas were removed and the old ones keep serving; the rollout is retried with backoff")
            }
            Thread.sleep(forTimeInterval: Double(rollout.probeIntervalMilliseconds) / 1000)
        }
    }

    /// Waits until every proxy with a heartbeat serves `generation` (or newer), up to the limit.
    func waitForProxies(generation: Int) {
        let deadline = Date().addingTimeInterval(rollout.proxyWaitSeconds)
        var behind: [String] = []
        repeat {
            guard let generations = try? store.proxyGenerations() else { return }
            behind = generations.filter { $0.value < generation }.map(\.key).sorted()
            if behind.isEmpty { return }
            Thread.sleep(forTimeInterval: 0.05)
        } while Date() < deadline
        log("proxies \(behind.joined(separator: ", ")) still do not serve generation \(generation) after \(rollout.proxyWaitSeconds)s; stopping the old replicas anyway")
    }
}

import Foundation
import Spec

/// One replica the apply will start or stop.
public struct ReplicaChange: Sendable, Equatable {
    public enum Kind: String, Sendable { case start, stop }
    /// When a stop happens: right away (nothing routes to it), or only after the new route table is
    /// live on the proxies and the old replicas have drained.
    public enum Phase: String, Sendable { case beforePublish = "before-publish", afterPublish = "after-publish" }

    public var kind: Kind
    public var phase: Phase
    public var instance: String
    public var name: String
    public var templateHash: String
    public var replica: Int
    public var runtime: Instance.Runtime
    /// `new`, `replace`, `scale-up`, `missing`, `exited`, `unhealthy`; `replaced`, `scaled-down`, `deleted`, `leftover`.
    public var reason: ChangeReason
    /// For starts: what runs (`image registry/x:1` or the command), port name → predicted host port,
    /// and the check that gates traffic.
    public var what: String?
    public var ports: [String: Int]
    public var gate: String?
}

/// Decides which replicas to start and stop. Pure: desired instances, the inventory (what is
/// live), the predicted port leases and what the runtimes report give the same answer each time.
public enum WorkloadPlanner {
    public static func plan(desired: DesiredState, observed: ObservedState, assigned: [PortOwner: Int],
                            configuration: PlannerConfiguration, now: Date = Date()) -> [ReplicaChange] {
        guard let runtime = observed.runtime else { return [] }
        let seen = Dictionary(runtime.replicas.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var changes: [ReplicaChange] = []
        var accounted = Set<String>()
        func usable(_ kind: Instance.Runtime) -> Bool { configuration.runtimes.contains(kind) && runtime.unavailable[kind] == nil }
        func stop(_ replica: ObservedReplica, _ phase: ReplicaChange.Phase, _ code: String, _ message: String) {
            accounted.insert(replica.name)
            changes.append(ReplicaChange(kind: .stop, phase: phase, instance: replica.instance, name: replica.name, templateHash: replica.templateHash,
                                         replica: replica.replica, runtime: replica.runtime, reason: ChangeReason(code, message), what: nil,
                                         ports: [:], gate: nil))
        }

        for instance in desired.instances {
            let old = observed.inventory[instance.id].flatMap { record -> Instance? in
                guard let resource = try? record.resource(), case .instance(let value) = resource else { return nil }
                return value
            }
            let hash = instance.templateHash
            if usable(instance.runtime) {
                var restartedUnhealthy = false
                for index in 0..<instance.replicas {
                    let name = instance.replicaName(index)
                    accounted.insert(name)
                    let reason: ChangeReason
                    if let replica = seen[name] {
                        if replica.isRunning {
                            // Running but failing its checks for longer than the instance allows: restarted
                            // in place (same name and ports), gated like any start. One per instance per
                            // pass: when a shared cause (a database away) fails them all, the others keep
                            // running while the first shows whether a restart helps at all.
                            guard !restartedUnhealthy, let limit = instance.health?.restartAfter, let failed = runtime.failedChecks[name],
                                  failed >= limit else { continue }
                            restartedUnhealthy = true
                            reason = ChangeReason("unhealthy", "replica \(index) failed \(failed) health checks in a row (restartAfter: \(limit)): restarted"
                                                  + (runtime.unready[name].map { "; last answer: " + Self.lastAnswer($0) } ?? ""))
                        } else {
                            // Backing off a crash loop: started again once the time comes (a pass is triggered then).
                            if let notBefore = replica.restartNotBefore, notBefore > now { continue }
                            reason = ChangeReason(replica.state.isExit ? "exited" : "not-running", "replica \(index) \(replica.stateDescription)")
                        }
                    } else if old == nil {
                        reason = ChangeReason("new", "replica \(index) of a new instance")
                    } else if old!.templateHash != hash {
                        reason = ChangeReason("replace", "replica \(index) of the new template \(hash) (replaces \(old!.templateHash))")
                    } else if index >= old!.replicas {
                        reason = ChangeReason("scale-up", "replica \(index) (replicas \(old!.replicas) → \(instance.replicas))")
                    } else {
                        reason = ChangeReason("missing", "replica \(index) is not there (removed by hand, or the controller restarted)")
                    }
                    var ports: [String: Int] = [:]
                    for port in instance.ports {
                        let owner = PortOwner(instance: instance.name, templateHash: hash, replica: index, port: port.name)
                        if let value = assigned[owner] { ports[port.name] = value }
                    }
                    changes.append(ReplicaChange(kind: .start, phase: .beforePublish, instance: instance.name, name: name, templateHash: hash,
                                                 replica: index, runtime: instance.runtime, reason: reason, what: describe(instance),
                                                 ports: ports, gate: gate(instance)))
                }
            }
            // The generation that is live keeps serving until the new one is published and drained.
            guard let old else { continue }
            for index in 0..<old.replicas {
                let name = old.replicaName(index)
                guard !accounted.contains(name), let replica = seen[name], usable(replica.runtime) else { continue }
                if old.templateHash != hash {
                    stop(replica, .afterPublish, "replaced", "replica \(index) of template \(old.templateHash), replaced by \(hash)")
                } else if index >= instance.replicas {
                    stop(replica, .afterPublish, "scaled-down", "replica \(index) (replicas \(old.replicas) → \(instance.replicas))")
                }
            }
        }
        // Instances removed from the repository: their replicas go once the table without them is live.
        for (id, record) in observed.inventory.sorted(by: { $0.key < $1.key }) where id.kind == .instance && desired.instance(named: id.name) == nil {
            for replica in runtime.replicas where replica.instance == id.name && !accounted.contains(replica.name) && usable(replica.runtime) {
                stop(replica, .afterPublish, "deleted", "instance \(id.name) is no longer declared (was applied at \(PlanRenderer.shortRevision(record.revision)))")
            }
        }
        // Anything else carrying Berth's marker: left over from a crash or an interrupted rollout.
        for replica in runtime.replicas where !accounted.contains(replica.name) && usable(replica.runtime) {
            stop(replica, .beforePublish, "leftover", "\(replica.runtime == .docker ? "container" : "process") \(replica.name) (\(replica.stateDescription)) is Berth's but in no inventory record")
        }
        return changes
    }

    /// The last answer out of a health monitor message (`failed 4 health checks in a row (GET /h); last answer: HTTP 500`).
    static func lastAnswer(_ message: String) -> String {
        message.range(of: "last answer: ").map { String(message[$0.upperBound...]) } ?? message
    }

    /// Ports Berth leases (or will) that something outside Berth publishes: each is a conflict the
    /// plan reports; the unlabelled holder is never touched.
    public static func conflicts(observed: ObservedState, assigned: [PortOwner: Int]) -> [(instance: String, reason: ChangeReason)] {
        guard let runtime = observed.runtime, !runtime.foreign.isEmpty else { return [] }
        let byPort = Dictionary(assigned.map { ($0.value, $0.key) }, uniquingKeysWith: { a, _ in a })
        return runtime.foreign.compactMap { holder in
            guard let owner = byPort[holder.port] else { return nil }
            return (owner.instance, ChangeReason("port-conflict", "host port \(holder.port), leased to \(owner.instance) replica \(owner.replica) port \(owner.port), is published by \(holder.holder), which Berth does not own and will not touch; that replica cannot start until the port is freed"))
        }
    }

    /// The owners of one instance port that the route table lists: those of replicas passing their
    /// health checks. When none passes, all are listed (a proxy then still tries them, and its passive
    /// health skips the dead ones) rather than none.
    public static func routed(_ owners: [PortOwner], of instance: Instance, unready: Set<String>) -> [PortOwner] {
        guard !unready.isEmpty else { return owners }
        let ready = owners.filter { !unready.contains(instance.replicaName($0.replica)) }
        return ready.isEmpty ? owners : ready
    }

    static func describe(_ instance: Instance) -> String {
        switch instance.runtime {
        case .docker: "image \(instance.image ?? "?")" + (instance.command.isEmpty ? "" : " running `\(instance.command.joined(separator: " "))`")
        case .process: "process `\(instance.command.joined(separator: " "))`"
        }
    }

    static func gate(_ instance: Instance) -> String {
        guard let health = instance.health else { return "TCP connect to \(instance.ports.first?.name ?? "its port") (no health check declared)" }
        let times = health.successes == 1 ? "passing once" : "passing \(health.successes) times in a row"
        return "GET \(health.path) on \(instance.ports.first?.name ?? "its port") \(times) within \(Duration.format(milliseconds: health.startTimeoutMilliseconds))"
    }
}

extension ObservedReplica.State {
    var isExit: Bool { if case .exited = self { return true }; return false }
}

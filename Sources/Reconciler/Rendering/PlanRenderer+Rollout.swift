import Spec

/// How an instance change will roll out, said in the plan before anything starts: what runs, the
/// check that gates traffic, and what happens to the replicas serving now.
extension PlanRenderer {
    public static func rollout(of change: Change) -> String? {
        guard change.id.kind == .instance else { return nil }
        func instance(_ spec: JSONValue?) -> Instance? {
            guard let spec, let resource = try? Resource(id: change.id, canonicalSpec: spec), case .instance(let value) = resource else { return nil }
            return value
        }
        let before = instance(change.before), after = instance(change.after)
        func replicas(_ count: Int) -> String { "\(count) replica\(count == 1 ? "" : "s")" }
        switch change.action {
        case .create:
            guard let after, after.replicas > 0 else { return nil }
            return "start \(replicas(after.replicas)) (\(WorkloadPlanner.describe(after))); each must pass \(WorkloadPlanner.gate(after)) before the route table lists it"
        case .replace:
            guard let after else { return nil }
            let old = before.map { ", the \(replicas($0.replicas)) of the old template drain and stop" } ?? ""
            return "start \(replicas(after.replicas)) of the new template (\(WorkloadPlanner.describe(after))) on new ports; each must pass \(WorkloadPlanner.gate(after)); then the route table moves to them, the proxies take it\(old). If one fails its check, the new replicas are removed and the old ones keep serving"
        case .update:
            guard let before, let after, before.replicas != after.replicas else { return nil }
            if after.replicas > before.replicas {
                return "start \(replicas(after.replicas - before.replicas)) more, each gated by \(WorkloadPlanner.gate(after)), then list them in the route table"
            }
            let count = before.replicas - after.replicas
            return "stop \(replicas(count)) once the route table no longer lists \(count == 1 ? "it and it has" : "them and they have") drained"
        case .delete:
            guard let before, before.replicas > 0 else { return nil }
            return "stop its \(replicas(before.replicas)) once the route table no longer lists \(before.replicas == 1 ? "it and it has" : "them and they have") drained"
        case .noop:
            return nil
        }
    }

    /// The replica starts and stops a controller decided (it observed the runtimes), one line each.
    public static func replicaLines(_ plan: Plan) -> [String] {
        plan.replicas.map { replica in
            let ports = replica.ports.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            var line = "\(replica.kind == .start ? "+" : "-") \(replica.name)  \(replica.reason.code): \(replica.reason.message)"
            if !ports.isEmpty { line += "  [\(ports)]" }
            if replica.kind == .stop, replica.phase == .afterPublish { line += "  (after the new table is live and drained)" }
            return line
        }
    }

    static func replicaJSON(_ replica: ReplicaChange) -> JSONValue {
        var object: [String: JSONValue] = [
            "action": .string(replica.kind.rawValue), "phase": .string(replica.phase.rawValue), "instance": .string(replica.instance),
            "name": .string(replica.name), "template": .string(replica.templateHash), "replica": .int(replica.replica),
            "runtime": .string(replica.runtime.rawValue),
            "reason": .object(["code": .string(replica.reason.code), "message": .string(replica.reason.message)]),
            "ports": .object(replica.ports.mapValues(JSONValue.int)),
        ]
        if let what = replica.what { object["runs"] = .string(what) }
        if let gate = replica.gate { object["gate"] = .string(gate) }
        return .object(object)
    }
}

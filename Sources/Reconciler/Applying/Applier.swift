import Foundation
import Spec

/// What an apply did.
public struct ApplyReport: Sendable, Equatable {
    public var created = 0, updated = 0, replaced = 0, deleted = 0
    public var portsAllocated = 0, portsFreed = 0
    /// The generation now live, and whether this apply published it.
    public var generation = 0
    public var published = false
    public var revision = ""
    /// Resources that could not be applied this time, and why. Everything else converged: one
    /// failing resource never holds the others back.
    public var failures: [ResourceID: ResourceFailure] = [:]
    /// Resources left as they were because the caller held them back (waiting out a retry backoff).
    public var heldBack: [ResourceID] = []
}

/// Why one resource could not be applied.
public struct ResourceFailure: Sendable, Equatable, CustomStringConvertible {
    public var code: String
    public var message: String
    public var hint: String?
    public init(code: String, message: String, hint: String? = nil) {
        self.code = code
        self.message = message
        self.hint = hint
    }
    public var description: String { message + (hint.map { " (\($0))" } ?? "") }
}

/// Carries out a plan through a `StateStore`. Each step is one atomic, lease-fenced write, ordered so
/// that a crash between any two steps leaves a state from which the next apply converges with
/// nothing duplicated or leaked:
///
/// 1. lease every desired port (owners already holding one keep it, so a re-run is idempotent);
/// 2. record created/updated resources in the inventory, with their realized ports;
/// 3. free leases no longer wanted (only while still held by the same owner);
/// 4. delete inventory rows of removed resources (after their ports, so nothing is orphaned);
/// 5. publish the route table if its content changed (the generation moves only then);
/// 6. record status.
public struct Applier {
    public var store: StateStore
    public var configuration: PlannerConfiguration
    public var now: () -> Date

    public init(store: StateStore, configuration: PlannerConfiguration = .init(), now: @escaping () -> Date = Date.init) {
        self.store = store
        self.configuration = configuration
        self.now = now
    }

    /// Applies `plan`. Resources in `holdBack` are left exactly as they are (their current leases
    /// keep serving). A resource that fails on its own (no free port for it) is reported in
    /// `failures` and likewise left as it was; the rest of the plan still converges. Errors that
    /// concern the whole apply (lease lost, Redis gone) are thrown.
    public func apply(_ plan: Plan, lease: Lease, holdBack: Set<ResourceID> = []) throws -> ApplyReport {
        var report = ApplyReport(revision: plan.revision)
        let appliedAt = ISO8601DateFormatter().string(from: now())
        Failpoint.hit("apply.after-lease")

        // 1. Ports, one atomic all-or-nothing allocation per instance, in the planner's order
        //    (owners sorted), so the ports it predicted are the ports leased.
        var assigned: [String: Int] = [:]
        var skipped = Set<String>()  // names of instances left as they were
        let predicted = Dictionary(plan.ports.filter { $0.kind != .free }.map { ($0.owner, $0.port) }, uniquingKeysWith: { a, _ in a })
        var batches: [(instance: String, owners: [PortOwner])] = []
        for owner in plan.desired.instances.flatMap(PortOwner.owners(of:)).sorted() {
            if batches.last?.instance == owner.instance { batches[batches.count - 1].owners.append(owner) } else { batches.append((owner.instance, [owner])) }
        }
        for batch in batches {
            let id = ResourceID(.instance, batch.instance)
            if holdBack.contains(id) {
                report.heldBack.append(id)
                skipped.insert(batch.instance)
                continue
            }
            do {
                let requests = batch.owners.map { (owner: $0.description, preferred: predicted[$0.description]) }
                assigned.merge(try store.allocatePorts(requests, range: configuration.portRange, lease: lease)) { a, _ in a }
            } catch let error as StateError where error.code == "ports-exhausted" {
                report.failures[id] = ResourceFailure(code: error.code, message: "\(error.message) for \(batch.owners.count) port lease(s) of instance \(batch.instance)", hint: error.hint)
                skipped.insert(batch.instance)
            }
        }
        report.portsAllocated = plan.ports.filter { $0.kind == .allocate && !skipped.contains(PortOwner($0.owner)?.instance ?? "") }.count
        // Leases a skipped instance holds now keep serving it.
        let kept = Dictionary(plan.ports.filter { $0.kind == .keep }.map { ($0.owner, $0.port) }, uniquingKeysWith: { a, _ in a })
        for batch in batches where skipped.contains(batch.instance) {
            for owner in batch.owners { if let port = kept[owner.description] { assigned[owner.description] = port } }
        }
        Failpoint.hit("apply.after-ports")

        // 2. Inventory for everything created or changed.
        var records: [InventoryRecord] = []
        let resources = Dictionary(uniqueKeysWithValues: plan.desired.resources.map { ($0.id, $0) })
        for change in plan.changes where [.create, .update, .replace].contains(change.action) {
            guard let resource = resources[change.id] else { continue }
            if change.id.kind == .instance, skipped.contains(change.id.name) { continue }
            var ports: [String: Int] = [:]
            if case .instance(let instance) = resource {
                for owner in PortOwner.owners(of: instance) { ports[owner.description] = assigned[owner.description] }
            }
            records.append(InventoryRecord(id: change.id, specHash: plan.desired.specHash(of: resource), spec: resource.canonicalSpec, ports: ports,
                                           declarationIndex: plan.desired.declarationOrder[change.id] ?? 0,
                                           revision: plan.revision, appliedAt: appliedAt))
            switch change.action {
            case .create: report.created += 1
            case .update: report.updated += 1
            case .replace: report.replaced += 1
            default: break
            }
        }
        try store.putInventory(records, lease: lease)
        Failpoint.hit("apply.after-inventory")

        // 3. Free leases nobody declared any more.
        // A skipped instance keeps its old leases (a failed replace must not lose the replicas serving now).
        let frees = plan.ports.filter { $0.kind == .free && !skipped.contains(PortOwner($0.owner)?.instance ?? "") }
            .map { (port: $0.port, owner: $0.owner) }
        try store.freePorts(frees, lease: lease)
        report.portsFreed = frees.count
        Failpoint.hit("apply.after-free")

        // 4. Prune deleted resources.
        let deletes = plan.changes.filter { $0.action == .delete }.map(\.id)
        try store.deleteInventory(deletes, lease: lease)
        report.deleted = deletes.count
        Failpoint.hit("apply.after-prune")

        // 5. Publish the route table compiled with the ports actually leased.
        let table = RouteTableCompiler.compile(plan.desired, revision: plan.revision, generation: plan.routeTable.observedGeneration + 1) { instance, portName in
            PortOwner.owners(of: instance).filter { $0.port == portName }.compactMap { owner in
                assigned[owner.description].map { RouteTableDocument.Endpoint(address: configuration.endpointAddress, port: $0, replica: owner.replica) }
            }
        }
        if plan.routeTable.action != .noop || table.contentHash != plan.routeTable.after.contentHash {
            try store.publish(table, expectedGeneration: plan.routeTable.observedGeneration, lease: lease)
            report.generation = table.generation
            report.published = true
        } else {
            report.generation = plan.routeTable.observedGeneration
        }
        Failpoint.hit("apply.after-publish")

        // 6. Status.
        try store.recordStatus([
            "revision": plan.revision, "origin": plan.origin, "outcome": report.failures.isEmpty ? "applied" : "degraded", "applied_at": appliedAt,
            "generation": String(report.generation), "lease_holder": lease.holder,
        ], lease: lease)
        return report
    }
}

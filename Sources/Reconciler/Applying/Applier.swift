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

    public func apply(_ plan: Plan, lease: Lease) throws -> ApplyReport {
        var report = ApplyReport(revision: plan.revision)
        let appliedAt = ISO8601DateFormatter().string(from: now())
        Failpoint.hit("apply.after-lease")

        // 1. Ports.
        let desiredOwners = plan.desired.instances.flatMap(PortOwner.owners(of:))
        let predicted = Dictionary(plan.ports.filter { $0.kind != .free }.map { ($0.owner, $0.port) }, uniquingKeysWith: { a, _ in a })
        let requests = desiredOwners.sorted().map { (owner: $0.description, preferred: predicted[$0.description]) }
        let assigned = try store.allocatePorts(requests, range: configuration.portRange, lease: lease)
        report.portsAllocated = plan.ports.filter { $0.kind == .allocate }.count
        Failpoint.hit("apply.after-ports")

        // 2. Inventory for everything created or changed.
        var records: [InventoryRecord] = []
        let resources = Dictionary(uniqueKeysWithValues: plan.desired.resources.map { ($0.id, $0) })
        for change in plan.changes where [.create, .update, .replace].contains(change.action) {
            guard let resource = resources[change.id] else { continue }
            var ports: [String: Int] = [:]
            if case .instance(let instance) = resource {
                for owner in PortOwner.owners(of: instance) { ports[owner.description] = assigned[owner.description] }
            }
            records.append(InventoryRecord(id: change.id, specHash: resource.specHash, spec: resource.canonicalSpec, ports: ports,
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
        let frees = plan.ports.filter { $0.kind == .free }.map { (port: $0.port, owner: $0.owner) }
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
            "revision": plan.revision, "origin": plan.origin, "outcome": "applied", "applied_at": appliedAt,
            "generation": String(report.generation), "lease_holder": lease.holder,
        ], lease: lease)
        return report
    }
}

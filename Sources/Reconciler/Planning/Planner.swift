import Foundation
import Spec

/// Plans what an apply will do. Pure and deterministic: the same desired state, revision, observed
/// state and configuration give the same plan, byte for byte when rendered.
public enum Planner {
    /// `now` decides which certificates are due for renewal; it is the only clock the plan reads.
    public static func plan(desired: DesiredState, revision: String, origin: String, observed: ObservedState,
                            configuration: PlannerConfiguration = .init(), now: Date = Date()) -> Plan {
        var changes: [Change] = []
        let certificates = CertificatePlanner.plan(desired: desired, observed: observed, configuration: configuration, now: now)
        let certificatePending = Dictionary(certificates.map { ($0.name, $0.pending) }, uniquingKeysWith: { a, _ in a })
        let desiredIDs = Set(desired.resources.map(\.id))

        // Ports first: instance changes depend on whether their leases are intact.
        var desiredOwners: [PortOwner] = []
        var preferred: [PortOwner: Int] = [:]
        for instance in desired.instances {
            let owners = PortOwner.owners(of: instance)
            desiredOwners += owners
            if let record = observed.inventory[instance.id] {
                for owner in owners { if let port = record.ports[owner.description] { preferred[owner] = port } }
            }
        }
        // Ports an unlabelled container publishes are never leased (nor freed: the owner is not Berth's format).
        var leases = observed.ports
        for holder in observed.runtime?.foreign ?? [] where leases[holder.port] == nil { leases[holder.port] = "foreign:\(holder.holder)" }
        var ports = PortPlanner.plan(desired: desiredOwners, preferred: preferred, leases: leases, range: configuration.portRange)
        ports.changes = ports.changes.map { change in
            guard change.kind == .free, change.reason == nil, let owner = PortOwner(change.owner) else { return change }
            var change = change
            if let instance = desired.instance(named: owner.instance) {
                change.reason = instance.templateHash != owner.templateHash ? "replaced by a new template"
                    : owner.replica >= instance.replicas ? "scaled down" : "port no longer declared"
            } else if observed.inventory[ResourceID(.instance, owner.instance)] != nil {
                change.reason = "instance deleted"
            } else {
                change.reason = "orphaned lease (no instance or inventory record owns it)"
            }
            return change
        }

        for resource in desired.resources {
            let id = resource.id
            let after = resource.canonicalSpec
            var change = Change(id: id, action: .noop, reasons: [], before: nil, after: after, pending: pending(for: resource, configuration))
            if case .domain(let domain) = resource { change.pending = certificatePending[domain.name] ?? [] }
            if let record = observed.inventory[id] {
                change.before = record.spec
                if record.specHash != desired.specHash(of: resource) {
                    change.reasons = SpecDiff.reasons(record.spec, after)
                    change.action = .update
                    if case .instance(let instance) = resource, let old = try? record.resource(), case .instance(let oldInstance) = old,
                       oldInstance.templateHash != instance.templateHash {
                        change.action = .replace
                    }
                    if change.reasons.isEmpty { change.reasons = [ChangeReason("spec-changed", "recorded spec hash differs")] }
                }
                if case .instance(let instance) = resource, change.action != .replace {
                    change.reasons += portDrift(instance, record: record, ports: ports)
                    if change.action == .noop, !change.reasons.isEmpty { change.action = .update }
                }
            } else {
                change.action = .create
                let location = desired.sources[id].map { " at \($0.location)" } ?? ""
                change.reasons = [ChangeReason("new", "declared\(location), not yet applied")]
            }
            if case .instance(let instance) = resource {
                let exhausted = ports.exhausted.filter { $0.instance == instance.name }
                if !exhausted.isEmpty {
                    change.reasons.append(ChangeReason("ports-exhausted", "no free host port in \(configuration.portRange.lowerBound)-\(configuration.portRange.upperBound) for \(exhausted.count) lease(s)"))
                }
            }
            changes.append(change)
        }
        // Replicas: what to start and stop; drift (a replica exited or gone) makes an unchanged instance an update.
        let replicas = WorkloadPlanner.plan(desired: desired, observed: observed, assigned: ports.assigned, configuration: configuration, now: now)
        let conflicts = WorkloadPlanner.conflicts(observed: observed, assigned: ports.assigned)
        for index in changes.indices where changes[index].id.kind == .instance {
            let name = changes[index].id.name
            if changes[index].action == .noop || changes[index].action == .update {
                let drift = replicas.filter { $0.instance == name && $0.kind == .start && ["exited", "missing", "not-running", "unhealthy"].contains($0.reason.code) }
                changes[index].reasons += drift.map(\.reason)
                if changes[index].action == .noop, !drift.isEmpty { changes[index].action = .update }
            }
            changes[index].reasons += conflicts.filter { $0.instance == name }.map(\.reason)
            if let instance = desired.instance(named: name) {
                for replica in observed.runtime?.replicas ?? [] where replica.instance == name && replica.templateHash == instance.templateHash {
                    guard let notBefore = replica.restartNotBefore, notBefore > now, !replica.isRunning else { continue }
                    changes[index].pending.append("replica \(replica.replica) \(replica.stateDescription) soon after starting, again; restarted at \(Timestamps.string(notBefore)) (crash-loop backoff)")
                }
            }
            if let instance = desired.instance(named: name), let unready = observed.runtime?.unready, !unready.isEmpty {
                let failing = (0..<instance.replicas).compactMap { replica in unready[instance.replicaName(replica)].map { (replica, $0) } }
                let routedAnyway = failing.count == instance.replicas
                for (replica, why) in failing {
                    changes[index].pending.append("replica \(replica) \(why); " + (routedAnyway ? "every replica fails, so all stay routed" : "not routed until it passes again"))
                }
            }
            if let instance = desired.instance(named: name), let problem = observed.runtime?.unavailable[instance.runtime] {
                changes[index].pending.append("the \(instance.runtime.rawValue) runtime cannot be reached, nothing is started or stopped: \(problem)")
            }
        }

        for id in observed.inventory.keys.sorted(by: >) where !desiredIDs.contains(id) {
            changes.append(Change(id: id, action: .delete, reasons: [ChangeReason("removed", "no longer declared in the repository")],
                                  before: observed.inventory[id]!.spec, after: nil, pending: []))
        }

        let routeTable = planRouteTable(desired: desired, revision: revision, observed: observed, ports: ports, configuration: configuration)
        // An unchanged table guards every path as before: nothing to compare.
        let authImpact = routeTable.action == .noop ? AuthImpact.none : AuthImpact(before: routeTable.before, after: routeTable.after)
        return Plan(revision: revision, origin: origin, stateFingerprint: observed.fingerprint, changes: changes,
                    ports: ports.changes, routeTable: routeTable, certificates: certificates, replicas: replicas,
                    unready: observed.runtime?.unready ?? [:], conflicts: conflicts.map(\.reason), authImpact: authImpact, desired: desired)
    }

    static func pending(for resource: Resource, _ configuration: PlannerConfiguration) -> [String] {
        switch resource {
        case .domain(let domain) where domain.tls != .none && !configuration.hasCertificateIssuer:
            return ["no certificate issuer configured: no \(domain.tls.rawValue) certificate is issued for \(domain.hosts.joined(separator: ", ")) yet"]
        case .instance(let instance) where !configuration.runtimes.contains(instance.runtime):
            let what = instance.runtime == .docker ? "container(s) of \(instance.image ?? "?")" : "process(es) `\(instance.command.joined(separator: " "))`"
            return ["no container runtime configured: \(instance.replicas) \(what) not started; ports are leased and routed"]
        default:
            return []
        }
    }

    /// Leases an unchanged instance should hold but does not (deleted or taken by hand).
    static func portDrift(_ instance: Instance, record: InventoryRecord, ports: PortPlanner.Result) -> [ChangeReason] {
        var reasons: [ChangeReason] = []
        for owner in PortOwner.owners(of: instance) {
            guard let change = ports.changes.first(where: { $0.owner == owner.description }), change.kind == .allocate else { continue }
            let recorded = record.ports[owner.description].map { " (was \($0))" } ?? ""
            reasons.append(ChangeReason("port-drift", "lease for \(owner.replica)/\(owner.port)\(recorded) is missing; leasing \(change.port)"))
        }
        return reasons
    }

    static func planRouteTable(desired: DesiredState, revision: String, observed: ObservedState, ports: PortPlanner.Result,
                               configuration: PlannerConfiguration) -> RouteTableChange {
        // The table depends on the desired state, the endpoints and the certificates present only
        // (revision and generation are outside its content hash), so it is compiled once per state,
        // set of ports and set of certificates. Certificates are as observed; the applier
        // recompiles with what it issues.
        let certificates = observed.certificateFingerprints
        let unready = Set(observed.runtime?.unready.keys.map { $0 } ?? [])
        let memoKey = configuration.endpointAddress + "|" + ports.assigned.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ",")
            + "|" + unready.sorted().joined(separator: ",")
            + "|" + certificates.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ",")
        let compiled = desired.memoizedRouteTable(key: memoKey) {
            let table = RouteTableCompiler.compile(desired, revision: revision, generation: observed.generation + 1,
                                                   certificates: certificates) { instance, portName in
                WorkloadPlanner.routed(PortOwner.owners(of: instance).filter { $0.port == portName }, of: instance, unready: unready).compactMap { owner in
                    ports.assigned[owner].map { RouteTableDocument.Endpoint(address: configuration.endpointAddress, port: $0, replica: owner.replica) }
                }
            }
            return (table, table.contentHash)
        }
        var after = compiled.table
        after.revision = revision
        after.generation = observed.generation + 1
        let afterHash = compiled.contentHash
        // When the live table already has the desired content, it *is* the "before" table; the
        // (costly) rebuild from the inventory is only needed to show what changes.
        let before = observed.routeTableHash == afterHash ? after : rebuildPublished(observed: observed, configuration: configuration)
        var reasons: [ChangeReason] = []
        let action: Action
        if observed.routeTableHash == nil {
            action = .create
            reasons.append(ChangeReason("new", "no route table has been published yet"))
        } else if observed.routeTableHash == afterHash {
            action = .noop
        } else {
            action = .update
            if let before, before.contentHash == afterHash {
                reasons.append(ChangeReason("drift", "the published table (generation \(observed.generation)) differs from what the inventory says was applied"))
            } else {
                var withoutCertificates = after, beforeWithout = before
                withoutCertificates.certificates = [:]
                beforeWithout?.certificates = [:]
                if let beforeWithout, beforeWithout.contentHash == withoutCertificates.contentHash {
                    reasons.append(ChangeReason("certificates-changed", "certificates were issued, renewed or removed"))
                } else {
                    reasons.append(ChangeReason("routes-changed", "routes, hosts, endpoints or policies changed"))
                }
            }
        }
        var published = after
        if action == .noop { published.generation = observed.generation }
        return RouteTableChange(action: action, reasons: reasons, before: before, after: published, observedGeneration: observed.generation,
                                observedHash: observed.routeTableHash)
    }

    /// The table Berth last meant to publish, rebuilt from the inventory; nil when it holds nothing.
    static func rebuildPublished(observed: ObservedState, configuration: PlannerConfiguration) -> RouteTableDocument? {
        guard !observed.inventory.isEmpty else { return nil }
        let records = observed.inventory.values.sorted { ($0.declarationIndex, $0.id) < ($1.declarationIndex, $1.id) }
        let resources = records.compactMap { try? $0.resource() }
        let state = DesiredState(resources: resources)
        return RouteTableCompiler.compile(state, revision: "", generation: observed.generation, certificates: observed.certificateFingerprints) { instance, portName in
            guard let record = observed.inventory[instance.id] else { return [] }
            return PortOwner.owners(of: instance).filter { $0.port == portName }.compactMap { owner in
                record.ports[owner.description].map { RouteTableDocument.Endpoint(address: configuration.endpointAddress, port: $0, replica: owner.replica) }
            }
        }
    }
}

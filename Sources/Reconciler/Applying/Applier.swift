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
    /// Certificates written by this apply (issued, renewed or re-issued), by name: metadata only.
    public var certificates: [String: CertificateMetadata] = [:]
    public var certificatesRemoved = 0
    public var replicasStarted = 0, replicasStopped = 0
}

/// Why one resource could not be applied.
public struct ResourceFailure: Sendable, Equatable, CustomStringConvertible {
    public var code: String
    public var message: String
    public var hint: String?
    /// The earliest time to try again that the cause asked for (an ACME `Retry-After`), in seconds.
    public var retryAfter: Double?
    public init(code: String, message: String, hint: String? = nil, retryAfter: Double? = nil) {
        self.code = code
        self.message = message
        self.hint = hint
        self.retryAfter = retryAfter
    }
    public var description: String { message + (hint.map { " (\($0))" } ?? "") }
}

/// Carries out a plan through a `StateStore` (and, for instances, the container runtimes). Each
/// step is one atomic, lease-fenced write or one runtime call, ordered so that a crash between any
/// two steps leaves a state from which the next apply converges with nothing duplicated or leaked,
/// and so that traffic never points at a replica that is not ready:
///
/// 1. lease every desired port (owners already holding one keep it, so a re-run is idempotent);
/// 2. start new replicas on their leases and wait until each passes its health check; an instance
///    whose new replicas do not (or cannot start) is rolled back: they are removed, the leases taken
///    for them freed, and the instance stays as it was;
/// 3. record created/updated resources in the inventory, with their realized ports;
/// 4. issue, renew or re-issue certificates (each under its per-Domain lock; one Domain failing —
///    an ACME problem, an unreachable challenge — is reported and leaves the others alone), and
///    delete those no longer wanted;
/// 5. publish the route table if its content changed (the generation moves only then; a new
///    certificate changes the content through its fingerprint);
/// 6. wait until the proxies' heartbeats show that generation, let the old replicas drain, then
///    stop replicas that were replaced, scaled down, deleted or left over;
/// 7. free leases nobody declared any more (only while still held by the same owner);
/// 8. delete inventory rows of removed resources (after their ports, so nothing is orphaned);
/// 9. record status.
public struct Applier {
    public var store: StateStore
    public var configuration: PlannerConfiguration
    public var now: () -> Date
    /// Issues certificates; nil leaves every certificate change undone (the plan shows them pending).
    public var issuer: CertificateIssuer?
    /// Runs replicas; nil (or a runtime missing for a kind) leaves instances pending.
    public var runtimes: RuntimeSet?
    public var rollout = RolloutSettings()
    /// Progress lines (`started berth-web-…-0`, `waiting for 2 proxies…`), for the controller's log.
    public var log: @Sendable (String) -> Void = { _ in }
    /// How long a per-Domain certificate lock lives if its holder dies mid-order.
    public var certificateLockMilliseconds = 600_000

    public init(store: StateStore, configuration: PlannerConfiguration = .init(), issuer: CertificateIssuer? = nil,
                runtimes: RuntimeSet? = nil, now: @escaping () -> Date = Date.init) {
        self.store = store
        self.configuration = configuration
        self.issuer = issuer
        self.runtimes = runtimes
        self.now = now
    }

    /// Applies `plan`. Resources in `holdBack` are left exactly as they are (their current leases
    /// keep serving). A resource that fails on its own (no free port for it, a replica that never
    /// gets healthy) is reported in `failures` and likewise left as it was; the rest of the plan
    /// still converges. Errors that concern the whole apply (lease lost, Redis gone) are thrown.
    public func apply(_ plan: Plan, lease: Lease, holdBack: Set<ResourceID> = []) throws -> ApplyReport {
        var report = ApplyReport(revision: plan.revision)
        let appliedAt = ISO8601DateFormatter().string(from: now())
        // Named before the first write: an apply cut off midway leaves Redis partly at this revision
        // while `revision` still names the previous one, and a controller that must fall back (its
        // HEAD broken) has to finish this one, not undo it.
        try store.recordStatus(["applying_revision": plan.revision, "applying_origin": plan.origin], lease: lease)
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
        for name in Set(plan.replicas.filter { $0.kind == .start }.map(\.instance)) where !batches.contains(where: { $0.instance == name }) {
            batches.append((name, []))  // no ports, but replicas to start: held back the same way
        }
        for batch in batches {
            let id = ResourceID(.instance, batch.instance)
            if holdBack.contains(id) {
                report.heldBack.append(id)
                skipped.insert(batch.instance)
                continue
            }
            guard !batch.owners.isEmpty else { continue }
            do {
                let requests = batch.owners.map { (owner: $0.description, preferred: predicted[$0.description]) }
                assigned.merge(try store.allocatePorts(requests, range: configuration.portRange, lease: lease)) { a, _ in a }
            } catch let error as StateError where error.code == "ports-exhausted" {
                report.failures[id] = ResourceFailure(code: error.code, message: "\(error.message) for \(batch.owners.count) port lease(s) of instance \(batch.instance)", hint: error.hint)
                skipped.insert(batch.instance)
            }
        }
        report.portsAllocated = plan.ports.filter { $0.kind == .allocate && !skipped.contains(PortOwner($0.owner)?.instance ?? "") }.count
        Failpoint.hit("apply.after-ports")

        // 2. Replicas: start, gate on health, roll back an instance whose new replicas fail.
        if let runtimes {
            for instance in plan.desired.instances where !skipped.contains(instance.name) {
                guard let runtime = runtimes.runtime(instance.runtime) else { continue }
                let starts = plan.replicas.filter { $0.kind == .start && $0.instance == instance.name }
                let action = plan.changes.first { $0.id == instance.id }?.action ?? .noop
                guard !starts.isEmpty || action == .create || action == .replace else { continue }
                if let failure = startAndGate(instance, starts: starts, gateAll: action == .create || action == .replace,
                                              runtime: runtime, assigned: assigned, revision: plan.revision) {
                    report.failures[instance.id] = failure
                    skipped.insert(instance.name)
                    // The leases taken for the replicas that were rolled back go back to the pool.
                    let taken = plan.ports.filter { $0.kind == .allocate && PortOwner($0.owner)?.instance == instance.name }
                    try store.freePorts(taken.compactMap { change in assigned[change.owner].map { (port: $0, owner: change.owner) } }, lease: lease)
                    report.portsAllocated -= taken.count
                    for owner in PortOwner.owners(of: instance) { assigned[owner.description] = nil }
                } else {
                    report.replicasStarted += starts.count
                }
            }
        }
        // Leases a skipped instance held before this apply keep serving it (its live generation's).
        let heldBefore = Dictionary(plan.ports.filter { $0.kind != .allocate }.map { ($0.owner, $0.port) }, uniquingKeysWith: { a, _ in a })
        Failpoint.hit("apply.after-replicas")

        // 3. Inventory for everything created or changed.
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

        // 4. Certificates.
        var fingerprints = Dictionary(plan.certificates.compactMap { change in change.current.map { (change.name, $0.fingerprint) } },
                                      uniquingKeysWith: { a, _ in a })
        for change in plan.certificates where change.action != .keep {
            if change.action == .remove {
                try store.deleteCertificate(change.name, lease: lease)
                fingerprints[change.name] = nil
                report.certificatesRemoved += 1
                continue
            }
            guard change.pending.isEmpty, let issuer else { continue }
            if holdBack.contains(change.id) {
                report.heldBack.append(change.id)
                continue
            }
            if let metadata = try issueCertificate(change, issuer: issuer, lease: lease, report: &report) {
                fingerprints[change.name] = metadata.fingerprint
            }
        }
        Failpoint.hit("apply.after-certificates")

        // 5. Publish the route table compiled with the ports actually leased and the certificates
        //    now present; an instance left as it was keeps its live generation's endpoints.
        let previous = Dictionary(plan.changes.compactMap { change -> (String, Instance)? in
            guard change.id.kind == .instance, let before = change.before, let resource = try? Resource(id: change.id, canonicalSpec: before),
                  case .instance(let instance) = resource else { return nil }
            return (instance.name, instance)
        }, uniquingKeysWith: { a, _ in a })
        // Replicas failing their health checks are left out; one restarted and gated by this apply is back.
        let unready = Set(plan.unready.keys).subtracting(plan.replicas.filter { $0.kind == .start && !skipped.contains($0.instance) }.map(\.name))
        let table = RouteTableCompiler.compile(plan.desired, revision: plan.revision, generation: plan.routeTable.observedGeneration + 1,
                                               certificates: fingerprints) { instance, portName in
            let (serving, ports) = skipped.contains(instance.name) ? (previous[instance.name] ?? instance, heldBefore) : (instance, assigned)
            let owners = PortOwner.owners(of: serving).filter { $0.port == portName }
            return WorkloadPlanner.routed(owners, of: serving, unready: unready).compactMap { owner in
                ports[owner.description].map { RouteTableDocument.Endpoint(address: configuration.endpointAddress, port: $0, replica: owner.replica) }
            }
        }
        if table.contentHash != plan.routeTable.observedHash {
            try store.publish(table, expectedGeneration: plan.routeTable.observedGeneration, lease: lease)
            report.generation = table.generation
            report.published = true
        } else {
            report.generation = plan.routeTable.observedGeneration
        }
        Failpoint.hit("apply.after-publish")

        // 6. Old replicas: once no proxy routes to them any more.
        if let runtimes {
            let stops = plan.replicas.filter { $0.kind == .stop && !skipped.contains($0.instance) }
            if report.published, stops.contains(where: { $0.phase == .afterPublish }) {
                waitForProxies(generation: report.generation)
                if rollout.drainSeconds > 0 { Thread.sleep(forTimeInterval: rollout.drainSeconds) }
            }
            // In parallel: each may take its whole grace period (a PID 1 that ignores SIGTERM).
            let stopped = LockedCounter()
            let runtimesForStops = runtimes, grace = rollout.stopGraceSeconds, log = self.log
            DispatchQueue.concurrentPerform(iterations: stops.count) { index in
                let stop = stops[index]
                guard let runtime = runtimesForStops.runtime(stop.runtime) else { return }
                do {
                    try runtime.remove(name: stop.name, graceSeconds: grace)
                    log("removed \(stop.name): \(stop.reason.code)")
                    stopped.increment()
                } catch {
                    // Retried by the next pass, which still sees it.
                    log("could not remove \(stop.name): \(error)")
                }
            }
            report.replicasStopped += stopped.value
        }
        Failpoint.hit("apply.after-replicas-stopped")

        // 7. Free leases nobody declared any more.
        // A skipped instance keeps its old leases (a failed replace must not lose the replicas serving now).
        let frees = plan.ports.filter { $0.kind == .free && !skipped.contains(PortOwner($0.owner)?.instance ?? "") }
            .map { (port: $0.port, owner: $0.owner) }
        try store.freePorts(frees, lease: lease)
        report.portsFreed = frees.count
        Failpoint.hit("apply.after-free")

        // 8. Prune deleted resources.
        let deletes = plan.changes.filter { $0.action == .delete }.map(\.id)
        try store.deleteInventory(deletes, lease: lease)
        report.deleted = deletes.count
        Failpoint.hit("apply.after-prune")

        // 9. Status.
        try store.recordStatus([
            "revision": plan.revision, "origin": plan.origin, "outcome": report.failures.isEmpty ? "applied" : "degraded", "applied_at": appliedAt,
            "generation": String(report.generation), "lease_holder": lease.holder,
        ], lease: lease)
        return report
    }
}

extension Applier {
    /// Issues one certificate under its per-Domain lock and stores it. Returns what is now stored
    /// (nil when this Domain failed; the failure is in `report`). Lease and Redis errors are thrown.
    func issueCertificate(_ change: CertificateChange, issuer: CertificateIssuer, lease: Lease,
                          report: inout ApplyReport) throws -> CertificateMetadata? {
        guard let token = try store.lockCertificate(change.name, ttlMilliseconds: certificateLockMilliseconds) else {
            report.failures[change.id] = ResourceFailure(
                code: "certificate-locked", message: "another controller is ordering the certificate of Domain \(change.name) (its lock:cert:\(change.name) is held)",
                hint: "it is retried; the lock expires on its own if its holder died", retryAfter: 10)
            return nil
        }
        defer { try? store.unlockCertificate(change.name, token: token) }
        // Someone may have issued between our observation and the lock (a controller that lost
        // the lease mid-order): what is there now wins if it already satisfies the plan.
        if let current = try store.certificateMetadata(change.name), current.fingerprint != change.current?.fingerprint {
            let again = CertificatePlanner.decide(Domain(name: change.name, hosts: change.hosts, tls: change.source == .acme ? .acme : .selfSigned),
                                                  current: current, configuration: PlannerConfiguration(hasCertificateIssuer: true, acmeDirectory: change.directory),
                                                  now: now())
            if again.action == .keep { return current }
        }
        let request = CertificateRequest(name: change.name, hosts: change.hosts, source: change.source ?? .acme,
                                         directory: change.directory, email: change.email)
        let issued: IssuedCertificate
        do {
            issued = try issuer.issue(request)
        } catch let error as IssuanceError {
            report.failures[change.id] = ResourceFailure(code: error.code, message: "\(change.action.rawValue) certificate for \(change.hosts.joined(separator: ", ")): \(error.code): \(error.message)",
                                                         hint: error.hint, retryAfter: error.retryAfter)
            return nil
        } catch let error as StateError where error.code == "lease-lost" {
            throw error
        } catch {
            report.failures[change.id] = ResourceFailure(code: "certificate-error", message: "\(change.action.rawValue) certificate for \(change.hosts.joined(separator: ", ")): \(error)")
            return nil
        }
        try store.putCertificate(change.name, issued, lease: lease)
        report.certificates[change.name] = issued.metadata
        return issued.metadata
    }
}

/// A counter shared by the threads that stop replicas.
final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

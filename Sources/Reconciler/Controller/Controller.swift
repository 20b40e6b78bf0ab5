import Foundation
import RedisClient
import Spec

/// How a controller runs.
public struct ControllerConfiguration: Sendable {
    /// A git URL, a local git repository or a plain directory (read afresh each pass).
    public var repository: String
    public var ref: String?
    public var subdirectory: String?
    public var redisURL: String
    public var prefix: String = "berth:"
    /// A full pass runs at least this often even when nothing moved (drift is corrected then).
    public var interval: TimeInterval = 30
    public var leaseTTLMilliseconds: Int = 15_000
    /// Who this controller is in the lease and in status (host and pid by default).
    public var holder: String
    public var planner: PlannerConfiguration = .init(hasCertificateIssuer: true)
    public var retry: RetryPolicy = .init()
    /// CA bundle trusted for the ACME directory's HTTPS (`--acme-ca-file`); nil uses the system's.
    public var acmeCAFile: String?
    /// The Docker daemon (`unix:///var/run/docker.sock`, `tcp://…`); nil: no docker runtime.
    public var dockerHost: String?
    /// Where process replicas write their output; nil: no process runtime.
    public var processLogDirectory: String?
    public var rollout = RolloutSettings()

    /// Tells this deployment's containers and processes from another's on the same host: the same
    /// Redis and prefix is the same deployment.
    public var namespace: String { String(SHA256.hex(Array((redisURL + "|" + prefix).utf8)).prefix(12)) }

    public init(repository: String, ref: String? = nil, subdirectory: String? = nil, redisURL: String, holder: String) {
        self.repository = repository
        self.ref = ref
        self.subdirectory = subdirectory
        self.redisURL = redisURL
        self.holder = holder
    }
}

/// What one pass did.
public struct PassRecord: Sendable, Equatable {
    public enum Outcome: String, Sendable, Equatable, CaseIterable {
        /// Changes were applied and every resource converged.
        case applied
        /// Nothing to change: the world matches the revision.
        case unchanged
        /// Applied, but some resources failed on their own (they are retried with backoff).
        case degraded
        /// The revision does not validate; nothing of it was applied, the last good one stays live.
        case invalid
        /// The repository could not be read (network, ref gone…); the last good revision stays live.
        case fetchFailed = "fetch-failed"
        /// The pass itself failed (Redis unreachable, lease lost mid-pass).
        case failed
        /// Another controller holds the lease; this one waits.
        case standby
    }

    public var sequence: Int
    public var trigger: String
    public var startedAt: Date
    public var duration: TimeInterval
    public var outcome: Outcome
    /// The revision this pass read (nil when the source could not be read).
    public var revision: String?
    public var error: String?
    /// What the pass changed, one line each: `~ Instance/api: port-drift: lease for 0/http … is missing`.
    public var changes: [String] = []
}

/// Runs passes — fetch → load and validate → observe → plan → apply → publish → record status — on
/// its own thread: when triggered (webhook, `berth sync`), and at least every `interval`. Only the
/// holder of the apply lease writes; the others wait and take over when the lease expires.
///
/// Invariants:
/// - an invalid revision is never applied, not even partly: the last good revision keeps being
///   reconciled (drift still corrected) and status carries the diagnostics and the commit;
/// - a resource that fails alone is left as it was and retried with backoff; the rest converges;
/// - after losing the lease nothing more is written (every write is fenced by the lease anyway).
public final class Controller: @unchecked Sendable {
    public let configuration: ControllerConfiguration
    private let source: SpecSource
    private let now: () -> Date

    private let lock = NSCondition()
    private var stopping = false
    private var pendingTriggers: [String] = []
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)

    // Owned by the pass thread.
    private var store: RedisStateStore?
    private var renewer: RedisStateStore?
    private var lease: Lease?
    private var keeper: LeaseKeeper?
    private var issuer: RedisCertificateIssuer?
    /// The container and process runtimes (made at init; they connect on first use).
    public let runtimes: RuntimeSet
    /// Checks running replicas between passes; a change of readiness triggers a pass.
    private let health = HealthMonitor()
    private var lastGood: (desired: DesiredState, revision: String, origin: String)?
    /// The warnings of `lastGood` as status stores them (JSON), or "" when it has none.
    private var lastGoodWarnings = ""
    /// The applied revision this controller tried to read back, and why it could not; a lasting
    /// reason (gone from the repository, no longer valid, no history) is not tried again.
    private var recovery: (revision: String, failure: String?, lasting: Bool)?
    /// Pass numbers continue across leaders (read back from status on taking the lease), so
    /// `berth sync --wait` can tell a new pass from an old one after a failover.
    private var nextSequence = 1
    /// The conditions last recorded in status; the (large) field is rewritten only when they change.
    private var recordedConditions: [ResourceID: ResourceCondition]?

    // Shared with readers (HTTP listener), under `lock`.
    private var snapshotState = ControllerSnapshot()

    /// Called after every pass (for logs).
    public var onPass: (@Sendable (PassRecord, ControllerSnapshot) -> Void)?
    /// Progress inside a pass (replicas started and removed, proxies waited for).
    public var onLog: (@Sendable (String) -> Void)?

    public init(configuration: ControllerConfiguration, now: @escaping () -> Date = Date.init) throws {
        var configuration = configuration
        let docker = try configuration.dockerHost.map { try DockerRuntime(host: $0, namespace: configuration.namespace) }
        let process = try configuration.processLogDirectory.map { try ProcessRuntime(namespace: configuration.namespace, logDirectory: $0) }
        runtimes = RuntimeSet(docker: docker, process: process)
        configuration.planner.runtimes = runtimes.kinds
        self.configuration = configuration
        self.source = try SourceResolver.source(repository: configuration.repository, ref: configuration.ref,
                                                subdirectory: configuration.subdirectory)
        self.now = now
        snapshotState.holder = configuration.holder
        // A process that exits is restarted by the next pass: run it now rather than at the interval.
        process?.onExit = { [weak self] name in self?.trigger("replica-exited \(name)") }
        health.onChange = { [weak self] name in self?.trigger("health \(name)") }
    }

    // MARK: Running

    public func start() {
        let thread = Thread { [self] in
            loop()
            finished.signal()
        }
        thread.name = "berth-controller"
        self.thread = thread
        thread.start()
    }

    /// Asks for a pass as soon as the current one (if any) ends. Triggers that arrive during a
    /// pass are coalesced into one more pass.
    public func trigger(_ reason: String) {
        lock.lock()
        if pendingTriggers.count < 16 { pendingTriggers.append(reason) }
        lock.signal()
        lock.unlock()
    }

    /// Finishes the pass in progress, releases the lease (so a standby takes over at once) and returns.
    public func stop() {
        lock.lock()
        let running = thread != nil && !stopping
        stopping = true
        lock.signal()
        lock.unlock()
        if running { finished.wait() }
    }

    public var snapshot: ControllerSnapshot { lock.withLock { snapshotState } }

    /// Passes a trigger on to whichever controller leads (through `<prefix>control`), for triggers
    /// that reached a standby, such as a webhook behind a load balancer. Does not block the caller.
    public func forwardToLeader(_ reason: String) {
        let url = configuration.redisURL, channel = SyncListener.channel(prefix: configuration.prefix)
        DispatchQueue.global().async {
            guard let connection = try? RedisConnection(url, connectTimeout: .seconds(2), commandTimeout: .seconds(2)) else { return }
            defer { connection.close() }
            _ = try? connection.send(["PUBLISH", channel, reason + " (forwarded by a standby)"])
        }
    }

    private func loop() {
        var reason = "start"
        while true {
            let record = runPass(trigger: reason)
            onPass?(record, snapshot)
            // A standby retries the lease often so it takes over soon after the leader's lease expires.
            var wait = record.outcome == .standby
                ? min(configuration.interval, max(0.2, Double(configuration.leaseTTLMilliseconds) / 10_000))
                : configuration.interval
            // A resource waiting out its backoff is retried when it is due, not at the next interval.
            let retries = lock.withLock { snapshotState.conditions.values.compactMap { $0.state == .failed ? $0.nextRetry : nil } }
            if record.outcome != .standby, let due = retries.min() { wait = max(0.05, min(wait, due.timeIntervalSince(now()) + 0.01)) }
            guard let next = waitForTrigger(timeout: wait) else { break }
            reason = next
        }
        keeper?.stop()
        if let lease, let store { try? store.releaseLease(lease) }
        lease = nil
        store?.connection.close()
        renewer?.connection.close()
        issuer?.shutdown()
        issuer = nil
        health.stop()
        // Processes are the controller's children and stop with it; containers keep running.
        (runtimes.process as? ProcessRuntime)?.stopAll(graceSeconds: configuration.rollout.stopGraceSeconds)
        lock.withLock { snapshotState.leader = false }
    }

    /// The certificate issuer, made on first use (nil when certificates are not issued here).
    private func certificateIssuer() throws -> RedisCertificateIssuer? {
        guard configuration.planner.hasCertificateIssuer else { return nil }
        if let issuer { return issuer }
        var options = RedisCertificateIssuer.Options(redisURL: configuration.redisURL, prefix: configuration.prefix, acmeCAFile: configuration.acmeCAFile)
        options.orderTimeout = 180
        let made = try RedisCertificateIssuer(options: options)
        issuer = made
        return made
    }

    /// The next trigger's reason, "interval" on timeout, nil when stopping.
    private func waitForTrigger(timeout: TimeInterval) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        lock.lock()
        defer { lock.unlock() }
        while !stopping && pendingTriggers.isEmpty {
            if !lock.wait(until: deadline) { break }
        }
        if stopping { return nil }
        if pendingTriggers.isEmpty { return snapshotState.leader ? "interval" : "lease-retry" }
        let reasons = pendingTriggers
        pendingTriggers.removeAll()
        return Array(Set(reasons)).sorted().joined(separator: ", ")
    }

    // MARK: One pass

    private func runPass(trigger: String) -> PassRecord {
        let clock = ContinuousClock.now
        var record = PassRecord(sequence: 0, trigger: trigger, startedAt: now(),
                                duration: 0, outcome: .failed)
        pass(&record, since: clock)
        record.duration = seconds(ContinuousClock.now - clock)
        lock.withLock { snapshotState.record(record) }
        return record
    }

    private func pass(_ record: inout PassRecord, since clock: ContinuousClock.Instant) {
        let started = record.startedAt
        let store: RedisStateStore, lease: Lease
        switch leadership() {
        case .leader(let s, let l):
            (store, lease) = (s, l)
            record.sequence = nextSequence
            nextSequence += 1
        case .standby:
            record.outcome = .standby
            return
        case .unavailable(let error):
            record.error = error
            return
        }
        var fields: [String: String] = [:]
        var pendingConditions: [ResourceID: ResourceCondition]?
        do {
            // Fetch, load, validate.
            var desired: (state: DesiredState, revision: String, origin: String)?
            do {
                let snapshot = try source.snapshot()
                record.revision = snapshot.revision
                desired = evaluate(snapshot, store, &record, &fields)
            } catch {
                record.outcome = .fetchFailed
                record.error = "\(error)"
                recoverLastGood(store, unless: nil)
                desired = lastGood.map { ($0.desired, $0.revision, $0.origin) }
            }

            // Reconcile what is good: the new revision, or the last good one (drift is still corrected).
            if let desired {
                try checkLease()
                var observed = try store.observe(fingerprint: false)
                if !runtimes.kinds.isEmpty {
                    var runtime = runtimes.observe(portRange: configuration.planner.portRange)
                    health.watch(Self.healthTargets(runtime, inventory: observed.inventory))
                    let running = Set(runtime.replicas.filter(\.isRunning).map(\.name))
                    let unready = health.unready
                    runtime.unready = unready.messages.filter { running.contains($0.key) }
                    runtime.failedChecks = unready.failures.filter { running.contains($0.key) }
                    observed.runtime = runtime
                }
                let plan = Planner.plan(desired: desired.state, revision: desired.revision, origin: desired.origin,
                                        observed: observed, configuration: configuration.planner, now: now())
                record.changes = Self.describe(plan)
                let previous = lock.withLock { snapshotState.conditions }
                var report: ApplyReport?
                if plan.hasChanges {
                    try checkLease()
                    let waiting = ConditionTracker.waiting(previous, now: now())
                    var applier = Applier(store: store, configuration: configuration.planner, issuer: try certificateIssuer(),
                                          runtimes: runtimes.kinds.isEmpty ? nil : runtimes, now: now)
                    applier.rollout = configuration.rollout
                    let log = onLog
                    applier.log = { line in log?(line) }
                    report = try applier.apply(plan, lease: lease, holdBack: waiting)
                    try checkLease()
                }
                let conditions = ConditionTracker.update(previous, plan: plan, report: report, retry: configuration.retry,
                                                         now: now(), jitter: { Double.random(in: 0...1) })
                lock.withLock {
                    snapshotState.conditions = conditions
                    snapshotState.resourceFailures += report?.failures.count ?? 0
                    snapshotState.revision = desired.revision
                    if let report { snapshotState.generation = report.generation } else { snapshotState.generation = observed.generation }
                }
                if record.outcome == .failed {  // not already invalid / fetch-failed
                    if let report, !report.failures.isEmpty || !report.heldBack.isEmpty {
                        record.outcome = .degraded
                        let failed = report.failures.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
                        let waiting = report.heldBack.sorted().map { id in
                            "\(id): waiting to retry" + (previous[id]?.nextRetry.map { " at \(Timestamps.string($0))" } ?? "")
                        }
                        record.error = (failed + waiting).joined(separator: "; ")
                    } else {
                        record.outcome = report == nil ? .unchanged : .applied
                    }
                }
                if report == nil {
                    // Nothing to write, but the revision is now the one applied (say, a commit that only touched comments).
                    fields["revision"] = desired.revision
                    fields["applying_revision"] = desired.revision  // nothing cut off to finish
                    fields["origin"] = desired.origin
                    fields["generation"] = String(observed.generation)
                }
                if conditions != recordedConditions {
                    fields["resources"] = JSONValue.object(Dictionary(uniqueKeysWithValues: conditions.map { ($0.key.description, $0.value.json) })).canonicalString
                    pendingConditions = conditions
                }
            }
        } catch let error as StateError where error.code == "lease-lost" {
            record.outcome = .failed
            record.error = "lost the apply lease; stopped writing"
            dropLeadership()
            return
        } catch {
            record.outcome = .failed
            record.error = "\(error)"
            if (error as? StateError)?.code == "redis-unreachable" { dropConnections() }
        }

        // Record the pass (fenced by the lease like every other write).
        fields["controller"] = configuration.holder
        fields["lease_holder"] = configuration.holder
        fields["pass_sequence"] = String(record.sequence)
        fields["pass_outcome"] = record.outcome.rawValue
        fields["pass_at"] = Timestamps.string(started)
        fields["pass_ms"] = String(Int((seconds(ContinuousClock.now - clock) * 1000).rounded()))
        fields["pass_trigger"] = record.trigger
        fields["pass_revision"] = record.revision ?? ""
        fields["pass_error"] = record.error ?? ""
        fields["pass_changes"] = JSONValue.array(record.changes.map(JSONValue.string)).canonicalString
        do {
            try checkLease()
            try store.recordStatus(fields, lease: lease)
            if let pendingConditions { recordedConditions = pendingConditions }
        } catch let error as StateError where error.code == "lease-lost" {
            dropLeadership()
        } catch {
            if record.error == nil { record.error = "could not record status: \(error)" }
        }
    }

    /// Running replicas of the live template of instances with a health check, and where to check them.
    static func healthTargets(_ runtime: RuntimeObservation, inventory: [ResourceID: InventoryRecord]) -> [HealthMonitor.Target] {
        // Each instance's record is parsed once, however many replicas it has.
        var instances: [String: (Instance, InventoryRecord)?] = [:]
        func live(_ name: String) -> (Instance, InventoryRecord)? {
            if let known = instances[name] { return known }
            let found = inventory[ResourceID(.instance, name)].flatMap { record -> (Instance, InventoryRecord)? in
                guard let resource = try? record.resource(), case .instance(let instance) = resource else { return nil }
                return (instance, record)
            }
            instances[name] = found
            return found
        }
        return runtime.replicas.compactMap { replica in
            guard replica.isRunning, let (instance, record) = live(replica.instance),
                  instance.templateHash == replica.templateHash, let health = instance.health, let first = instance.ports.first,
                  let port = record.ports[PortOwner(instance: instance.name, templateHash: instance.templateHash, replica: replica.replica, port: first.name).description]
            else { return nil }
            return HealthMonitor.Target(name: replica.name, address: HealthProbe.address(for: instance.runtime == .docker ? instance.bindAddress : "127.0.0.1"),
                                        port: port, path: health.path, intervalMilliseconds: health.intervalMilliseconds,
                                        timeoutMilliseconds: health.timeoutMilliseconds, handle: replica.handle,
                                        restartAfter: health.restartAfter)
        }
    }

    /// Loads and validates a snapshot. Returns what to reconcile: the snapshot when valid, else the
    /// last good revision (nil if there is none). An unchanged revision is not parsed again.
    private func evaluate(_ snapshot: SourceSnapshot, _ store: StateStore, _ record: inout PassRecord,
                          _ fields: inout [String: String]) -> (state: DesiredState, revision: String, origin: String)? {
        var fallback: (state: DesiredState, revision: String, origin: String)? {
            lastGood.map { (state: $0.desired, revision: $0.revision, origin: $0.origin) }
        }
        var stillLive: String {
            if let lastGood { return "revision \(PlanRenderer.shortRevision(lastGood.revision)) stays live" }
            if let recovery, let failure = recovery.failure {
                return "revision \(PlanRenderer.shortRevision(recovery.revision)), applied earlier, is left as it is but not reconciled (\(failure))"
            }
            return "nothing was applied"
        }
        if let good = lastGood, good.revision == snapshot.revision {
            fields["invalid_revision"] = ""
            fields["diagnostics"] = lastGoodWarnings
            lock.withLock { snapshotState.invalid = nil }
            return fallback
        }
        if let invalid = lock.withLock({ snapshotState.invalid }), invalid.revision == snapshot.revision {
            recoverLastGood(store, unless: snapshot.revision)
            record.outcome = .invalid
            record.error = "revision \(PlanRenderer.shortRevision(snapshot.revision)) is still not valid; \(stillLive)"
            return fallback
        }
        let loaded = SpecLoader.load(files: snapshot.files.map { (path: $0.path, contents: $0.contents) })
        if loaded.isValid {
            remember(loaded, snapshot)
            fields["invalid_revision"] = ""
            fields["diagnostics"] = lastGoodWarnings
            lock.withLock { snapshotState.invalid = nil }
            return (loaded.state, snapshot.revision, snapshot.origin)
        }
        record.outcome = .invalid
        recoverLastGood(store, unless: snapshot.revision)
        let errors = loaded.diagnostics.filter { $0.severity == .error }.count
        record.error = "revision \(PlanRenderer.shortRevision(snapshot.revision)) is not valid (\(errors) error\(errors == 1 ? "" : "s")); \(stillLive)"
        fields["invalid_revision"] = snapshot.revision
        fields["diagnostics"] = JSONValue.array(loaded.diagnostics.map(\.json)).canonicalString
        let invalid = InvalidRevision(revision: snapshot.revision, diagnostics: loaded.diagnostics.map(\.rendered))
        lock.withLock { snapshotState.invalid = invalid }
        return fallback
    }

    /// Keeps a valid revision as the last good one, with its warnings as status stores them (a valid
    /// revision may still carry some: a route that can never match).
    private func remember(_ loaded: LoadResult, _ snapshot: SourceSnapshot) {
        lastGood = (loaded.state, snapshot.revision, snapshot.origin)
        lastGoodWarnings = loaded.diagnostics.isEmpty ? "" : JSONValue.array(loaded.diagnostics.map(\.json)).canonicalString
    }

    /// A controller that starts on a revision it cannot use (invalid, or the fetch fails) has no last
    /// good revision in memory. The revision `status` says was applied (by an earlier controller) is
    /// read back from the source, which keeps it when it is git, so that revision really stays live:
    /// drift is corrected and instances are looked after. A lasting failure is not tried again for
    /// the same applied revision; one that may pass is, on the next pass that needs a fallback.
    /// `unless` is the revision just found invalid (an applied revision a newer validator rejects
    /// is no help).
    private func recoverLastGood(_ store: StateStore, unless invalid: String?) {
        guard lastGood == nil, let applied = try? store.appliedRevision() else { return }
        if let recovery, recovery.revision == applied, recovery.lasting { return }
        if applied == invalid {
            recovery = (applied, "it no longer validates", true)
            return
        }
        do {
            guard let snapshot = try source.snapshot(revision: applied) else {
                recovery = (applied, "the source keeps no history to read it from", true)
                return
            }
            let loaded = SpecLoader.load(files: snapshot.files.map { (path: $0.path, contents: $0.contents) })
            guard loaded.isValid else {
                recovery = (applied, "it no longer validates", true)
                onLog?("revision \(PlanRenderer.shortRevision(applied)), applied earlier, no longer validates; it is not reconciled")
                return
            }
            remember(loaded, snapshot)
            recovery = (applied, nil, true)
            onLog?("recovered revision \(PlanRenderer.shortRevision(applied)), applied before this controller started, from \(snapshot.origin): it stays live")
        } catch {
            // Gone for good, or not yet here (no mirror before the first fetch): the latter is tried
            // again on the next pass that needs it, and logged only the first time.
            let lasting = (error as? SourceError)?.lasting ?? false
            if recovery?.revision != applied || recovery?.failure != "\(error)" {
                onLog?("revision \(PlanRenderer.shortRevision(applied)), applied earlier, cannot be read back: \(error)")
            }
            recovery = (applied, "\(error)", lasting)
        }
    }

    /// One line per planned change, with its reasons (drift included), for status and the log.
    static func describe(_ plan: Plan) -> [String] {
        var lines = plan.changes.filter { $0.action != .noop }.map { change in
            "\(change.action.symbol) \(change.id): " + change.reasons.map { "\($0.code): \($0.message)" }.joined(separator: "; ")
        }
        for change in plan.certificates where change.isActionable {
            lines.append("\(change.action.symbol) certificate \(change.name): \(change.action.rawValue)" + (change.reason.map { ": \($0.code): \($0.message)" } ?? ""))
        }
        if plan.routeTable.action != .noop {
            lines.append("\(plan.routeTable.action.symbol) route table: " + plan.routeTable.reasons.map { "\($0.code): \($0.message)" }.joined(separator: "; "))
        }
        return lines
    }

    // MARK: Lease

    private enum Leadership {
        case leader(RedisStateStore, Lease)
        case standby
        case unavailable(String)
    }

    /// Leads when this controller holds the apply lease or can take it now.
    private func leadership() -> Leadership {
        if keeper?.lost == true { dropLeadership() }
        do {
            if store == nil { store = try RedisStateStore(url: configuration.redisURL, prefix: configuration.prefix) }
            if renewer == nil { renewer = try RedisStateStore(url: configuration.redisURL, prefix: configuration.prefix) }
        } catch {
            dropConnections()
            lock.withLock { snapshotState.lastError = "\(error)" }
            return .unavailable("\(error)")
        }
        if let lease, let store { return .leader(store, lease) }
        do {
            let lease = try store!.acquireLease(holder: configuration.holder, ttlMilliseconds: configuration.leaseTTLMilliseconds)
            let recorded = try? store!.connection.send(["HGET", RedisKeys(prefix: configuration.prefix).status, "pass_sequence"]).string.flatMap { Int($0) }
            nextSequence = max(nextSequence, (recorded ?? 0) + 1)
            // Another leader may have applied a newer revision while this one stood by: what it
            // remembers as last good must not roll that back (a broken HEAD would fall back to it).
            if let good = lastGood, (try? store!.appliedRevision()) != good.revision {
                lastGood = nil
                lastGoodWarnings = ""
                recovery = nil
            }
            let renewer = renewer!
            self.lease = lease
            keeper = LeaseKeeper(lease: lease) { try renewer.renewLease($0) }
            lock.withLock {
                snapshotState.leader = true
                snapshotState.leaseHolder = configuration.holder
                snapshotState.lastError = nil
            }
            return .leader(store!, lease)
        } catch let held as LeaseHeldError {
            lock.withLock {
                snapshotState.leader = false
                snapshotState.leaseHolder = held.holder
                snapshotState.lastError = nil
            }
            return .standby
        } catch {
            dropConnections()
            lock.withLock { snapshotState.lastError = "\(error)" }
            return .unavailable("\(error)")
        }
    }

    private func checkLease() throws {
        if keeper?.lost == true {
            throw StateError(code: "lease-lost", message: "the apply lease was lost", retryable: true)
        }
    }

    private func dropLeadership() {
        keeper?.stop()
        keeper = nil
        lease = nil
        recordedConditions = nil  // another leader may have written status meanwhile
        lock.withLock { snapshotState.leader = false }
    }

    private func dropConnections() {
        dropLeadership()
        store?.connection.close()
        renewer?.connection.close()
        store = nil
        renewer = nil
    }
}

/// A revision that failed validation, with its diagnostics (`file:line:col: error: …`).
public struct InvalidRevision: Sendable, Equatable {
    public var revision: String
    public var diagnostics: [String]
}

/// What a controller knows about itself, for `/status`, `/metrics` and `/readyz`.
public struct ControllerSnapshot: Sendable {
    public var holder = ""
    public var leader = false
    public var leaseHolder: String?
    public var revision: String?
    public var generation = 0
    public var invalid: InvalidRevision?
    public var conditions: [ResourceID: ResourceCondition] = [:]
    public var lastPass: PassRecord?
    public var lastError: String?
    public var passes = 0
    public var passesByOutcome: [PassRecord.Outcome: Int] = [:]
    public var passSeconds: Double = 0
    public var resourceFailures = 0

    mutating func record(_ pass: PassRecord) {
        passes += 1
        passesByOutcome[pass.outcome, default: 0] += 1
        passSeconds += pass.duration
        lastPass = pass
    }

    /// Ready once the last pass reached Redis, as leader or as standby.
    public var ready: Bool {
        guard let lastPass else { return false }
        return lastPass.outcome != .failed
    }

    public var json: JSONValue { json(allResources: true) }

    /// With `allResources` false, Ready resources are only counted (a repository of 10,000 routes
    /// would otherwise make every /status answer megabytes long).
    public func json(allResources: Bool) -> JSONValue {
        let listed = allResources ? conditions : conditions.filter { $0.value.state != .ready }
        var counts: [String: JSONValue] = [:]
        for state in ResourceCondition.State.allCases { counts[state.rawValue] = .int(conditions.values.filter { $0.state == state }.count) }
        var object: [String: JSONValue] = [
            "controller": .string(holder), "leader": .bool(leader), "generation": .int(generation), "passes": .int(passes),
            "resource_counts": .object(counts),
            (allResources ? "resources" : "resources_not_ready"): .object(Dictionary(uniqueKeysWithValues: listed.map { ($0.key.description, $0.value.json) })),
        ]
        if let leaseHolder { object["lease_holder"] = .string(leaseHolder) }
        if let revision { object["revision"] = .string(revision) }
        if let lastError { object["error"] = .string(lastError) }
        if let invalid {
            object["invalid"] = .object(["revision": .string(invalid.revision), "diagnostics": .array(invalid.diagnostics.map(JSONValue.string))])
        }
        if let pass = lastPass {
            var last: [String: JSONValue] = [
                "sequence": .int(pass.sequence), "trigger": .string(pass.trigger), "started_at": .string(Timestamps.string(pass.startedAt)),
                "duration_ms": .int(Int((pass.duration * 1000).rounded())), "outcome": .string(pass.outcome.rawValue),
            ]
            if let revision = pass.revision { last["revision"] = .string(revision) }
            if let error = pass.error { last["error"] = .string(error) }
            object["last_pass"] = .object(last)
        }
        return .object(object)
    }
}

private func seconds(_ duration: Swift.Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

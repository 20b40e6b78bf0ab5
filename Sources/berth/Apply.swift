import ArgumentParser
import Foundation
import Reconciler
import Spec

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the repository (or exactly a saved plan) to the state in Redis.",
        discussion: """
            Without PLANFILE, plans and applies in one go. With PLANFILE (from `berth plan --out`), applies \
            exactly that plan and refuses it as stale if the source revision or the state in Redis moved \
            since it was made.

            Apply holds a lease in Redis (<prefix>lock:apply) for its whole run, so two applies cannot \
            interleave: the second one exits 1 and says who holds the lease. Every write is fenced by the \
            lease, idempotent, and ordered so that an apply killed at any point is completed by the next \
            one with nothing duplicated or leaked. Applying the same revision twice changes nothing.

            What apply does today: records every resource in the inventory, leases host ports for each \
            instance port, issues certificates (self-signed ones from the internal CA; acme ones when \
            --acme-directory or spec.acme.directory names a directory) and publishes the compiled route \
            table (announced on <prefix>events). Instances get their port leases and routes, but their \
            containers and processes are started, health-gated and watched by `berth controller`, so \
            apply lists them as pending.

            Examples:
              berth apply --repo examples/quickstart
              berth plan --repo ./edge --out plan.json && berth apply plan.json
            """)

    @Argument(help: ArgumentHelp("A plan saved by `berth plan --out`.", valueName: "planfile"))
    var planFile: String?

    @OptionGroup var source: SourceOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var certificates: CertificateOptions

    @Option(name: .customLong("lease-ttl"), help: ArgumentHelp("Lifetime of the apply lease in milliseconds; it is renewed every third of it.", valueName: "ms"))
    var leaseTTL: Int = 30_000

    func validate() throws {
        if planFile != nil, source.repo != nil || source.ref != nil || source.subdirectory != nil {
            throw ValidationError("a saved plan carries its own source; drop --repo/--ref/--path or drop the plan file")
        }
        if leaseTTL < 1_000 { throw ValidationError("--lease-ttl must be at least 1000 ms") }
    }

    func run() throws {
        do { try applyOnce() } catch let exit as ExitCode { throw exit } catch { throw printError(error) }
    }

    private func applyOnce() throws {
        var sourceOptions = source
        var prefix = state.prefix
        var saved: PlanFile?
        if let planFile {
            let file = try PlanFile(contentsOf: planFile)
            sourceOptions.repo = file.repo
            sourceOptions.ref = file.ref
            sourceOptions.subdirectory = file.path
            prefix = file.prefix
            saved = file
        }
        let snapshot = try sourceOptions.snapshot()
        if let saved, saved.revision != snapshot.revision {
            throw fail("stale plan: the source moved from \(PlanRenderer.shortRevision(saved.revision)) to \(PlanRenderer.shortRevision(snapshot.revision)) since the plan was made",
                       hint: "make a new plan with `berth plan --out \(planFile!)` and review it")
        }
        let desired = try loadValid(snapshot)
        var stateOptions = state
        stateOptions.prefix = prefix
        let store = try stateOptions.connect()
        let renewer = try stateOptions.connect()
        let holder = "berth apply (pid \(getpid()) on \(ProcessInfo.processInfo.hostName))"
        let lease = try store.acquireLease(holder: holder, ttlMilliseconds: leaseTTL)
        let keeper = LeaseKeeper(lease: lease) { lease in try renewer.renewLease(lease) }
        defer {
            keeper.stop()
            try? store.releaseLease(lease)
        }
        let observed = try store.observe()
        if let saved, saved.fingerprint != observed.fingerprint {
            throw fail("stale plan: the state in Redis (\(stateOptions.describe(store))) changed since the plan was made",
                       hint: "make a new plan with `berth plan --out \(planFile!)` and review it")
        }
        var configuration = try stateOptions.configuration()
        certificates.apply(to: &configuration)
        let plan = Planner.plan(desired: desired, revision: snapshot.revision, origin: snapshot.origin, observed: observed,
                                configuration: configuration)
        let renderer = PlanRenderer(color: output.color, stateDescription: stateOptions.describe(store))
        if output.format == .text { writeStdout(renderer.text(plan)) }
        guard plan.hasChanges else {
            // Nothing to write but the fact: after an apply cut off at its very end, status would
            // otherwise keep naming the previous revision (and the cut-off one as in progress).
            try store.recordStatus(["revision": plan.revision, "applying_revision": plan.revision, "origin": plan.origin,
                                    "applying_origin": plan.origin, "generation": String(observed.generation)], lease: lease)
            switch output.format {
            case .text: writeStdout("\nNo changes. Revision \(PlanRenderer.shortRevision(plan.revision)) is applied; route table generation \(observed.generation) is live.\n")
            case .json: writeStdout(JSONValue.object(["plan": renderer.json(plan), "applied": .bool(false), "generation": .int(observed.generation)]).prettyString + "\n")
            }
            return
        }
        let issuer = try certificates.issuer(state: stateOptions, prefix: prefix)
        defer { issuer.shutdown() }
        let report = try Applier(store: store, configuration: configuration, issuer: issuer).apply(plan, lease: lease)
        if keeper.lost {
            throw fail("the apply lease was lost while applying", hint: "another apply may have taken over; run `berth plan` to see the state now")
        }
        switch output.format {
        case .text:
            var line = "\nApply complete. Resources: \(report.created) created, \(report.updated) updated, \(report.replaced) replaced, \(report.deleted) deleted; ports: \(report.portsAllocated) leased, \(report.portsFreed) freed."
            if !report.certificates.isEmpty || report.certificatesRemoved > 0 {
                line += " Certificates: \(report.certificates.count) issued, \(report.certificatesRemoved) removed."
            }
            line += report.published ? " Route table generation \(report.generation) published." : " Route table unchanged (generation \(report.generation))."
            for (id, failure) in report.failures.sorted(by: { $0.key < $1.key }) { line += "\n  failed: \(id): \(failure)" }
            writeStdout(line + "\n")
        case .json:
            writeStdout(JSONValue.object([
                "plan": renderer.json(plan), "applied": .bool(true), "generation": .int(report.generation), "published": .bool(report.published),
                "created": .int(report.created), "updated": .int(report.updated), "replaced": .int(report.replaced),
                "deleted": .int(report.deleted), "ports_leased": .int(report.portsAllocated), "ports_freed": .int(report.portsFreed),
            ]).prettyString + "\n")
        }
    }
}

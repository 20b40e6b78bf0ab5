import ArgumentParser
import Foundation
import Reconciler
import Spec

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what applying the repository would change, without changing anything.",
        discussion: """
            The plan compares the repository with what Berth recorded in Redis: resources to create, \
            update, replace or delete (with the fields that changed), host ports to lease or free, and \
            each affected host's route table after the change.

            The auth impact lists, per host, each path whose guard changes: which policy guarded it \
            before (the table Berth last applied) and which will after. A path that becomes public, \
            or whose policy lets more requests through (ipAllow widened or removed, a mechanism \
            removed or changed, tokens or users added, JWT scopes dropped, audiences added, issuer, \
            key set or forward URL changed), is flagged "⚠ exposure".

            Exit status (as Terraform's): 0 on success, 1 on error; with --detailed-exitcode, 2 when \
            there are changes. With --fail-on-exposure, 1 when the plan flags an exposure (a line on \
            standard error says which paths and that the flag failed it); this wins over 2. The plan \
            is printed, and written with --out, either way. --out saves the plan as JSON for \
            `berth apply PLANFILE`, which applies exactly it and refuses if the repository or Redis \
            moved in the meantime.

            Examples:
              berth plan --repo examples/quickstart
              berth plan --repo file:///srv/edge.git --ref main --format json \\
                --out plan.json --detailed-exitcode
              berth plan --repo . --fail-on-exposure   # in CI: refuse exposing changes
            """)

    @OptionGroup var source: SourceOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var certificates: CertificateOptions

    @Option(name: .long, help: ArgumentHelp("Also write the plan (JSON) to this file, for `berth apply FILE`.", valueName: "file"))
    var out: String?

    @Flag(name: .customLong("detailed-exitcode"), help: "Exit 2 when the plan has changes, 0 when it has none.")
    var detailedExitcode = false

    @Flag(name: .customLong("fail-on-exposure"),
          help: "Exit 1 when the plan makes a path public or weakens the policy guarding it (see the auth impact).")
    var failOnExposure = false

    /// What apply would do with the same certificate options (self-signed certificates are always issued).
    func plannerConfiguration() throws -> PlannerConfiguration {
        var configuration = try state.configuration()
        certificates.apply(to: &configuration)
        return configuration
    }

    func run() throws {
        let plan: Reconciler.Plan
        let store: RedisStateStore
        do {
            let snapshot = try source.snapshot()
            let desired = try loadValid(snapshot)
            store = try state.connect()
            let observed = try store.observe()
            plan = Planner.plan(desired: desired, revision: snapshot.revision, origin: snapshot.origin, observed: observed,
                                configuration: try plannerConfiguration())
        } catch let exit as ExitCode { throw exit } catch { throw printError(error) }

        let renderer = PlanRenderer(color: output.color, stateDescription: state.describe(store))
        switch output.format {
        case .text: writeStdout(renderer.text(plan))
        case .json: writeStdout(renderer.json(plan).prettyString + "\n")
        }
        if let out {
            let file = PlanFile(plan: renderer.json(plan), source: source, prefix: state.prefix)
            do { try file.write(to: out) } catch { throw fail("cannot write the plan to \(out): \(error.localizedDescription)") }
            if output.format == .text { writeStdout("Saved the plan to \(out). Apply exactly it with: berth apply \(out)\n") }
        }
        if failOnExposure && plan.authImpact.hasExposure { throw exposureFailure(plan.authImpact) }
        if detailedExitcode && plan.hasChanges { throw ExitCode(2) }
    }
}

/// The line that says what was exposed and that --fail-on-exposure turned it into a failure.
func exposureFailure(_ impact: AuthImpact) -> ExitCode {
    let exposures = impact.exposures
    let shown = exposures.prefix(5).map { path in
        "\(path.host) \(path.path) (" + (path.kind == .becamePublic ? "becomes public" : "weaker: \(path.reasons.joined(separator: "; "))") + ")"
    }
    let more = exposures.count > shown.count ? " and \(exposures.count - shown.count) more" : ""
    return fail("--fail-on-exposure: this plan exposes \(exposures.count) path\(exposures.count == 1 ? "" : "s"): \(shown.joined(separator: ", "))\(more)",
                hint: "review the auth impact in the plan; if the exposure is intended, plan without --fail-on-exposure")
}

/// A saved plan: the plan's JSON plus where it came from, so apply can re-read the same source and
/// refuse when anything moved.
struct PlanFile {
    var plan: JSONValue
    var repo: String?
    var ref: String?
    var path: String?
    var prefix: String

    init(plan: JSONValue, source: SourceOptions, prefix: String) {
        self.plan = plan
        // A relative directory is stored absolute, so the file can be applied from elsewhere.
        if let repo = source.repo, !repo.contains("://"), !repo.contains("@"), !repo.hasPrefix("/") {
            self.repo = FileManager.default.currentDirectoryPath + "/" + repo
        } else {
            self.repo = source.repo ?? FileManager.default.currentDirectoryPath
        }
        self.ref = source.ref
        self.path = source.subdirectory
        self.prefix = prefix
    }

    init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SourceError("cannot read the plan file \(path)")
        }
        let json: JSONValue
        do { json = try JSONValue.parse(bytes: Array(data)) } catch {
            throw SourceError("\(path) is not a plan file (\(error)); make one with `berth plan --out \(path)`")
        }
        guard json["format_version"]?.stringValue == Reconciler.Plan.formatVersion, let source = json["source"],
              json["revision"]?.stringValue != nil, json["state"]?["fingerprint"]?.stringValue != nil else {
            throw SourceError("\(path) is not a plan file of this version of berth (format_version \(Reconciler.Plan.formatVersion)); make a new one with `berth plan --out`")
        }
        plan = json
        repo = source["repo"]?.stringValue
        ref = source["ref"]?.stringValue
        self.path = source["path"]?.stringValue
        prefix = source["prefix"]?.stringValue ?? "berth:"
    }

    var revision: String { plan["revision"]?.stringValue ?? "" }
    var fingerprint: String { plan["state"]?["fingerprint"]?.stringValue ?? "" }

    func write(to file: String) throws {
        guard case .object(var object) = plan else { return }
        var source: [String: JSONValue] = ["prefix": .string(prefix)]
        if let repo { source["repo"] = .string(repo) }
        if let ref { source["ref"] = .string(ref) }
        if let path { source["path"] = .string(path) }
        object["source"] = .object(source)
        try (JSONValue.object(object).prettyString + "\n").write(toFile: file, atomically: true, encoding: .utf8)
    }
}

import ArgumentParser
import Foundation
import Reconciler
import Spec

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what applying the repository would change, without changing anything.",
        discussion: """
            The plan compares the repository with what Berth recorded in Redis: resources to create,
            update, replace or delete (with the fields that changed), host ports to lease or free, and
            each affected host's route table after the change.

            Exit status (as Terraform's): 0 on success, 1 on error; with --detailed-exitcode, 2 when
            there are changes. --out saves the plan as JSON for `berth apply PLANFILE`, which applies
            exactly it and refuses if the repository or Redis moved in the meantime.

            Examples:
              berth plan --repo examples/quickstart
              berth plan --repo file:///srv/edge.git --ref main --format json --out plan.json --detailed-exitcode
            """)

    @OptionGroup var source: SourceOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var certificates: CertificateOptions

    @Option(name: .long, help: ArgumentHelp("Also write the plan (JSON) to this file, for `berth apply FILE`.", valueName: "file"))
    var out: String?

    @Flag(name: .customLong("detailed-exitcode"), help: "Exit 2 when the plan has changes, 0 when it has none.")
    var detailedExitcode = false

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
        if detailedExitcode && plan.hasChanges { throw ExitCode(2) }
    }
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

import ArgumentParser
import Foundation
import Reconciler
import Spec

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every YAML file of a repository and report every problem at once.",
        discussion: """
            Exit status: 0 when valid, 1 when not. Each problem is one line, FILE:LINE:COL: error: message, \
            with paths relative to the repository root, followed by a hint where one helps. Warnings \
            (FILE:LINE:COL: warning: a route no request can reach) are printed but do not fail. Nothing is \
            contacted but the source: no Redis is needed, so this is the check to run in CI on every push.

            Examples:
              berth validate --repo examples/quickstart
              berth validate --repo https://git.example.com/edge.git --ref main \\
                --format json
            """)

    @OptionGroup var source: SourceOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let snapshot: SourceSnapshot
        do { snapshot = try source.snapshot() } catch { throw printError(error) }
        let result = SpecLoader.load(files: snapshot.files.map { (path: $0.path, contents: $0.contents) })
        let errors = result.diagnostics.filter { $0.severity == .error }.count
        let warnings = result.diagnostics.count - errors
        switch output.format {
        case .json:
            var counts: [String: JSONValue] = [:]
            for kind in Kind.allCases { counts[kind.rawValue] = .int(result.state.resources.filter { $0.kind == kind }.count) }
            let document = JSONValue.object([
                "valid": .bool(result.isValid), "revision": .string(snapshot.revision), "origin": .string(snapshot.origin),
                "files": .int(snapshot.files.count), "resources": .object(counts),
                "diagnostics": .array(result.diagnostics.map(\.json)),
            ])
            writeStdout(document.prettyString + "\n")
        case .text:
            for diagnostic in result.diagnostics {
                var line = diagnostic.rendered
                if output.color {
                    line = line.replacingOccurrences(of: ": error: ", with: ": \u{1B}[31merror\u{1B}[0m: ")
                        .replacingOccurrences(of: ": warning: ", with: ": \u{1B}[33mwarning\u{1B}[0m: ")
                }
                writeStdout(line + "\n")
            }
            if result.isValid {
                let state = result.state
                writeStdout("\(snapshot.origin): valid — \(snapshot.files.count) file(s), \(state.domains.count) domain(s), \(state.routes.count) route(s), \(state.authPolicies.count) auth polic\(state.authPolicies.count == 1 ? "y" : "ies"), \(state.instances.count) instance(s)\(warnings == 0 ? "" : ", \(warnings) warning\(warnings == 1 ? "" : "s")")\n")
            } else {
                let files = Set(result.diagnostics.map(\.location.file)).count
                writeStdout("\(snapshot.origin): \(errors) error\(errors == 1 ? "" : "s") in \(files) file\(files == 1 ? "" : "s")\n")
            }
        }
        if !result.isValid { throw ExitCode(1) }
    }
}

import Foundation
import Testing
import TestSupport

@Suite struct ValidateCLITests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func quickstartExampleIsValid() throws {
        let result = try BerthCLI().run(["validate", "--repo", Self.root.appendingPathComponent("examples/quickstart").path])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("valid"))
    }

    @Test func everyProblemInEveryFileInOneRunAsTextAndJSON() throws {
        let repo = try Workspace()
        try repo.write("a.yaml", """
            apiVersion: berth/v1
            kind: Route
            metadata: {name: api}
            spec:
              domain: shop
              priorty: 3
              to: {url: "http://127.0.0.1:8081"}
            """)
        try repo.write("nested/b.yml", """
            apiVersion: berth/v1
            kind: Instance
            metadata: {name: shop-api}
            spec:
              image: shop:1
              ports:
                - {name: http, containerPort: eighty}
            """)
        let cli = try BerthCLI()
        let text = try cli.run(["validate", "--repo", repo.path])
        #expect(text.status == 1)
        #expect(text.stdout.contains("a.yaml:6:3: error: Route \"api\": unknown field \"spec.priorty\"\n    hint: did you mean \"priority\"?"), "\(text)")
        #expect(text.stdout.contains("nested/b.yml:7:35: error: Instance \"shop-api\": spec.ports[0].containerPort must be an integer"), "\(text)")
        #expect(text.stdout.contains("2 errors in 2 files"))

        let json = try cli.run(["validate", "--repo", repo.path, "--format", "json"])
        #expect(json.status == 1)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(document["valid"] as? Bool == false)
        let diagnostics = try #require(document["diagnostics"] as? [[String: Any]])
        #expect(diagnostics.count == 2)
        #expect(diagnostics.first?["file"] as? String == "a.yaml")
        #expect(diagnostics.first?["line"] as? Int == 6)
        #expect(diagnostics.first?["hint"] as? String == "did you mean \"priority\"?")
    }

    @Test func helpTeachesTheCommands() throws {
        let cli = try BerthCLI()
        let help = try cli.run(["--help"])
        #expect(help.status == 0)
        for word in ["validate", "plan", "apply", "REDIS_URL"] { #expect(help.stdout.contains(word), "\(word) missing from --help") }
        let planHelp = try cli.run(["plan", "--help"])
        #expect(planHelp.stdout.contains("--detailed-exitcode") && planHelp.stdout.contains("Exit status"))
    }
}

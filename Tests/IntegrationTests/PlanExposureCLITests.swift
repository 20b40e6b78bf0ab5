import Foundation
import Testing
import TestSupport

/// `berth plan --fail-on-exposure` as CI runs it: the real executable against a real redis-server
/// holding what an earlier `berth apply` recorded, and a directory repository edited afterwards.
@Suite struct PlanExposureCLITests {
    static let hashes = (ci: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
                         ops: "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9")

    static func policy(tokens: [(String, String)], ipAllow: [String] = []) -> String {
        """
        apiVersion: berth/v1
        kind: AuthPolicy
        metadata: {name: admins}
        spec:
          bearer:
            tokens:
        \(tokens.map { "      - {name: \($0.0), sha256: \($0.1)}" }.joined(separator: "\n"))
        \(ipAllow.isEmpty ? "" : "  ipAllow: [\(ipAllow.joined(separator: ", "))]\n")
        """
    }

    static func routes(apiAuth: String?) -> String {
        Repos.route("api", domain: "shop", path: "/api", instance: "shop-api", auth: apiAuth) + "---\n"
            + Repos.route("web", domain: "shop", url: "http://127.0.0.1:8081") + "---\n"
            + Repos.route("status-page", domain: "status", url: "http://127.0.0.1:8082")
    }

    @Test func exposureFailsThePlanOnlyWithTheFlag() throws {
        let cli = try BerthCLI()
        let redis = try RedisServerProcess.start()
        let repo = try Workspace()
        try Repos.write(Repos.shop(), to: repo)
        try repo.write("auth.yaml", Self.policy(tokens: [("ci", Self.hashes.ci)], ipAllow: ["10.0.0.0/8"]))
        let applied = try cli.run(["apply", "--repo", repo.path], redis: redis)
        try #require(applied.status == 0, "\(applied)")

        // What was applied: nothing changes, nothing is exposed.
        let unchanged = try cli.run(["plan", "--repo", repo.path, "--fail-on-exposure", "--detailed-exitcode"], redis: redis)
        #expect(unchanged.status == 0, "\(unchanged)")
        #expect(!unchanged.stdout.contains("Auth impact"), "\(unchanged.stdout)")

        // Narrowing is a change but no exposure: 2 with --detailed-exitcode, never 1.
        try repo.write("auth.yaml", Self.policy(tokens: [("ci", Self.hashes.ci)], ipAllow: ["10.1.0.0/16"]))
        let narrowed = try cli.run(["plan", "--repo", repo.path, "--fail-on-exposure", "--detailed-exitcode"], redis: redis)
        #expect(narrowed.status == 2, "\(narrowed)")
        #expect(!narrowed.stdout.contains("⚠"), "\(narrowed.stdout)")
        #expect(narrowed.stderr.isEmpty, "\(narrowed.stderr)")

        // The api route loses its policy: exposed on both of the Domain's hosts.
        try repo.write("auth.yaml", Self.policy(tokens: [("ci", Self.hashes.ci)], ipAllow: ["10.0.0.0/8"]))
        try repo.write("routes.yaml", Self.routes(apiAuth: nil))
        let exposed = try cli.run(["plan", "--repo", repo.path, "--fail-on-exposure", "--detailed-exitcode"], redis: redis)
        #expect(exposed.status == 1, "the flag must win over --detailed-exitcode's 2: \(exposed)")
        #expect(exposed.stdout.contains("/api  guarded by admins → PUBLIC  ⚠ exposure  (route api no longer names an auth policy)"),
                "\(exposed.stdout)")
        #expect(exposed.stdout.contains("Exposure: ⚠ 2 paths on 2 hosts (2 made public, 0 behind a weaker policy)"), "\(exposed.stdout)")
        #expect(exposed.stderr.contains("error: --fail-on-exposure: this plan exposes 2 paths: shop.example.test /api (becomes public), www.shop.example.test /api (becomes public)"),
                "\(exposed.stderr)")

        // Without the flag the same plan succeeds: the exposure is reported, not enforced.
        let reported = try cli.run(["plan", "--repo", repo.path, "--detailed-exitcode"], redis: redis)
        #expect(reported.status == 2, "\(reported)")
        #expect(reported.stdout.contains("⚠ exposure"))

        // A token added to the policy weakens it; the JSON plan says so per path, and --out still
        // writes the plan the flag refused.
        try repo.write("routes.yaml", Self.routes(apiAuth: "admins"))
        try repo.write("auth.yaml", Self.policy(tokens: [("ci", Self.hashes.ci), ("ops", Self.hashes.ops)], ipAllow: ["10.0.0.0/8"]))
        let planFile = repo.path + "/../" + UUID().uuidString + ".plan.json"
        defer { try? FileManager.default.removeItem(atPath: planFile) }
        let weakened = try cli.run(["plan", "--repo", repo.path, "--format", "json", "--out", planFile, "--fail-on-exposure"], redis: redis)
        #expect(weakened.status == 1, "\(weakened)")
        #expect(weakened.stderr.contains("shop.example.test /api (weaker: bearer token added: ops)"), "\(weakened.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(weakened.stdout.utf8)) as? [String: Any])
        let impact = try #require(json["auth_impact"] as? [[String: Any]])
        #expect(impact.map { "\($0["host"] as? String ?? "?") \($0["path"] as? String ?? "?") \($0["kind"] as? String ?? "?")" }
                == ["shop.example.test /api weakened", "www.shop.example.test /api weakened"])
        #expect(impact.allSatisfy { $0["exposure"] as? Bool == true })
        #expect((impact.first?["before"] as? [String: Any])?["auth"] as? String == "admins")
        #expect(impact.first?["reason"] as? String == "bearer token added: ops")
        #expect((json["summary"] as? [String: Any])?["exposures"] as? Int == 2)
        #expect(FileManager.default.fileExists(atPath: planFile), "--out writes the plan even when the flag fails it")
    }

    @Test func helpDocumentsTheFlagAndItsExitStatus() throws {
        let help = try BerthCLI().run(["plan", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("--fail-on-exposure"), "\(help.stdout)")
        // Help text is wrapped to the terminal's width: compare with line breaks folded to spaces.
        let flowing = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(flowing.contains("With --fail-on-exposure, 1 when the plan flags an exposure"), "\(help.stdout)")
    }
}

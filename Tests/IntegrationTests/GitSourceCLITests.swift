import Foundation
import RedisClient
import Testing
import TestSupport

/// The CLI reading a git repository through libgit2: a bare remote over file://, refs, subdirectories.
@Suite struct GitSourceCLITests {
    @Test func planAndApplyFromABareRemoteFollowTheBranch() throws {
        let cli = try BerthCLI()
        let redis = try RedisServerProcess.start()
        let remote = try Workspace()
        try remote.git(["init", "--bare", "-q", "edge.git"])
        let work = try Workspace()
        try work.git(["init", "-q"])
        try work.write("README.md", "not yaml, ignored\n")
        for (name, text) in Repos.shop() { try work.write("edge/\(name)", text) }
        try work.git(["add", "-A"])
        try work.git(["commit", "-q", "-m", "first"])
        try work.git(["remote", "add", "origin", "file://\(remote.path)/edge.git"])
        try work.git(["push", "-q", "origin", "HEAD:refs/heads/main"])
        try work.git(["tag", "v1"])
        try work.git(["push", "-q", "origin", "v1"])
        let first = try work.git(["rev-parse", "HEAD"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let url = "file://\(remote.path)/edge.git"

        let cache = try TemporaryDirectory(prefix: "berth-cache")
        let env = ["BERTH_CACHE_DIR": cache.path]
        let plan = try cli.run(["plan", "--repo", url, "--path", "edge", "--format", "json"], redis: redis, environment: env)
        #expect(plan.status == 0, "\(plan)")
        #expect(plan.stdout.contains("\"revision\": \"\(first)\""), "the plan names the commit")

        #expect(try cli.run(["apply", "--repo", url, "--ref", "main", "--path", "edge"], redis: redis, environment: env).status == 0)

        // A new commit pushed to the remote is what the next plan sees; uncommitted edits never are.
        try work.write("edge/more.yaml", Repos.route("health", domain: "status", path: "/healthz", url: "http://127.0.0.1:8083"))
        let uncommitted = try cli.run(["plan", "--repo", url, "--path", "edge", "--detailed-exitcode"], redis: redis, environment: env)
        #expect(uncommitted.status == 0, "\(uncommitted)")
        try work.git(["add", "-A"])
        try work.git(["commit", "-q", "-m", "second"])
        try work.git(["push", "-q", "origin", "HEAD:refs/heads/main"])
        let second = try work.git(["rev-parse", "HEAD"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let moved = try cli.run(["plan", "--repo", url, "--path", "edge", "--detailed-exitcode"], redis: redis, environment: env)
        #expect(moved.status == 2, "\(moved)")
        #expect(moved.stdout.contains(String(second.prefix(12))))
        #expect(moved.stdout.contains("+ health"))

        // The tag still points at the first commit: planning it shows the route would not exist.
        let tagged = try cli.run(["plan", "--repo", url, "--ref", "v1", "--path", "edge", "--detailed-exitcode"], redis: redis, environment: env)
        #expect(tagged.status == 0, "\(tagged)")
        #expect(tagged.stdout.contains(String(first.prefix(12))))

        let unknown = try cli.run(["validate", "--repo", url, "--ref", "no-such-branch"], environment: env)
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("main"), "the error lists the branches that exist: \(unknown.stderr)")
    }

    @Test func validateReportsFilesRelativeToTheRepositoryRoot() throws {
        let cli = try BerthCLI()
        let work = try Workspace()
        try work.git(["init", "-q"])
        try work.write("edge/routes.yaml", Repos.route("web", domain: "missing", url: "http://127.0.0.1:8081"))
        try work.git(["add", "-A"])
        try work.git(["commit", "-q", "-m", "broken"])
        let result = try cli.run(["validate", "--repo", work.path, "--ref", "HEAD", "--path", "edge"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("edge/routes.yaml:5:11: error: Route \"web\": Domain \"missing\" is not declared"), "\(result)")
    }
}

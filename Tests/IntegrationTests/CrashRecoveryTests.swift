import Foundation
import RedisClient
import Testing
import TestSupport

/// Kill `berth apply` (SIGKILL, via the BERTH_FAILPOINT hook) between every pair of steps, then run
/// apply again: the end state must equal a clean apply's, with nothing duplicated or leaked.
@Suite struct CrashRecoveryTests {
    static let failpoints = ["apply.after-lease", "apply.after-ports", "apply.after-inventory",
                             "apply.after-free", "apply.after-prune", "apply.after-publish"]

    /// The state a clean run of `files` (after `base`, if given) leaves under `prefix`.
    func reference(_ cli: BerthCLI, _ redis: RedisServerProcess, base: [String: String]?, files: [String: String],
                   prefix: String) throws -> RedisSnapshot {
        let repo = try Workspace()
        if let base {
            try Repos.write(base, to: repo)
            #expect(try cli.run(["apply", "--repo", repo.path, "--prefix", prefix], redis: redis).status == 0)
            for name in base.keys where files[name] == nil { try repo.remove(name) }
        }
        try Repos.write(files, to: repo)
        #expect(try cli.run(["apply", "--repo", repo.path, "--prefix", prefix], redis: redis).status == 0)
        return try RedisSnapshot(try redis.connect(), prefix: prefix)
    }

    @Test(arguments: failpoints)
    func crashDuringFirstApply(_ failpoint: String) throws {
        let cli = try BerthCLI()
        let redis = try RedisServerProcess.start()
        let files = Repos.shop()
        let expected = try reference(cli, redis, base: nil, files: files, prefix: "ref:")

        let repo = try Workspace()
        try Repos.write(files, to: repo)
        let crashed = try cli.run(["apply", "--repo", repo.path, "--prefix", "t:", "--lease-ttl", "1000"], redis: redis,
                                  environment: ["BERTH_FAILPOINT": failpoint])
        #expect(crashed.status == 137, "the failpoint should kill the process: \(crashed)")
        // The dead process's lease expires; the next apply completes the work.
        Thread.sleep(forTimeInterval: 1.2)
        let resumed = try cli.run(["apply", "--repo", repo.path, "--prefix", "t:"], redis: redis)
        #expect(resumed.status == 0, "\(resumed)")
        #expect(try RedisSnapshot(try redis.connect(), prefix: "t:") == expected)
        let again = try cli.run(["plan", "--repo", repo.path, "--prefix", "t:", "--detailed-exitcode"], redis: redis)
        #expect(again.status == 0, "converged state must plan empty: \(again.stdout)")
    }

    @Test(arguments: failpoints)
    func crashDuringAChangeThatReplacesAndDeletes(_ failpoint: String) throws {
        let cli = try BerthCLI()
        let redis = try RedisServerProcess.start()
        let base = Repos.shop()
        var next = Repos.shop(image: "example.test/shop:2", replicas: 1, extraRoute: true)
        next["domains.yaml"] = Repos.domain("shop", hosts: ["shop.example.test", "www.shop.example.test"]) + "---\n"
            + Repos.domain("status", hosts: ["status.example.test", "health.example.test"])
        next["auth.yaml"] = nil
        next["routes.yaml"] = Repos.route("api", domain: "shop", path: "/api", instance: "shop-api") + "---\n"
            + Repos.route("status-page", domain: "status", url: "http://127.0.0.1:8082")
        let expected = try reference(cli, redis, base: base, files: next, prefix: "ref:")

        let repo = try Workspace()
        try Repos.write(base, to: repo)
        #expect(try cli.run(["apply", "--repo", repo.path, "--prefix", "t:"], redis: redis).status == 0)
        for name in base.keys where next[name] == nil { try repo.remove(name) }
        try Repos.write(next, to: repo)
        let crashed = try cli.run(["apply", "--repo", repo.path, "--prefix", "t:", "--lease-ttl", "1000"], redis: redis,
                                  environment: ["BERTH_FAILPOINT": failpoint])
        #expect(crashed.status == 137, "\(crashed)")
        Thread.sleep(forTimeInterval: 1.2)
        let resumed = try cli.run(["apply", "--repo", repo.path, "--prefix", "t:"], redis: redis)
        #expect(resumed.status == 0, "\(resumed)")
        let state = try RedisSnapshot(try redis.connect(), prefix: "t:")
        #expect(state == expected)
        // No leaked leases: every lease belongs to the one replica's one port.
        #expect(state.ports.count == 1, "\(state.ports)")
    }
}

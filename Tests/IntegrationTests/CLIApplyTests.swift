import Foundation
import RedisClient
import Testing
import TestSupport

/// `berth plan` and `berth apply` as an operator runs them: the real executable, a real
/// redis-server, repositories on disk.
@Suite struct CLIApplyTests {
    @Test func planApplyAndApplyAgainIsANoop() throws {
        let cli = try BerthCLI()
        let redis = try RedisServerProcess.start()
        let repo = try Workspace()
        try Repos.write(Repos.shop(), to: repo)

        let plan = try cli.run(["plan", "--repo", repo.path, "--detailed-exitcode"], redis: redis)
        #expect(plan.status == 2, "\(plan)")
        #expect(plan.stdout.contains("Plan: 7 to add, 1 to change, 0 to destroy."), "\(plan.stdout)")
        #expect(plan.stdout.contains("+ 20000  shop-api replica 0 port http"))

        let apply = try cli.run(["apply", "--repo", repo.path], redis: redis)
        #expect(apply.status == 0, "\(apply)")
        #expect(apply.stdout.contains("Route table generation 1 published."), "\(apply.stdout)")

        let connection = try redis.connect()
        let state = try RedisSnapshot(connection, prefix: "berth:")
        #expect(state.inventory.count == 7)
        #expect(state.ports == ["20000": "Instance/shop-api@\(try ownerHash(connection))/0/http",
                                "20001": "Instance/shop-api@\(try ownerHash(connection))/1/http"])
        #expect(state.generation == "1")
        #expect(try connection.send(["XLEN", "berth:events"]).integer == 1)

        // The published document decodes and carries both instance endpoints.
        let table = try #require(try connection.send(["GET", "berth:routetable"]).string)
        #expect(table.contains("\"port\":20000") && table.contains("\"port\":20001"))
        #expect(table.contains("\"generation\":1"))

        let again = try cli.run(["apply", "--repo", repo.path], redis: redis)
        #expect(again.status == 0)
        #expect(again.stdout.contains("No changes."), "\(again.stdout)")
        #expect(try RedisSnapshot(connection, prefix: "berth:") == state)
        #expect(try connection.send(["XLEN", "berth:events"]).integer == 1, "an unchanged table must not be announced again")

        let detailed = try cli.run(["plan", "--repo", repo.path, "--detailed-exitcode"], redis: redis)
        #expect(detailed.status == 0, "\(detailed)")
    }

    func ownerHash(_ connection: RedisConnection) throws -> String {
        let owner = try #require(try connection.send(["HGET", "berth:ports", "20000"]).string)
        return String(owner.split(separator: "@")[1].split(separator: "/")[0])
    }

    @Test func changesAreAppliedAndDeletesPruneOnlyWhatBerthRecorded() throws {
        let cli = try BerthCLI()
        let redis = try RedisServerProcess.start()
        let repo = try Workspace()
        try Repos.write(Repos.shop(), to: repo)
        #expect(try cli.run(["apply", "--repo", repo.path], redis: redis).status == 0)
        let connection = try redis.connect()
        // Someone else's data next to Berth's: a foreign port lease and a foreign inventory-like key.
        try connection.send(["HSET", "berth:ports", "20002", "postgres-on-the-host"])
        try connection.send(["SET", "berth:unrelated", "keep me"])

        // New image → replace (new leases, old freed), scale stays 2; status domain and route removed.
        try repo.write("instances.yaml", Repos.instance("shop-api", image: "example.test/shop:2", replicas: 2))
        try repo.write("domains.yaml", Repos.domain("shop", hosts: ["shop.example.test", "www.shop.example.test"]))
        try repo.write("routes.yaml", Repos.route("api", domain: "shop", path: "/api", instance: "shop-api", auth: "admins") + "---\n"
                       + Repos.route("web", domain: "shop", url: "http://127.0.0.1:8081"))
        let plan = try cli.run(["plan", "--repo", repo.path, "--format", "json"], redis: redis)
        #expect(plan.status == 0, "\(plan)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [String: Any])
        let changes = try #require(json["changes"] as? [[String: Any]])
        let actions = Dictionary(uniqueKeysWithValues: changes.map { ($0["id"] as! String, $0["action"] as! String) })
        #expect(actions["Instance/shop-api"] == "replace")
        #expect(actions["Domain/status"] == "delete")
        #expect(actions["Route/status-page"] == "delete")
        #expect(actions["Route/web"] == "noop")
        #expect(json["format_version"] as? String == "1.0")

        let apply = try cli.run(["apply", "--repo", repo.path], redis: redis)
        #expect(apply.status == 0, "\(apply)")
        let state = try RedisSnapshot(connection, prefix: "berth:")
        #expect(state.inventory.keys.sorted() == ["AuthPolicy/admins", "Domain/shop", "Instance/shop-api", "Route/api", "Route/web"])
        #expect(state.ports["20002"] == "postgres-on-the-host", "a foreign lease must never be touched")
        #expect(state.ports["20000"] == nil && state.ports["20001"] == nil, "the old template's leases are freed")
        #expect(state.ports.values.filter { $0.hasPrefix("Instance/shop-api@") }.count == 2)
        #expect(state.ports["20003"] != nil, "new leases skip the foreign port 20002: \(state.ports)")
        #expect(state.generation == "2")
        #expect(try connection.send(["GET", "berth:unrelated"]).string == "keep me")
    }

    @Test func savedPlanIsAppliedExactlyOrRefusedAsStale() throws {
        let cli = try BerthCLI()
        let redis = try RedisServerProcess.start()
        let repo = try Workspace()
        let planFile = repo.path + "/../" + UUID().uuidString + ".plan.json"
        defer { try? FileManager.default.removeItem(atPath: planFile) }
        try Repos.write(Repos.shop(), to: repo)

        // State moved: a port lease appeared after the plan was made.
        #expect(try cli.run(["plan", "--repo", repo.path, "--out", planFile], redis: redis).status == 0)
        let connection = try redis.connect()
        try connection.send(["HSET", "berth:ports", "29999", "someone"])
        let staleState = try cli.run(["apply", planFile], redis: redis)
        #expect(staleState.status == 1)
        #expect(staleState.stderr.contains("stale plan: the state in Redis"), "\(staleState)")
        #expect(try connection.send(["HLEN", "berth:inventory"]).integer == 0, "a stale plan must change nothing")

        // Source moved: an edit after the plan was made.
        #expect(try cli.run(["plan", "--repo", repo.path, "--out", planFile], redis: redis).status == 0)
        try repo.write("more.yaml", Repos.route("health", domain: "status", path: "/healthz", url: "http://127.0.0.1:8083"))
        let staleSource = try cli.run(["apply", planFile], redis: redis)
        #expect(staleSource.status == 1)
        #expect(staleSource.stderr.contains("stale plan: the source moved"), "\(staleSource)")
        try repo.remove("more.yaml")

        // Nothing moved: applied exactly, from another working directory (the plan holds an absolute path).
        #expect(try cli.run(["plan", "--repo", repo.path, "--out", planFile], redis: redis).status == 0)
        let apply = try cli.run(["apply", planFile], redis: redis, in: "/")
        #expect(apply.status == 0, "\(apply)")
        #expect(try connection.send(["HLEN", "berth:inventory"]).integer == 7)

        // A plan file and --repo together is a usage error.
        let both = try cli.run(["apply", planFile, "--repo", repo.path], redis: redis)
        #expect(both.status != 0 && both.stderr.contains("saved plan carries its own source"), "\(both)")
    }

    @Test func secondApplyIsRefusedWhileTheLeaseIsHeld() throws {
        let cli = try BerthCLI()
        let redis = try RedisServerProcess.start()
        let repo = try Workspace()
        try Repos.write(Repos.shop(), to: repo)
        let connection = try redis.connect()
        let holder = #"{"fence":7,"holder":"berth apply (pid 4242 on ci-runner-3)","since":"2026-11-27T05:00:00Z","token":"x"}"#
        try connection.send(["SET", "berth:lock:apply", holder, "PX", "60000"])
        let apply = try cli.run(["apply", "--repo", repo.path], redis: redis)
        #expect(apply.status == 1)
        #expect(apply.stderr.contains("another apply is in progress: berth apply (pid 4242 on ci-runner-3) holds the apply lease"), "\(apply)")
        #expect(try connection.send(["HLEN", "berth:inventory"]).integer == 0)
        #expect(try connection.send(["GET", "berth:lock:apply"]).string == holder, "the other holder's lease is left alone")
        // Once it is released, apply proceeds and releases its own lease afterwards.
        try connection.send(["DEL", "berth:lock:apply"])
        #expect(try cli.run(["apply", "--repo", repo.path], redis: redis).status == 0)
        #expect(try connection.send(["EXISTS", "berth:lock:apply"]).integer == 0)
    }

    @Test func redisURLsWithPasswordDatabaseAndUnixSocket() throws {
        let cli = try BerthCLI()
        let redis = try RedisServerProcess.start(password: "s3cret", unixSocket: true)
        let repo = try Workspace()
        try Repos.write(Repos.shop(), to: repo)
        let tcp = try cli.run(["apply", "--repo", repo.path, "--redis", "redis://:s3cret@127.0.0.1:\(redis.port)/3", "--prefix", "edge:"])
        #expect(tcp.status == 0, "\(tcp)")
        let connection = try redis.connect()
        try connection.send(["SELECT", "3"])
        #expect(try connection.send(["HLEN", "edge:inventory"]).integer == 7)
        let socket = try #require(redis.unixSocketPath)
        let unix = try cli.run(["plan", "--repo", repo.path, "--redis", "unix://\(socket)?db=3&password=s3cret", "--prefix", "edge:", "--detailed-exitcode"])
        #expect(unix.status == 0, "\(unix)")

        let wrong = try cli.run(["plan", "--repo", repo.path, "--redis", "redis://:nope@127.0.0.1:\(redis.port)/0"])
        #expect(wrong.status == 1)
        #expect(!wrong.stderr.contains("nope"), "the password must never be printed: \(wrong.stderr)")
        #expect(wrong.stderr.contains("error:"), "\(wrong)")
    }

    @Test func unreachableRedisIsOneClearLine() throws {
        let cli = try BerthCLI()
        let repo = try Workspace()
        try Repos.write(Repos.shop(), to: repo)
        let port = try freeLoopbackPort()
        let result = try cli.run(["plan", "--repo", repo.path, "--redis", "redis://:pw@127.0.0.1:\(port)/0"])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("error: cannot connect to Redis at 127.0.0.1:\(port)"), "\(result)")
        #expect(result.stderr.contains("hint: start redis-server"))
        #expect(!result.stderr.contains("pw@"))
        #expect(result.stdout.isEmpty)
    }

    @Test func invalidRepositoryIsNeverPlannedOrApplied() throws {
        let cli = try BerthCLI()
        let redis = try RedisServerProcess.start()
        let repo = try Workspace()
        try Repos.write(Repos.shop(), to: repo)
        try repo.write("broken.yaml", Repos.route("oops", domain: "nowhere", url: "http://127.0.0.1:1"))
        let apply = try cli.run(["apply", "--repo", repo.path], redis: redis)
        #expect(apply.status == 1)
        #expect(apply.stderr.contains("broken.yaml:5:11: error: Route \"oops\": Domain \"nowhere\" is not declared"), "\(apply)")
        let connection = try redis.connect()
        #expect(try connection.send(["DBSIZE"]).integer == 0, "nothing may be written for an invalid revision")
    }
}

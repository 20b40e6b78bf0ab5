import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Reconciler
import RedisClient
import Spec
import Testing
import TestSupport

/// `berth controller` end to end: real redis-server, git, berth-proxy and an upstream.
@Suite(.serialized) struct ControllerE2ETests {
    static let secret = "s3cret-for-tests"

    static func appRepo(upstream: String, paths: [String]) -> [String: String] {
        var routes: [String] = []
        for (index, path) in paths.enumerated() { routes.append(Repos.route("r\(index)", domain: "app", path: path, url: upstream)) }
        return ["domains.yaml": Repos.domain("app", hosts: ["app.example.test"]), "routes.yaml": routes.joined(separator: "---\n")]
    }

    /// Routes /a and /b, with /b on a Domain that does not exist: a revision that does not validate.
    static func brokenRepo() -> [String: String] {
        var files = appRepo(upstream: "http://127.0.0.1:9", paths: ["/a", "/b"])
        files["routes.yaml"] = files["routes.yaml"]!.replacingOccurrences(of: "domain: app\n  path: /b", with: "domain: nope\n  path: /b")
        return files
    }

    @Test("a signed push webhook makes the proxies serve the new route; bad signatures do nothing; an invalid push changes nothing until fixed")
    func pushWebhookInvalidAndFix() throws {
        let redis = try RedisServerProcess.start()
        defer { redis.stop() }
        let upstream = try FileServer(files: ["one.txt": "one\n", "two.txt": "two\n", "three.txt": "three\n"])
        let remote = try GitRemote()
        try remote.push(Self.appRepo(upstream: upstream.url, paths: ["/one.txt"]), message: "first route")
        let secretFile = remote.root.appending("webhook-secret").path
        try (Self.secret + "\n").write(toFile: secretFile, atomically: true, encoding: .utf8)

        let controller = try ControllerProcess(repo: remote.url, ref: "main", redis: redis, holder: "ctl-webhook", secretFile: secretFile)
        let proxy = try ProxyProcess(redis: redis, replica: "p1")
        _ = try proxy.waitFor("/one.txt", host: "app.example.test")
        #expect(try proxy.get("/one.txt", host: "app.example.test").body == "one\n")
        let passesBefore = try controller.status()["passes"]?.intValue ?? -1

        // Nothing unsigned, mis-signed or replayed with another body's signature gets through.
        let body = #"{"ref":"refs/heads/main","after":"0000000000000000000000000000000000000000"}"#
        let unsigned = try controller.webhook(body: body, headers: [])
        #expect(unsigned.status == 401)
        #expect(unsigned.body.contains("unsigned"))
        #expect(try controller.webhook(body: body, headers: [("X-Hub-Signature-256", hubSignature(body, secret: "wrong"))]).status == 401)
        let otherBody = #"{"ref":"refs/heads/main"}"#
        #expect(try controller.webhook(body: body, headers: [("X-Hub-Signature-256", hubSignature(otherBody, secret: Self.secret))]).status == 401)
        #expect(try controller.webhook(body: body, headers: [("X-Gitlab-Token", "wrong")]).status == 401)
        #expect(try controller.webhook(body: body, headers: [("X-Hub-Signature-256", "sha256=zz")]).status == 401)
        // A push to another branch is acknowledged and ignored.
        let other = #"{"ref":"refs/heads/feature"}"#
        let ignored = try controller.webhook(body: other, headers: [("X-Hub-Signature-256", hubSignature(other, secret: Self.secret))])
        #expect(ignored.status == 202)
        #expect(ignored.body.contains("\"triggered\":false"))
        Thread.sleep(forTimeInterval: 0.5)
        #expect(try controller.status()["passes"]?.intValue == passesBefore, "a rejected or ignored webhook must not run a pass")
        // A replica that stopped following (its heartbeat names an old generation) is named as stale.
        let ghost = try redis.connect()
        _ = try ghost.send(["HSET", "berth:proxy:ghost", "generation", "0", "revision", "old", "seen_at", Timestamps.string(Date())])
        var proxies = ""
        let listed = try eventually(timeout: 15) {  // the real replica's heartbeat follows the table within seconds
            proxies = try BerthCLI().run(["status"], redis: redis).stdout
            return proxies.contains("live on 1/2 proxies")
        }
        #expect(listed, "\(proxies)")
        #expect(proxies.contains("ghost: generation 0 — STALE"), "\(proxies)")
        _ = try ghost.send(["DEL", "berth:proxy:ghost"])
        let metrics = try controller.get("/metrics").body
        #expect(metrics.contains("berth_controller_webhooks_total{result=\"rejected\"} 5"))
        #expect(metrics.contains("berth_controller_webhooks_total{result=\"ignored\"} 1"))

        // A good push with a signed webhook goes live.
        let second = try remote.push(Self.appRepo(upstream: upstream.url, paths: ["/one.txt", "/two.txt"]), message: "second route")
        let pushed = Date()
        let accepted = try controller.webhook(body: body, headers: [("X-Hub-Signature-256", hubSignature(body, secret: Self.secret))])
        #expect(accepted.status == 202)
        #expect(accepted.body.contains("\"triggered\":true"))
        _ = try proxy.waitFor("/two.txt", host: "app.example.test")
        print("push-to-live with the webhook: \(Int(Date().timeIntervalSince(pushed) * 1000)) ms")
        #expect(try statusField(redis, "revision") == second)
        let generation = try statusField(redis, "generation")

        // An invalid push: nothing of it is applied; status names the file, line and commit.
        var broken = Self.appRepo(upstream: upstream.url, paths: ["/one.txt", "/two.txt", "/three.txt"])
        broken["routes.yaml"] = broken["routes.yaml"]!.replacingOccurrences(of: "domain: app\n  path: /three.txt", with: "domain: nope\n  path: /three.txt")
        let bad = try remote.push(broken, message: "broken: unknown domain")
        let gitlab = try controller.webhook(body: body, headers: [("X-Gitlab-Token", Self.secret)])
        #expect(gitlab.status == 202)
        #expect(eventually(timeout: 20) { (try? statusField(redis, "invalid_revision")) == bad })
        #expect(try statusField(redis, "pass_outcome") == "invalid")
        #expect(try statusField(redis, "revision") == second, "the last good revision stays live")
        #expect(try statusField(redis, "generation") == generation)
        let status = try BerthCLI().run(["status", "--format", "json"], redis: redis)
        #expect(status.succeeded, "\(status)")
        let report = try JSONValue.parse(status.stdout)
        let diagnostic = report["diagnostics"]?.arrayValue?.first
        #expect(diagnostic?["file"]?.stringValue == "routes.yaml")
        #expect((diagnostic?["line"]?.intValue ?? 0) > 0)
        #expect(diagnostic?["message"]?.stringValue?.contains("nope") == true)
        let text = try BerthCLI().run(["status"], redis: redis).stdout
        #expect(text.contains("is NOT applied"))
        #expect(text.contains("routes.yaml:"))
        #expect(try proxy.get("/three.txt", host: "app.example.test").status == 404)
        #expect(try proxy.get("/two.txt", host: "app.example.test").status == 200)

        // The fix converges.
        let fixed = try remote.push(Self.appRepo(upstream: upstream.url, paths: ["/one.txt", "/two.txt", "/three.txt"]), message: "fixed")
        #expect(try controller.webhook(body: body, headers: [("X-Gitea-Signature", String(hubSignature(body, secret: Self.secret).dropFirst(7)))]).status == 202)
        _ = try proxy.waitFor("/three.txt", host: "app.example.test")
        #expect(eventually(timeout: 10) { (try? statusField(redis, "revision")) == fixed })
        #expect(try statusField(redis, "invalid_revision") == "")
        #expect(try statusField(redis, "diagnostics") == "")

        // A route no request can reach is a warning: the revision goes live, and status says so.
        var shadowed = Self.appRepo(upstream: upstream.url, paths: ["/one.txt", "/two.txt", "/three.txt"])
        shadowed["routes.yaml"]! += "---\n" + Repos.route("files", domain: "app", path: "/files", url: upstream.url)
            + "---\n" + Repos.route("numbered", domain: "app", path: "/files/[0-9]+", url: upstream.url)
            .replacingOccurrences(of: "  priority: 0\n", with: "  priority: 0\n  pathType: regex\n")
        let warned = try remote.push(shadowed, message: "a shadowed regex route")
        #expect(try controller.webhook(body: body, headers: [("X-Gitlab-Token", Self.secret)]).status == 202)
        #expect(eventually(timeout: 20) { (try? statusField(redis, "revision")) == warned })
        let warnedJSON = try JSONValue.parse(try BerthCLI().run(["status", "--format", "json"], redis: redis).stdout)
        #expect(warnedJSON["diagnostics"]?.arrayValue?.first?["severity"]?.stringValue == "warning", "\(warnedJSON)")
        #expect(warnedJSON["diagnostics"]?.arrayValue?.first?["code"]?.stringValue == "shadowed-route")
        let warnedText = try BerthCLI().run(["status"], redis: redis).stdout
        #expect(warnedText.contains("validates with 1 warning"), "\(warnedText)")
        #expect(warnedText.contains("warning: Route \"numbered\" can never match"), "\(warnedText)")
        #expect(controller.process.signal(SIGTERM) == 0, "SIGTERM must stop the controller cleanly\n\(controller.process.output)")
        #expect(try redis.connect().send(["GET", "berth:lock:apply"]) == .null, "the lease is released on SIGTERM")
    }

    @Test("two controllers: one applies, the other waits; kill -9 the leader and the other takes over")
    func leaderFailover() throws {
        let redis = try RedisServerProcess.start()
        defer { redis.stop() }
        let repo = try Workspace()
        try Repos.write(Self.appRepo(upstream: "http://127.0.0.1:9", paths: ["/a"]), to: repo)
        let first = try ControllerProcess(repo: repo.path, redis: redis, holder: "ctl-A", interval: "1s", leaseTTL: "2s")
        #expect(eventually(timeout: 15) { (try? statusField(redis, "controller")) == "ctl-A" })
        let second = try ControllerProcess(repo: repo.path, redis: redis, holder: "ctl-B", interval: "1s", leaseTTL: "2s")
        #expect(eventually(timeout: 10) { (try? second.status()["lease_holder"]?.stringValue) == "ctl-A" })
        #expect(try second.status()["leader"]?.boolValue == false)
        #expect(try second.get("/readyz").status == 200, "a standby is ready (it reached Redis)")
        Thread.sleep(forTimeInterval: 2.5)
        #expect(try statusField(redis, "controller") == "ctl-A", "the standby never writes status")
        #expect(try first.get("/metrics").body.contains("berth_controller_leader 1"))
        #expect(try second.get("/metrics").body.contains("berth_controller_leader 0"))

        first.process.kill()
        let killed = Date()
        try Repos.write(Self.appRepo(upstream: "http://127.0.0.1:9", paths: ["/a", "/b"]), to: repo)
        #expect(eventually(timeout: 15) { (try? statusField(redis, "controller")) == "ctl-B" }, "\(second.process.output)")
        print("takeover after kill -9 of the leader (lease TTL 2 s): \(Int(Date().timeIntervalSince(killed) * 1000)) ms")
        #expect(eventually(timeout: 10) {
            (try? redis.connect().send(["GET", "berth:routetable"]).string)?.contains("\"/b\"") == true
        }, "the new leader applies the change made while the old one was dead")
        // Pass numbers carry on from the old leader's, so `berth sync --wait` still tells new from old.
        let synced = try BerthCLI().run(["sync", "--wait", "--timeout", "20s"], redis: redis)
        #expect(synced.succeeded, "\(synced)")
        #expect(second.process.signal(SIGTERM) == 0)
        #expect(second.process.stdout.contains("apply lease released"))
    }

    @Test("a controller whose lease is taken over stops writing at once")
    func lostLeaseStopsWrites() throws {
        let redis = try RedisServerProcess.start()
        defer { redis.stop() }
        let repo = try Workspace()
        try Repos.write(Self.appRepo(upstream: "http://127.0.0.1:9", paths: ["/a"]), to: repo)
        let controller = try ControllerProcess(repo: repo.path, redis: redis, holder: "ctl-lose", interval: "200ms", leaseTTL: "3s")
        #expect(eventually(timeout: 15) { (try? statusField(redis, "controller")) == "ctl-lose" })
        // Someone else takes the lease (as after a network partition longer than the TTL).
        let connection = try redis.connect()
        _ = try connection.send(["SET", "berth:lock:apply", #"{"holder":"intruder","fence":999,"since":"now"}"#, "PX", "60000"])
        _ = try connection.send(["HSET", "berth:status", "controller", "intruder", "pass_sequence", "0"])
        try Repos.write(Self.appRepo(upstream: "http://127.0.0.1:9", paths: ["/a", "/b"]), to: repo)
        #expect(eventually(timeout: 10) { (try? controller.status()["leader"]?.boolValue) == false }, "\(controller.process.output)")
        Thread.sleep(forTimeInterval: 1.5)
        #expect(try statusField(redis, "controller") == "intruder", "nothing more is written by the controller that lost the lease")
        #expect(try connection.send(["GET", "berth:routetable"]).string?.contains("\"/b\"") == false, "the change is not applied without the lease")
        #expect(try controller.status()["lease_holder"]?.stringValue == "intruder")
        #expect(controller.process.signal(SIGTERM) == 0)
    }

    @Test("a webhook that reaches a standby is passed on to the leader; a bare repository path is read through git")
    func webhookToStandby() throws {
        let redis = try RedisServerProcess.start()
        defer { redis.stop() }
        let remote = try GitRemote()
        try remote.push(Self.appRepo(upstream: "http://127.0.0.1:9", paths: ["/a"]), message: "first")
        let secretFile = remote.root.appending("secret").path
        try Self.secret.write(toFile: secretFile, atomically: true, encoding: .utf8)
        // No --ref and a path, not a URL: the bare repository is still read through git (HEAD's branch).
        let leader = try ControllerProcess(repo: remote.bare, redis: redis, holder: "ctl-L", interval: "1h", secretFile: secretFile)
        #expect(eventually(timeout: 15) { (try? statusField(redis, "controller")) == "ctl-L" }, "\(leader.process.output)")
        let standby = try ControllerProcess(repo: remote.bare, redis: redis, holder: "ctl-S", interval: "1h", secretFile: secretFile)
        #expect(eventually(timeout: 10) { (try? standby.status()["lease_holder"]?.stringValue) == "ctl-L" })
        let second = try remote.push(Self.appRepo(upstream: "http://127.0.0.1:9", paths: ["/a", "/b"]), message: "second")
        let body = #"{"ref":"refs/heads/main"}"#
        #expect(try standby.webhook(body: body, headers: [("X-Hub-Signature-256", hubSignature(body, secret: Self.secret))]).status == 202)
        #expect(eventually(timeout: 15) { (try? statusField(redis, "revision")) == second }, "\(leader.process.output)\n\(standby.process.output)")
        #expect(standby.process.signal(SIGTERM) == 0)
        #expect(standby.process.stdout.contains("(was standby)"))
        #expect(leader.process.signal(SIGTERM) == 0)
    }

    @Test("kill -9 mid-apply: the restarted controller converges with nothing duplicated or leaked", arguments: ["apply.after-ports", "apply.after-inventory", "apply.after-publish"])
    func crashMidApply(failpoint: String) throws {
        let redis = try RedisServerProcess.start()
        defer { redis.stop() }
        let repo = try Workspace()
        var files = Repos.shop(replicas: 2)
        try Repos.write(files, to: repo)
        let crashing = try BackgroundProcess(try BerthCLI().executable,
                                             ["controller", "--repo", repo.path, "--redis", redis.urlString, "--listen", "127.0.0.1:0",
                                              "--lease-ttl", "1s", "--holder", "ctl-crash", "--no-docker"],
                                             environment: ["BERTH_FAILPOINT": failpoint])
        #expect(crashing.waitForExit(timeout: 20) == 9, "the failpoint kills the controller with SIGKILL\n\(crashing.output)")

        let controller = try ControllerProcess(repo: repo.path, redis: redis, holder: "ctl-recover", interval: "1s", leaseTTL: "1s")
        #expect(eventually(timeout: 20) { ["applied", "unchanged"].contains((try? statusField(redis, "pass_outcome")) ?? "") && (try? statusField(redis, "controller")) == "ctl-recover" },
                "\(controller.process.output)")
        let connection = try redis.connect()
        let state = try RedisSnapshot(connection, prefix: "berth:")
        #expect(state.inventory.count == 7, "one row per resource (2 domains, 1 policy, 1 instance, 3 routes): \(state)")
        #expect(state.ports.count == 2, "one lease per replica port: \(state)")
        #expect(Set(state.ports.values).count == 2)
        #expect(state.generation == "1", "published exactly once: \(state)")

        // One more change, and the state after it is what a clean apply gives.
        files["instances.yaml"] = Repos.instance("shop-api", image: "example.test/shop:1", replicas: 3)
        try Repos.write(files, to: repo)
        #expect(eventually(timeout: 20) { ((try? RedisSnapshot(connection, prefix: "berth:"))?.ports.count ?? 0) == 3 })
        #expect(eventually(timeout: 10) { (try? RedisSnapshot(connection, prefix: "berth:"))?.generation == "2" })
        #expect(controller.process.signal(SIGTERM) == 0)
    }

    @Test("drift is corrected with the reason named; a resource that fails alone is retried with backoff while the rest converges")
    func driftAndFailureIsolation() throws {
        let redis = try RedisServerProcess.start()
        defer { redis.stop() }
        let repo = try Workspace()
        var files = Self.appRepo(upstream: "http://127.0.0.1:9", paths: ["/a"])
        files["instances.yaml"] = Repos.instance("alpha", ports: ["http"]) + "---\n" + Repos.instance("beta", ports: ["http", "admin"])
        try Repos.write(files, to: repo)
        let controller = try ControllerProcess(repo: repo.path, redis: redis, holder: "ctl-drift", interval: "1s",
                                               extra: ["--port-range", "20000-20001"])
        // alpha takes one of the two ports; beta needs two and fails alone.
        #expect(eventually(timeout: 20) { (try? statusField(redis, "pass_outcome")) == "degraded" }, "\(controller.process.output)")
        let report = try JSONValue.parse(try BerthCLI().run(["status", "--format", "json"], redis: redis).stdout)
        let resources = Dictionary(uniqueKeysWithValues: (report["resources"]?.arrayValue ?? []).compactMap { item in
            item["id"]?.stringValue.map { ($0, item) }
        })
        #expect(resources["Instance/beta"]?["condition"]?.stringValue == "Failed")
        #expect(resources["Instance/beta"]?["reason"]?.stringValue == "ports-exhausted")
        #expect(resources["Instance/beta"]?["next_retry"]?.stringValue != nil)
        // alpha has its port; with no runtime configured it waits as Progressing (not Failed).
        #expect(resources["Instance/alpha"]?["condition"]?.stringValue == "Progressing")
        #expect(resources["Instance/alpha"]?["reason"]?.stringValue == "Pending")
        #expect(resources["Route/r0"]?["condition"]?.stringValue == "Ready")
        #expect(try redis.connect().send(["HLEN", "berth:ports"]).integer == 1, "nothing half-allocated for beta")

        // Remove alpha: its port is freed and beta's retry succeeds.
        files["instances.yaml"] = Repos.instance("beta", ports: ["http", "admin"])
        try Repos.write(files, to: repo)
        #expect(eventually(timeout: 30) {
            let json = try? JSONValue.parse(try BerthCLI().run(["status", "--format", "json"], redis: redis).stdout)
            return json?["resources"]?.arrayValue?.first { $0["id"]?.stringValue == "Instance/beta" }?["condition"]?.stringValue == "Progressing"
        }, "\(controller.process.output)")
        let connection = try redis.connect()
        let before = try RedisSnapshot(connection, prefix: "berth:")
        #expect(before.ports.count == 2)

        // Drift: a lease deleted by hand and the route table overwritten by hand.
        let port = before.ports.keys.sorted().first!
        _ = try connection.send(["HDEL", "berth:ports", port])
        _ = try connection.send(["SET", "berth:routetable:hash", "tampered"])
        #expect(eventually(timeout: 15) { (try? RedisSnapshot(connection, prefix: "berth:"))?.ports == before.ports })
        #expect(eventually(timeout: 15) { (try? RedisSnapshot(connection, prefix: "berth:"))?.tableHash == before.tableHash })
        let log = controller.process.stdout
        #expect(log.contains("port-drift"), "\(log)")
        #expect(log.contains("route table: drift"), "\(log)")
        #expect(controller.process.signal(SIGTERM) == 0)
    }

    @Test("a controller that starts on a broken revision, or cannot fetch, reads the applied revision back from git and keeps correcting drift")
    func restartOnBrokenRevisionRecoversTheAppliedOne() throws {
        let redis = try RedisServerProcess.start()
        defer { redis.stop() }
        let remote = try GitRemote()
        let good = try remote.push(Self.appRepo(upstream: "http://127.0.0.1:9", paths: ["/a", "/b"]), message: "good")
        let first = try ControllerProcess(repo: remote.url, ref: "main", redis: redis, holder: "ctl-recover-1", interval: "1s")
        #expect(eventually(timeout: 20) { (try? statusField(redis, "revision")) == good }, "\(first.process.output)")
        let connection = try redis.connect()
        let applied = try RedisSnapshot(connection, prefix: "berth:")
        #expect(first.process.signal(SIGTERM) == 0)

        // While no controller runs: a broken commit lands and the route table is tampered with.
        let broken = Self.brokenRepo()
        let bad = try remote.push(broken, message: "broken")
        _ = try connection.send(["SET", "berth:routetable:hash", "tampered"])

        let second = try ControllerProcess(repo: remote.url, ref: "main", redis: redis, holder: "ctl-recover-2", interval: "1s")
        #expect(eventually(timeout: 20) { (try? statusField(redis, "invalid_revision")) == bad }, "\(second.process.output)")
        #expect(eventually(timeout: 15) { (try? RedisSnapshot(connection, prefix: "berth:"))?.tableHash == applied.tableHash },
                "the applied revision is reconciled although HEAD is broken: \(second.process.output)")
        #expect(try statusField(redis, "revision") == good)
        let error = try statusField(redis, "pass_error") ?? ""
        #expect(error.contains("revision \(good.prefix(7))") && error.contains("stays live"), "\(error)")
        #expect(second.process.stdout.contains("recovered revision \(good.prefix(7))"), "\(second.process.output)")
        #expect(second.process.signal(SIGTERM) == 0)

        // The remote is gone too: the revision is read from the controller's mirror, without a fetch.
        try FileManager.default.moveItem(atPath: remote.bare, toPath: remote.bare + ".away")
        _ = try connection.send(["SET", "berth:routetable:hash", "tampered"])
        let third = try ControllerProcess(repo: remote.url, ref: "main", redis: redis, holder: "ctl-recover-3", interval: "1s")
        #expect(eventually(timeout: 20) { (try? statusField(redis, "pass_outcome")) == "fetch-failed" }, "\(third.process.output)")
        #expect(eventually(timeout: 15) { (try? RedisSnapshot(connection, prefix: "berth:"))?.tableHash == applied.tableHash },
                "\(third.process.output)")
        #expect(third.process.stdout.contains("recovered revision \(good.prefix(7))"), "\(third.process.output)")
        #expect(third.process.signal(SIGTERM) == 0)
    }

    @Test("an apply killed after publishing, then a broken HEAD: the controller finishes the cut-off revision instead of undoing it")
    func brokenHeadAfterACutOffApplyFinishesIt() throws {
        let redis = try RedisServerProcess.start()
        defer { redis.stop() }
        let remote = try GitRemote()
        let one = try remote.push(Self.appRepo(upstream: "http://127.0.0.1:9", paths: ["/a"]), message: "one")
        let source = ["--repo", remote.url, "--ref", "main"]
        let first = try BerthCLI().run(["apply"] + source, redis: redis)
        #expect(first.succeeded, "\(first)")
        #expect(try statusField(redis, "revision") == one)

        // Revision two is published, then the apply dies before it records itself as applied.
        let two = try remote.push(Self.appRepo(upstream: "http://127.0.0.1:9", paths: ["/a", "/b"]), message: "two")
        let cut = try BerthCLI().run(["apply"] + source, redis: redis, environment: ["BERTH_FAILPOINT": "apply.after-publish"])
        #expect(cut.status == 137, "the failpoint kills the apply with SIGKILL: \(cut)")
        #expect(try statusField(redis, "revision") == one)
        #expect(try statusField(redis, "applying_revision") == two)
        #expect(try redis.connect().send(["GET", "berth:routetable"]).string?.contains("\"/b\"") == true)

        let broken = Self.brokenRepo()
        let bad = try remote.push(broken, message: "broken")
        _ = try redis.connect().send(["DEL", "berth:lock:apply"])  // the dead apply's lease, rather than wait out its 30 s
        let controller = try ControllerProcess(repo: remote.url, ref: "main", redis: redis, holder: "ctl-finish", interval: "1s")
        #expect(eventually(timeout: 20) { (try? statusField(redis, "invalid_revision")) == bad }, "\(controller.process.output)")
        #expect(eventually(timeout: 15) { (try? statusField(redis, "revision")) == two }, "the cut-off apply is finished: \(controller.process.output)")
        Thread.sleep(forTimeInterval: 1.5)
        #expect(try redis.connect().send(["GET", "berth:routetable"]).string?.contains("\"/b\"") == true, "\(controller.process.output)")
        #expect(controller.process.stdout.contains("recovered revision \(two.prefix(7))"), "\(controller.process.output)")
        #expect(controller.process.signal(SIGTERM) == 0)
    }

    @Test("a leader that stood by while another applied a newer revision never rolls it back to what it remembered")
    func returningLeaderKeepsTheNewerRevision() throws {
        let redis = try RedisServerProcess.start()
        defer { redis.stop() }
        let remote = try GitRemote()
        let one = try remote.push(Self.appRepo(upstream: "http://127.0.0.1:9", paths: ["/a"]), message: "one")
        let a = try ControllerProcess(repo: remote.url, ref: "main", redis: redis, holder: "ctl-return-A", interval: "1s", leaseTTL: "2s")
        #expect(eventually(timeout: 20) { (try? statusField(redis, "revision")) == one }, "\(a.process.output)")

        // A freezes (a long GC pause, a partitioned VM); B takes over and applies revision two.
        Glibc.kill(a.process.pid, SIGSTOP)
        let b = try ControllerProcess(repo: remote.url, ref: "main", redis: redis, holder: "ctl-return-B", interval: "1s", leaseTTL: "2s")
        let two = try remote.push(Self.appRepo(upstream: "http://127.0.0.1:9", paths: ["/a", "/b"]), message: "two")
        #expect(eventually(timeout: 20) { (try? statusField(redis, "revision")) == two }, "\(b.process.output)")
        let broken = Self.brokenRepo()
        let bad = try remote.push(broken, message: "broken")
        #expect(eventually(timeout: 20) { (try? statusField(redis, "invalid_revision")) == bad }, "\(b.process.output)")

        // B dies; A wakes up, takes the lease back and finds HEAD broken. It must fall back to two
        // (what is applied), not to one (what it validated itself).
        b.process.kill()
        Glibc.kill(a.process.pid, SIGCONT)
        #expect(eventually(timeout: 20) {
            (try? statusField(redis, "controller")) == "ctl-return-A" && (try? statusField(redis, "pass_outcome")) == "invalid"
        }, "\(a.process.output)")
        Thread.sleep(forTimeInterval: 2.5)  // a few passes of A's
        #expect(try statusField(redis, "revision") == two)
        #expect(try redis.connect().send(["GET", "berth:routetable"]).string?.contains("\"/b\"") == true, "\(a.process.output)")
        let error = try statusField(redis, "pass_error") ?? ""
        #expect(error.contains("revision \(two.prefix(7))") && error.contains("stays live"), "\(error)")
        #expect(a.process.signal(SIGTERM) == 0)
    }

    @Test("the example post-receive hook makes a push to a bare repository go live, and the pusher sees the outcome")
    func postReceiveHook() throws {
        let redis = try RedisServerProcess.start()
        defer { redis.stop() }
        let remote = try GitRemote()
        try remote.push(Self.appRepo(upstream: "http://127.0.0.1:9", paths: ["/a"]), message: "first")
        let hook = remote.bare + "/hooks/post-receive"
        try FileManager.default.copyItem(atPath: UpE2ETests.packageRoot + "/examples/hooks/post-receive", toPath: hook)
        let controller = try ControllerProcess(repo: remote.url, ref: "main", redis: redis, holder: "ctl-hook", interval: "1h")
        #expect(eventually(timeout: 15) { (try? statusField(redis, "pass_outcome")) == "applied" }, "\(controller.process.output)")
        let environment = ["BERTH": try BerthCLI().executable, "BERTH_REDIS_URL": redis.urlString, "BERTH_SYNC_WAIT": "1", "BERTH_SYNC_TIMEOUT": "20s"]
        let second = try remote.push(Self.appRepo(upstream: "http://127.0.0.1:9", paths: ["/a", "/b"]), message: "second", environment: environment)
        #expect(try statusField(redis, "revision") == second, "the hook waited for the pass, so it is live when the push returns")
        // An invalid push is accepted by git (the hook cannot refuse it), applies nothing, and the pusher is told.
        var broken = Self.appRepo(upstream: "http://127.0.0.1:9", paths: ["/a", "/b"])
        broken["routes.yaml"]! += "  unknownField: 1\n"
        let push = try remote.pushCapturingOutput(broken, message: "broken", environment: environment)
        #expect(push.contains("invalid"), "\(push)")
        #expect(try statusField(redis, "revision") == second)
        #expect(controller.process.signal(SIGTERM) == 0)
    }

    @Test("berth sync triggers a pass through Redis and --wait reports it")
    func syncThroughRedis() throws {
        let redis = try RedisServerProcess.start()
        defer { redis.stop() }
        let cli = try BerthCLI()
        let nobody = try cli.run(["sync"], redis: redis)
        #expect(nobody.status == 1)
        #expect(nobody.stderr.contains("no controller is listening"))
        let repo = try Workspace()
        try Repos.write(Self.appRepo(upstream: "http://127.0.0.1:9", paths: ["/a"]), to: repo)
        let controller = try ControllerProcess(repo: repo.path, redis: redis, holder: "ctl-sync", interval: "1h")
        #expect(eventually(timeout: 15) { (try? statusField(redis, "pass_outcome")) == "applied" })
        try Repos.write(Self.appRepo(upstream: "http://127.0.0.1:9", paths: ["/a", "/b"]), to: repo)
        let synced = try cli.run(["sync", "--wait", "--timeout", "20s"], redis: redis)
        #expect(synced.succeeded, "\(synced)\n\(controller.process.output)")
        #expect(synced.stdout.contains("applied"))
        #expect(try redis.connect().send(["GET", "berth:routetable"]).string?.contains("\"/b\"") == true)
        #expect(controller.process.signal(SIGTERM) == 0)
    }
}

import Foundation
import RedisClient
import Reconciler
import Spec
import Testing
import TestSupport
import X509

/// Certificates end to end against a real ACME server: `berth controller` orders from pebble, pebble
/// validates HTTP-01 through a real `berth-proxy` (which answers from Redis), and the result is
/// checked as a client would check it. Pebble missing is a failure, never a skip.
@Suite(.serialized) struct CertificateE2ETests {
    static func acmeDomain(_ name: String, hosts: [String], email: String? = nil) -> String {
        """
        apiVersion: berth/v1
        kind: Domain
        metadata: {name: \(name)}
        spec:
          hosts: [\(hosts.joined(separator: ", "))]
          tls: acme
        \(email.map { "  acme: {email: \($0)}\n" } ?? "")
        """
    }

    /// Everything one test needs: Redis, a proxy on pebble's HTTP-01 port, pebble, a directory repository.
    struct Stack {
        let redis: RedisServerProcess
        let proxy: ProxyProcess
        let pebble: PebbleServer
        let repo: Workspace

        init(files: [String: String], nonceReject: Int = 20) throws {
            redis = try RedisServerProcess.start()
            proxy = try ProxyProcess(redis: redis, replica: "p1")
            pebble = try PebbleServer(httpPort: proxy.port, nonceReject: nonceReject)
            repo = try Workspace()
            for (name, text) in files { try repo.write(name, text) }
        }

        func controller(_ holder: String, interval: String = "1s", leaseTTL: String = "3s") throws -> ControllerProcess {
            try ControllerProcess(repo: repo.path, redis: redis, holder: holder, interval: interval, leaseTTL: leaseTTL,
                                  extra: ["--acme-directory", pebble.directoryURL, "--acme-ca-file", pebble.tlsCAFile, "--acme-email", "ops@berth.test"])
        }

        func certificate(_ name: String) throws -> [String: String] { try CertificateChecks.fields(redis, name) }

        func waitForCertificate(_ name: String, timeout: Double = 60, _ condition: ([String: String]) -> Bool = { _ in true },
                                diagnostics: () -> String) throws -> [String: String] {
            var last: [String: String] = [:]
            let ok = eventually(timeout: timeout) {
                last = (try? certificate(name)) ?? [:]
                return last["fingerprint"] != nil && condition(last)
            }
            guard ok else {
                throw TestSupportError("cert:\(name) did not appear as expected within \(timeout)s; last: \(last.filter { $0.key != "key" })\n\(diagnostics())\n\(pebble.pebble.output.suffix(3000))")
            }
            return last
        }

        func routeTable() throws -> JSONValue {
            let connection = try redis.connect()
            defer { connection.close() }
            return try JSONValue.parse(try connection.send(["GET", "berth:routetable"]).string ?? "null")
        }

        func stop() {
            redis.stop()
        }
    }

    @Test("a two-host Domain gets one certificate from pebble naming both hosts, verified up to pebble's root; the route table carries its fingerprint and HSTS")
    func issueTwoHosts() async throws {
        let stack = try Stack(files: ["domains.yaml": Self.acmeDomain("shop", hosts: ["shop.example.test", "www.shop.example.test"])
                                        .replacingOccurrences(of: "  tls: acme\n", with: "  tls: acme\n  hsts: {maxAge: 31536000, includeSubdomains: true}\n")])
        defer { stack.stop() }
        let controller = try stack.controller("ctl-issue")
        let fields = try stack.waitForCertificate("shop") { controller.process.output }
        #expect(fields["sans"] == "shop.example.test,www.shop.example.test")
        #expect(fields["source"] == "acme")
        #expect(fields["issuer"]?.contains("Pebble Intermediate CA") == true)
        #expect(fields["key"]?.hasPrefix("-----BEGIN PRIVATE KEY-----") == true, "the key is PKCS#8 PEM")
        let chain = try CertificateChecks.chain(try #require(fields["chain"]))
        #expect(chain.count >= 2, "leaf then intermediate")
        #expect(try CertificateChecks.dnsNames(chain[0]) == ["shop.example.test", "www.shop.example.test"])
        #expect(try CertificateChecks.fingerprintHex(chain[0]) == fields["fingerprint"])
        #expect(Timestamps.date(fields["not_after"] ?? "") != nil && Timestamps.date(fields["not_before"] ?? "") != nil)
        let root = try stack.pebble.rootPEM()
        for host in ["shop.example.test", "www.shop.example.test"] {
            #expect(try await CertificateChecks.verify(chainPEM: fields["chain"]!, rootPEM: root, host: host), "chain does not verify for \(host)")
        }
        #expect(try await !CertificateChecks.verify(chainPEM: fields["chain"]!, rootPEM: root, host: "other.example.test"))

        // The table names the certificate by fingerprint (so proxies reload), never its key.
        var table = JSONValue.null
        #expect(eventually(timeout: 10) {
            table = (try? stack.routeTable()) ?? .null
            return table["certificates"]?["shop"]?.stringValue == fields["fingerprint"]
        }, "route table: \(table.canonicalString)")
        #expect(table["hosts"]?.arrayValue?.first?["hsts"]?.stringValue == "max-age=31536000; includeSubDomains")
        #expect(!table.canonicalString.contains("PRIVATE KEY"))
        let status = try controller.allStatus()
        #expect(status["resources"]?["Domain/shop"]?["condition"]?.stringValue == "Ready", "\(status.canonicalString)")
        #expect(!status.canonicalString.contains("PRIVATE KEY"))
        // The challenge keys were withdrawn after validation.
        let connection = try stack.redis.connect()
        defer { connection.close() }
        #expect((try connection.send(["KEYS", "berth:acme:challenge:*"]).array ?? []).isEmpty)
        #expect((try connection.send(["KEYS", "berth:acme:account:*"]).array ?? []).count == 1)
    }

    @Test("a certificate forced to expire soon is renewed; a host-set change re-issues; both republish the route table")
    func renewAndReissue() throws {
        let stack = try Stack(files: ["domains.yaml": Self.acmeDomain("shop", hosts: ["shop.example.test", "www.shop.example.test"])])
        defer { stack.stop() }
        let controller = try stack.controller("ctl-renew")
        let first = try stack.waitForCertificate("shop") { controller.process.output }
        let generation = try stack.routeTable()["generation"]?.intValue ?? 0

        // Make it look 80 days into a 90-day life: a third is left no more.
        let connection = try stack.redis.connect()
        defer { connection.close() }
        let now = Date()
        try connection.send(["HSET", "berth:cert:shop", "not_before", Timestamps.string(now.addingTimeInterval(-80 * 86_400)),
                             "not_after", Timestamps.string(now.addingTimeInterval(10 * 86_400))])
        let renewed = try stack.waitForCertificate("shop", { $0["fingerprint"] != first["fingerprint"] }) { controller.process.output }
        #expect(renewed["serial"] != first["serial"])
        #expect(renewed["sans"] == first["sans"])
        #expect(eventually(timeout: 10) { ((try? stack.routeTable()["generation"]?.intValue) ?? 0) > generation })
        #expect(try stack.routeTable()["certificates"]?["shop"]?.stringValue == renewed["fingerprint"])

        // A third host: the certificate is re-issued for all three.
        try stack.repo.write("domains.yaml", Self.acmeDomain("shop", hosts: ["shop.example.test", "www.shop.example.test", "m.shop.example.test"]))
        let reissued = try stack.waitForCertificate("shop", { $0["sans"] == "m.shop.example.test,shop.example.test,www.shop.example.test" }) {
            controller.process.output
        }
        #expect(reissued["fingerprint"] != renewed["fingerprint"])
        let chain = try CertificateChecks.chain(reissued["chain"]!)
        #expect(try CertificateChecks.dnsNames(chain[0]) == ["m.shop.example.test", "shop.example.test", "www.shop.example.test"])
        // And then it stays: no more orders once current.
        let events = try CertificateChecks.issuedEvents(stack.redis, "shop")
        Thread.sleep(forTimeInterval: 3)
        #expect(try CertificateChecks.issuedEvents(stack.redis, "shop") == events)
        #expect(events == 3)
    }

    @Test("a Domain whose challenge cannot be answered fails alone with the ACME problem in status, is retried, and succeeds once reachable")
    func unreachableChallengeFailsAlone() throws {
        let stack = try Stack(files: ["domains.yaml": Self.acmeDomain("good", hosts: ["good.example.test"]) + "---\n"
                                        + Self.acmeDomain("bad", hosts: ["bad.example.test"])])
        defer { stack.stop() }
        // Nothing listens on 127.0.0.2 at the proxy's port: pebble's validation cannot connect.
        try stack.pebble.setAddress("bad.example.test", "127.0.0.2")
        let controller = try stack.controller("ctl-fail")
        _ = try stack.waitForCertificate("good") { controller.process.output }

        var condition = JSONValue.null
        let failedTwice = eventually(timeout: 40) {
            condition = (try? controller.allStatus()["resources"]?["Domain/bad"]) ?? .null
            return condition["condition"]?.stringValue == "Failed" && (condition["failures"]?.intValue ?? 0) >= 2
        }
        #expect(failedTwice, "Domain/bad: \(condition.canonicalString)\n\(controller.process.output.suffix(2000))")
        #expect(condition["reason"]?.stringValue?.hasPrefix("urn:ietf:params:acme:error:") == true, "\(condition.canonicalString)")
        #expect(condition["message"]?.stringValue?.contains("urn:ietf:params:acme:error:") == true)
        #expect(condition["next_retry"]?.stringValue != nil)
        #expect(try controller.allStatus()["resources"]?["Domain/good"]?["condition"]?.stringValue == "Ready")
        #expect(try stack.certificate("bad").isEmpty)
        // The routes of the failing Domain are still published (served over HTTP meanwhile).
        #expect(try stack.routeTable()["hosts"]?.arrayValue?.contains { $0["host"]?.stringValue == "bad.example.test" } == true)
        let statusText = try statusField(stack.redis, "resources") ?? ""
        #expect(statusText.contains("urn:ietf:params:acme:error:"))

        // Reachable again: the next retry succeeds.
        try stack.pebble.clearAddress("bad.example.test")
        let fields = try stack.waitForCertificate("bad", timeout: 90) { controller.process.output }
        #expect(fields["sans"] == "bad.example.test")
        #expect(eventually(timeout: 10) { (try? controller.allStatus()["resources"]?["Domain/bad"]?["condition"]?.stringValue) == "Ready" })
    }

    @Test("an account the CA forgot (pebble restarted) is registered again with the same key and the next order succeeds")
    func forgottenAccountIsRegisteredAgain() async throws {
        let stack = try Stack(files: ["domains.yaml": Self.acmeDomain("one", hosts: ["one.example.test"])])
        defer { stack.stop() }
        let controller = try stack.controller("ctl-account")
        _ = try stack.waitForCertificate("one") { controller.process.output }
        let connection = try stack.redis.connect()
        defer { connection.close() }
        let accounts = try connection.send(["KEYS", "berth:acme:account:*"]).array?.compactMap(\.string) ?? []
        #expect(accounts.count == 1)
        let key = try connection.send(["HGET", accounts[0], "key"]).string

        try stack.pebble.restart()
        try stack.repo.write("domains.yaml", Self.acmeDomain("one", hosts: ["one.example.test"]) + "---\n" + Self.acmeDomain("two", hosts: ["two.example.test"]))
        let fields = try stack.waitForCertificate("two") { controller.process.output }
        #expect(fields["issuer"]?.contains("Pebble Intermediate CA") == true)
        #expect(try connection.send(["HGET", accounts[0], "key"]).string == key, "the account key is kept")
        #expect(try connection.send(["HGET", accounts[0], "url"]).string != nil)
        #expect(try await CertificateChecks.verify(chainPEM: fields["chain"]!, rootPEM: stack.pebble.rootPEM(), host: "two.example.test"))
    }

    @Test("two controllers: one certificate is ordered, even across a failover")
    func twoControllersIssueOnce() throws {
        let stack = try Stack(files: ["domains.yaml": Self.acmeDomain("shop", hosts: ["shop.example.test", "www.shop.example.test"])])
        defer { stack.stop() }
        let first = try stack.controller("ctl-a")
        let second = try stack.controller("ctl-b")
        let fields = try stack.waitForCertificate("shop") { first.process.output + second.process.output }
        Thread.sleep(forTimeInterval: 3)  // several passes of both
        #expect(try CertificateChecks.issuedEvents(stack.redis, "shop") == 1)
        // Kill the leader; the other takes over and keeps the certificate.
        let leader = try first.status()["leader"]?.boolValue == true ? first : second
        let standby = leader === first ? second : first
        leader.process.kill()
        #expect(eventually(timeout: 15) { (try? standby.status()["leader"]?.boolValue) == true })
        Thread.sleep(forTimeInterval: 2)
        #expect(try CertificateChecks.issuedEvents(stack.redis, "shop") == 1)
        #expect(try stack.certificate("shop")["fingerprint"] == fields["fingerprint"])
        let orders = stack.pebble.pebble.stdout.components(separatedBy: "Issued certificate serial").count - 1
        #expect(orders == 1, "pebble issued \(orders) certificates")
    }

    @Test("badNonce is retried with the fresh nonce: half the nonces rejected still issues; all rejected fails with the problem verbatim")
    func badNonceRetries() throws {
        for (reject, succeeds) in [(50, true), (100, false)] {
            let stack = try Stack(files: ["domains.yaml": Self.acmeDomain("shop", hosts: ["shop.example.test"])], nonceReject: reject)
            defer { stack.stop() }
            let apply = try BerthCLI().run(["apply", "--repo", stack.repo.path, "--acme-directory", stack.pebble.directoryURL,
                                            "--acme-ca-file", stack.pebble.tlsCAFile], redis: stack.redis)
            #expect(apply.succeeded, "\(apply)")
            if succeeds {
                #expect(apply.stdout.contains("Certificates: 1 issued"), "\(apply)")
                #expect(try stack.certificate("shop")["sans"] == "shop.example.test")
            } else {
                #expect(apply.stdout.contains("failed: Domain/shop: issue certificate for shop.example.test: urn:ietf:params:acme:error:badNonce"), "\(apply)")
                #expect(try stack.certificate("shop").isEmpty)
            }
        }
    }

    @Test("kill -9 after a certificate is stored but before the table is published: the next apply publishes it without issuing again")
    func crashAfterTheCertificateIsStored() throws {
        let redis = try RedisServerProcess.start()
        defer { redis.stop() }
        let repo = try Workspace()
        try repo.write("domains.yaml", Repos.domain("internal", hosts: ["internal.example.test"], tls: "self-signed"))
        let cli = try BerthCLI()
        let crashed = try cli.run(["apply", "--repo", repo.path, "--lease-ttl", "1000"], redis: redis,
                                  environment: ["BERTH_FAILPOINT": "apply.after-certificates"])
        #expect(crashed.status == 137, "\(crashed)")
        let stored = try CertificateChecks.fields(redis, "internal")
        #expect(stored["fingerprint"] != nil)
        Thread.sleep(forTimeInterval: 1.2)  // the dead process's lease expires
        let resumed = try cli.run(["apply", "--repo", repo.path], redis: redis)
        #expect(resumed.status == 0, "\(resumed)")
        #expect(!resumed.stdout.contains("Certificates: 1 issued"), "\(resumed)")
        #expect(try CertificateChecks.fields(redis, "internal")["fingerprint"] == stored["fingerprint"])
        let connection = try redis.connect()
        defer { connection.close() }
        let table = try JSONValue.parse(try connection.send(["GET", "berth:routetable"]).string ?? "null")
        #expect(table["certificates"]?["internal"]?.stringValue == stored["fingerprint"])
        let again = try cli.run(["plan", "--repo", repo.path, "--detailed-exitcode"], redis: redis)
        #expect(again.status == 0, "converged state must plan empty: \(again.stdout)")
    }

    @Test("tls: self-signed is signed by the internal CA that `berth ca export` prints")
    func selfSignedVerifiesAgainstExportedCA() async throws {
        let redis = try RedisServerProcess.start()
        defer { redis.stop() }
        let repo = try Workspace()
        try repo.write("domains.yaml", Repos.domain("internal", hosts: ["internal.example.test", "admin.internal.example.test"], tls: "self-signed"))
        let cli = try BerthCLI()
        let apply = try cli.run(["apply", "--repo", repo.path], redis: redis)
        #expect(apply.succeeded, "\(apply)")
        #expect(apply.stdout.contains("Certificates: 1 issued"))
        let export = try cli.run(["ca", "export"], redis: redis)
        #expect(export.succeeded, "\(export)")
        #expect(export.stdout.hasPrefix("-----BEGIN CERTIFICATE-----"))
        let fields = try CertificateChecks.fields(redis, "internal")
        #expect(fields["source"] == "self-signed")
        #expect(fields["sans"] == "admin.internal.example.test,internal.example.test")
        for host in ["internal.example.test", "admin.internal.example.test"] {
            #expect(try await CertificateChecks.verify(chainPEM: fields["chain"]!, rootPEM: export.stdout, host: host))
        }
        // The CA is created once: a second export and a second Domain use the same one.
        #expect(try cli.run(["ca", "export"], redis: redis).stdout == export.stdout)
        let again = try cli.run(["apply", "--repo", repo.path], redis: redis)
        #expect(again.stdout.contains("No changes"), "\(again)")
        // Removing TLS deletes the certificate and its key.
        try repo.write("domains.yaml", Repos.domain("internal", hosts: ["internal.example.test", "admin.internal.example.test"], tls: "none"))
        let removed = try cli.run(["apply", "--repo", repo.path], redis: redis)
        #expect(removed.succeeded, "\(removed)")
        #expect(try CertificateChecks.fields(redis, "internal").isEmpty)
    }
}

extension ControllerProcess {
    /// `/status` listing Ready resources too.
    func allStatus() throws -> JSONValue { try JSONValue.parse(try get("/status?resources=all").body) }
}

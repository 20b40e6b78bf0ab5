import Testing
@testable import Spec

/// The container and rollout settings of an Instance: loading, errors, canonical form.
@Suite struct InstanceFieldTests {
    static func load(_ spec: String, runtime: String = "docker") -> LoadResult {
        let head = runtime == "docker" ? "  image: example.test/web:1\n  ports: [{name: http, containerPort: 8080}]\n"
                                       : "  runtime: process\n  command: [./serve]\n  ports: [{name: http}]\n"
        let yaml = "apiVersion: berth/v1\nkind: Instance\nmetadata: {name: web}\nspec:\n" + head + spec
        return SpecLoader.load(files: [(path: "instances.yaml", contents: Array(yaml.utf8))])
    }

    @Test("every field loads, and shows in the canonical form (so changing it replaces the replicas)")
    func fieldsLoad() throws {
        let result = Self.load("""
              bindAddress: 0.0.0.0
              restart: on-failure
              readOnlyRootFilesystem: true
              dropCapabilities: [all, cap_net_raw]
              health: {path: /healthz, successes: 3, startTimeout: 2m, restartAfter: 6}

            """)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics.map(\.rendered))")
        let web = try #require(result.state.instance(named: "web"))
        #expect(web.bindAddress == "0.0.0.0" && web.restart == .onFailure)
        #expect(web.security == Instance.Security(readOnlyRootFilesystem: true, dropCapabilities: ["ALL", "NET_RAW"]))
        #expect(web.health?.successes == 3 && web.health?.startTimeoutMilliseconds == 120_000)
        #expect(web.health?.restartAfter == 6)
        let canonical = web.canonicalSpec
        #expect(canonical["health"]?["restartAfter"]?.intValue == 6)
        #expect(canonical["restart"]?.stringValue == "on-failure" && canonical["bindAddress"]?.stringValue == "0.0.0.0")
        #expect(canonical["health"]?["startTimeout"]?.stringValue != nil)
        let rebuilt = try Instance(name: "web", canonical: canonical)
        #expect(rebuilt == web, "the inventory's copy rebuilds the same instance")
        #expect(rebuilt.templateHash == web.templateHash)
    }

    @Test("defaults are left out of the canonical form, so templates applied before these fields existed keep their hash")
    func defaultsKeepHashes() throws {
        let web = try #require(Self.load("  health: {path: /healthz}\n").state.instance(named: "web"))
        #expect(web.bindAddress == "127.0.0.1" && web.restart == .unlessStopped && web.security.isDefault)
        #expect(web.health?.successes == 1 && web.health?.startTimeoutMilliseconds == 60_000)
        #expect(web.health?.restartAfter == nil, "never restarted for failing checks unless asked")
        let keys = Set(web.canonicalSpec.objectValue?.keys.map { $0 } ?? [])
        #expect(keys.isDisjoint(with: ["bindAddress", "restart", "readOnlyRootFilesystem", "dropCapabilities"]))
        #expect(web.canonicalSpec["health"]?.objectValue?.keys.sorted() == ["interval", "path", "timeout"])
    }

    @Test("bad values are errors that name the field and the fix", arguments: [
        ("  bindAddress: localhost\n", "docker", "spec.bindAddress \"localhost\" is not an IP address"),
        ("  restart: sometimes\n", "docker", "spec.restart must be one of no, on-failure, unless-stopped, always"),
        ("  readOnlyRootFilesystem: yes please\n", "docker", "spec.readOnlyRootFilesystem must be true or false"),
        ("  dropCapabilities: [NET-RAW]\n", "docker", "spec.dropCapabilities: \"NET-RAW\" is not a capability name"),
        ("  health: {path: /h, successes: 0}\n", "docker", "spec.health.successes must be between 1 and 10"),
        ("  health: {path: /h, startTimeout: 2h}\n", "docker", "spec.health.startTimeout (2h) is longer than 1h"),
        ("  health: {path: /h, restartAfter: 2}\n", "docker", "spec.health.restartAfter must be between 3 and 1000, got 2"),
        ("  health: {path: /h, restartAfter: often}\n", "process", "spec.health.restartAfter must be an integer"),
        ("  restart: always\n", "process", "spec.restart applies to the docker runtime, not process"),
        ("  bindAddress: 0.0.0.0\n", "process", "spec.bindAddress applies to the docker runtime, not process"),
    ])
    func errors(spec: String, runtime: String, message: String) {
        let result = Self.load(spec, runtime: runtime)
        #expect(!result.isValid)
        #expect(result.diagnostics.contains { $0.message.contains(message) }, "\(result.diagnostics.map(\.rendered))")
        #expect(result.diagnostics.allSatisfy { $0.location.line >= 5 }, "every error points into the spec: \(result.diagnostics.map(\.rendered))")
    }
}

/// Basic users: a bcrypt cost that would stall the proxy is refused with the fix.
@Suite struct BcryptCostTests {
    @Test func costAboveTheCapIsAnError() {
        func load(_ hash: String) -> LoadResult {
            let yaml = "apiVersion: berth/v1\nkind: AuthPolicy\nmetadata: {name: office}\nspec:\n  basic:\n    users:\n      - {name: ann, bcrypt: \"\(hash)\"}\n"
            return SpecLoader.load(files: [(path: "auth.yaml", contents: Array(yaml.utf8))])
        }
        let salt = "$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"
        #expect(load("$2b$12" + salt).isValid)
        #expect(load("$2b$14" + salt).isValid)
        let tooSlow = load("$2b$16" + salt)
        #expect(!tooSlow.isValid)
        let diagnostic = tooSlow.diagnostics.first
        #expect(diagnostic?.message.contains("has cost 16: each check would take about 9 s") == true, "\(tooSlow.diagnostics.map(\.rendered))")
        #expect(diagnostic?.hint?.contains("htpasswd -nbBC 12 ann PASSWORD") == true)
        #expect(diagnostic?.location.line == 7)
    }
}

import Foundation
import Testing
@testable import Reconciler
import Spec

@Suite struct HMACTests {
    /// RFC 4231 test cases 1, 2, 4 and 6 (key longer than the block).
    @Test(arguments: [
        ([UInt8](repeating: 0x0b, count: 20), Array("Hi There".utf8), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (Array("Jefe".utf8), Array("what do ya want for nothing?".utf8), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        (Array(1...25), [UInt8](repeating: 0xcd, count: 50), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        ([UInt8](repeating: 0xaa, count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    ] as [([UInt8], [UInt8], String)])
    func rfc4231(key: [UInt8], message: [UInt8], expected: String) {
        #expect(HMACSHA256.authenticationCode(key: key, message: message).hexString == expected)
    }

    @Test func constantTimeEqualityComparesWholeArrays() {
        #expect(constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!constantTimeEqual([1, 2, 3], [1, 2]))
        #expect(constantTimeEqual([], []))
    }
}

@Suite struct WebhookVerifierTests {
    static let secret = "It's a Secret to Everybody"
    static let body = Array("Hello, World!".utf8)
    static var signature: String { HMACSHA256.authenticationCode(key: Array(secret.utf8), message: body).hexString }

    @Test func githubsDocumentedExampleVerifies() {
        // The example GitHub documents for X-Hub-Signature-256.
        #expect(Self.signature == "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
        let verifier = WebhookVerifier(secret: Array((Self.secret + "\n").utf8))!
        #expect(verifier.verify(headers: [("x-hub-signature-256", "sha256=" + Self.signature)], body: Self.body) == .accepted(scheme: "hub-signature-256"))
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var headers: [(name: String, value: String)]
        var accepted: Bool
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "no signature", headers: [], accepted: false),
        Case(name: "hub signature without the sha256= prefix", headers: [("x-hub-signature-256", signature)], accepted: false),
        Case(name: "hub signature of another body", headers: [("x-hub-signature-256", "sha256=" + HMACSHA256.authenticationCode(key: Array(secret.utf8), message: Array("other".utf8)).hexString)], accepted: false),
        Case(name: "hub signature in upper case hex", headers: [("x-hub-signature-256", "sha256=" + signature.uppercased())], accepted: true),
        Case(name: "truncated hub signature", headers: [("x-hub-signature-256", "sha256=" + signature.dropLast(2))], accepted: false),
        Case(name: "gitea signature", headers: [("x-gitea-signature", signature)], accepted: true),
        Case(name: "gogs signature, wrong", headers: [("x-gogs-signature", String(repeating: "0", count: 64))], accepted: false),
        Case(name: "gitlab token", headers: [("x-gitlab-token", secret)], accepted: true),
        Case(name: "gitlab token with a trailing space", headers: [("x-gitlab-token", secret + " ")], accepted: false),
        Case(name: "a right token does not excuse a wrong signature",
             headers: [("x-gitlab-token", secret), ("x-hub-signature-256", "sha256=" + String(repeating: "0", count: 64))], accepted: false),
        Case(name: "the old SHA-1 header alone is not enough", headers: [("x-hub-signature", "sha1=0000")], accepted: false),
    ]

    @Test(arguments: cases)
    func verifies(_ example: Case) {
        let verifier = WebhookVerifier(secret: Array(Self.secret.utf8))!
        let verdict = verifier.verify(headers: example.headers, body: Self.body)
        if example.accepted {
            #expect(verdict != .rejected(reason: ""), "\(verdict)")
            if case .rejected = verdict { Issue.record("rejected: \(verdict)") }
        } else {
            guard case .rejected = verdict else { Issue.record("accepted: \(verdict)"); return }
        }
    }

    @Test func anEmptySecretIsRefused() {
        #expect(WebhookVerifier(secret: Array(" \n".utf8)) == nil)
    }

    @Test func pushesToOtherRefsDoNotConcernTheController() {
        #expect(WebhookVerifier.pushedRef(in: Array(#"{"ref":"refs/heads/main","x":1}"#.utf8)) == "refs/heads/main")
        #expect(WebhookVerifier.pushedRef(in: Array("not json".utf8)) == nil)
        #expect(WebhookVerifier.concerns(pushed: "refs/heads/main", watched: "main"))
        #expect(WebhookVerifier.concerns(pushed: "refs/tags/v1", watched: "v1"))
        #expect(!WebhookVerifier.concerns(pushed: "refs/heads/feature", watched: "main"))
        #expect(WebhookVerifier.concerns(pushed: "refs/heads/feature", watched: nil), "the default branch cannot be told from the payload")
        #expect(WebhookVerifier.concerns(pushed: nil, watched: "main"), "a ping or a payload without ref triggers a pass")
    }
}

@Suite struct RetryAndConditionTests {
    @Test func backoffDoublesUpToTheCapWithJitterInTheUpperHalf() {
        let policy = RetryPolicy(base: 2, maximum: 60)
        #expect(policy.delay(afterFailures: 1, jitter: 1) == 2)
        #expect(policy.delay(afterFailures: 2, jitter: 1) == 4)
        #expect(policy.delay(afterFailures: 5, jitter: 1) == 32)
        #expect(policy.delay(afterFailures: 6, jitter: 1) == 60)
        #expect(policy.delay(afterFailures: 100, jitter: 1) == 60)
        #expect(policy.delay(afterFailures: 3, jitter: 0) == 4)
        #expect(policy.delay(afterFailures: 3, jitter: 0.5) == 6)
    }

    static let alpha = Instance(name: "alpha", image: "app:1", ports: [.init(name: "http", containerPort: 80)], replicas: 1)
    static let beta = Instance(name: "beta", image: "app:1", ports: [.init(name: "http", containerPort: 80), .init(name: "admin", containerPort: 81)], replicas: 1)
    static let route = Route(name: "r", hosts: ["a.example.test"], to: .instance(name: "beta", port: "http"))

    /// Two ports for three leases: beta fails alone, alpha and the route converge, nothing of beta is leased.
    @Test func aResourceThatFailsAloneIsReportedAndLeftAsItWas() throws {
        let store = MemoryStateStore()
        let desired = DesiredState(resources: [.instance(Self.alpha), .instance(Self.beta), .route(Self.route)])
        let configuration = PlannerConfiguration(portRange: 20000...20001)
        let plan = Planner.plan(desired: desired, revision: "r1", origin: "t", observed: try store.observe(), configuration: configuration)
        let lease = try store.acquireLease(holder: "t", ttlMilliseconds: 10_000)
        let report = try Applier(store: store, configuration: configuration).apply(plan, lease: lease)
        #expect(report.failures.keys.map(\.description) == ["Instance/beta"])
        #expect(report.failures.values.first?.code == "ports-exhausted")
        #expect(store.ports.values.allSatisfy { $0.hasPrefix("Instance/alpha@") })
        #expect(store.ports.count == 1)
        let observed = try store.observe()
        #expect(observed.inventory[ResourceID(.instance, "beta")] == nil)
        #expect(observed.inventory[ResourceID(.instance, "alpha")] != nil)
        #expect(observed.inventory[ResourceID(.route, "r")] != nil)
        #expect(observed.generation == 1)

        let now = Date(timeIntervalSince1970: 1_000_000)
        let conditions = ConditionTracker.update([:], plan: plan, report: report, retry: RetryPolicy(base: 2, maximum: 60), now: now, jitter: { 1 })
        let failed = try #require(conditions[ResourceID(.instance, "beta")])
        #expect(failed.state == .failed)
        #expect(failed.failures == 1)
        #expect(failed.nextRetry == now.addingTimeInterval(2))
        #expect(conditions[ResourceID(.route, "r")]?.state == .ready)
        #expect(ConditionTracker.waiting(conditions, now: now.addingTimeInterval(1)) == [ResourceID(.instance, "beta")])
        #expect(ConditionTracker.waiting(conditions, now: now.addingTimeInterval(2.5)).isEmpty)

        // Held back while waiting: not attempted, condition unchanged.
        let again = Planner.plan(desired: desired, revision: "r1", origin: "t", observed: try store.observe(), configuration: configuration)
        let held = try Applier(store: store, configuration: configuration).apply(again, lease: lease, holdBack: [ResourceID(.instance, "beta")])
        #expect(held.failures.isEmpty)
        #expect(held.heldBack == [ResourceID(.instance, "beta")])
        let still = ConditionTracker.update(conditions, plan: again, report: held, retry: RetryPolicy(base: 2, maximum: 60), now: now.addingTimeInterval(1), jitter: { 1 })
        #expect(still[ResourceID(.instance, "beta")] == failed)

        // A second real failure doubles the delay and keeps `since`.
        let retried = try Applier(store: store, configuration: configuration).apply(again, lease: lease)
        let second = ConditionTracker.update(still, plan: again, report: retried, retry: RetryPolicy(base: 2, maximum: 60), now: now.addingTimeInterval(3), jitter: { 1 })
        #expect(second[ResourceID(.instance, "beta")]?.failures == 2)
        #expect(second[ResourceID(.instance, "beta")]?.since == now)
        #expect(second[ResourceID(.instance, "beta")]?.nextRetry == now.addingTimeInterval(3 + 4))
    }

    @Test func conditionsRoundTripThroughJSON() {
        let condition = ResourceCondition(state: .failed, reason: "ports-exhausted", message: "no port", since: Date(timeIntervalSince1970: 1_700_000_000.25),
                                          failures: 3, nextRetry: Date(timeIntervalSince1970: 1_700_000_010.5))
        #expect(ResourceCondition(json: condition.json) == condition)
    }
}

@Suite struct ControllerAPITests {
    func api(secret: String?) throws -> (ControllerAPI, Controller) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-api-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var configuration = ControllerConfiguration(repository: directory.path, ref: nil, redisURL: "redis://127.0.0.1:1/0", holder: "t")
        configuration.ref = "main"
        let controller = try Controller(configuration: configuration)
        return (ControllerAPI(controller: controller, verifier: secret.flatMap { WebhookVerifier(secret: Array($0.utf8)) }), controller)
    }

    @Test func routesAndMethods() throws {
        let (api, _) = try api(secret: nil)
        #expect(api.respond(method: "GET", target: "/healthz", headers: [], body: []).status == 200)
        #expect(api.respond(method: "GET", target: "/readyz", headers: [], body: []).status == 503, "not ready before a pass")
        #expect(api.respond(method: "GET", target: "/status?x=1", headers: [], body: []).contentType == "application/json")
        #expect(api.respond(method: "GET", target: "/metrics", headers: [], body: []).body.contains("# TYPE berth_controller_passes_total counter"))
        #expect(api.respond(method: "POST", target: "/status", headers: [], body: []).status == 405)
        #expect(api.respond(method: "GET", target: "/hooks/git", headers: [], body: []).status == 405)
        #expect(api.respond(method: "GET", target: "/nope", headers: [], body: []).status == 404)
        let disabled = api.respond(method: "POST", target: "/hooks/git", headers: [], body: [])
        #expect(disabled.status == 401)
        #expect(disabled.body.contains("--webhook-secret-file"))
    }

    @Test func webhookAnswers() throws {
        let (api, _) = try api(secret: "k")
        let body = Array(#"{"ref":"refs/heads/main"}"#.utf8)
        let signature = "sha256=" + HMACSHA256.authenticationCode(key: Array("k".utf8), message: body).hexString
        #expect(api.respond(method: "POST", target: "/hooks/git", headers: [], body: body).status == 401)
        #expect(api.respond(method: "POST", target: "/hooks/git", headers: [("x-hub-signature-256", signature)], body: body).status == 202)
        let other = Array(#"{"ref":"refs/heads/dev"}"#.utf8)
        let otherSignature = "sha256=" + HMACSHA256.authenticationCode(key: Array("k".utf8), message: other).hexString
        let ignored = api.respond(method: "POST", target: "/hooks/git", headers: [("x-hub-signature-256", otherSignature)], body: other)
        #expect(ignored.status == 202)
        #expect(ignored.body.contains("not the watched ref"))
        let metrics = api.metrics()
        #expect(metrics.contains(#"berth_controller_webhooks_total{result="accepted"} 1"#))
        #expect(metrics.contains(#"berth_controller_webhooks_total{result="rejected"} 1"#))
        #expect(metrics.contains(#"berth_controller_webhooks_total{result="ignored"} 1"#))
    }
}

@Suite struct TimestampTests {
    @Test(arguments: [0.0, 1_700_000_000.123, 1_700_000_000.999, 951_782_400.5, -1.25, 4_102_444_799.0])
    func matchesFoundationsFormatter(_ seconds: Double) {
        let date = Date(timeIntervalSince1970: seconds)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let truncated = Date(timeIntervalSince1970: (seconds * 1000).rounded(.down) / 1000)
        #expect(Timestamps.string(date) == formatter.string(from: truncated))
        #expect(Timestamps.date(Timestamps.string(date)).map { abs($0.timeIntervalSince(truncated)) < 0.0005 } == true)
    }
}

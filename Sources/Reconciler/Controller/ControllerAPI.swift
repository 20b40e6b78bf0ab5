import Foundation
import Spec

/// What the controller's listener answers: `/healthz`, `/readyz`, `/status` (JSON), `/metrics`
/// (Prometheus text) and `POST /hooks/git`. Free of sockets so it can be tested as a table.
public final class ControllerAPI: @unchecked Sendable {
    public struct Reply: Sendable, Equatable {
        public var status: Int
        public var contentType = "text/plain; charset=utf-8"
        public var headers: [(String, String)] = []
        public var body: String
        public static func == (a: Reply, b: Reply) -> Bool { a.status == b.status && a.body == b.body && a.contentType == b.contentType }
    }

    private let controller: Controller
    private let verifier: WebhookVerifier?
    private let watchedRef: String?
    private let lock = NSLock()
    private var webhooks: [String: Int] = [:]

    public init(controller: Controller, verifier: WebhookVerifier?) {
        self.controller = controller
        self.verifier = verifier
        self.watchedRef = controller.configuration.ref
    }

    /// `headers` with lower-case names; `target` is the request target (path and query).
    public func respond(method: String, target: String, headers: [(name: String, value: String)], body: [UInt8]) -> Reply {
        let path = target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? target
        switch (method, path) {
        case ("GET", "/healthz"), ("HEAD", "/healthz"):
            return Reply(status: 200, body: "ok\n")
        case ("GET", "/readyz"), ("HEAD", "/readyz"):
            let snapshot = controller.snapshot
            if snapshot.ready {
                return Reply(status: 200, body: snapshot.leader ? "ready: leading\n" : "ready: standby (\(snapshot.leaseHolder ?? "?") leads)\n")
            }
            return Reply(status: 503, body: "not ready: " + (snapshot.lastPass == nil ? "no pass has finished yet" : snapshot.lastPass?.error ?? snapshot.lastError ?? "last pass failed") + "\n")
        case ("GET", "/status"), ("HEAD", "/status"):
            // Ready resources are listed only when asked for (`/status?resources=all`).
            let all = target.contains("resources=all")
            return Reply(status: 200, contentType: "application/json", body: controller.snapshot.json(allResources: all).prettyString + "\n")
        case ("GET", "/metrics"), ("HEAD", "/metrics"):
            return Reply(status: 200, contentType: "text/plain; version=0.0.4", body: metrics())
        case ("GET", "/"), ("HEAD", "/"):
            return Reply(status: 200, body: index())
        case ("POST", "/hooks/git"):
            return webhook(headers: headers, body: body)
        case (_, "/hooks/git"):
            return Reply(status: 405, headers: [("allow", "POST")], body: "use POST for /hooks/git\n")
        case (_, "/healthz"), (_, "/readyz"), (_, "/status"), (_, "/metrics"), (_, "/"):
            return Reply(status: 405, headers: [("allow", "GET, HEAD")], body: "use GET for \(path)\n")
        default:
            return Reply(status: 404, body: "not found: try /status, /metrics, /healthz, /readyz or POST /hooks/git\n")
        }
    }

    private func webhook(headers: [(name: String, value: String)], body: [UInt8]) -> Reply {
        guard let verifier else {
            count("rejected")
            return Reply(status: 401, body: "webhooks are disabled: start the controller with --webhook-secret-file\n")
        }
        switch verifier.verify(headers: headers, body: body) {
        case .rejected(let reason):
            count("rejected")
            return Reply(status: 401, body: "rejected: \(reason)\n")
        case .accepted(let scheme):
            let pushed = WebhookVerifier.pushedRef(in: body)
            guard WebhookVerifier.concerns(pushed: pushed, watched: watchedRef) else {
                count("ignored")
                return Reply(status: 202, contentType: "application/json",
                             body: JSONValue.object(["triggered": .bool(false), "reason": .string("push to \(pushed!) is not the watched ref \(watchedRef!)")]).canonicalString + "\n")
            }
            count("accepted")
            let reason = "webhook" + (pushed.map { " (\($0))" } ?? "")
            controller.trigger(reason)
            if !controller.snapshot.leader { controller.forwardToLeader(reason) }
            return Reply(status: 202, contentType: "application/json",
                         body: JSONValue.object(["triggered": .bool(true), "verified_by": .string(scheme)]).canonicalString + "\n")
        }
    }

    private func count(_ result: String) { lock.withLock { webhooks[result, default: 0] += 1 } }

    private func index() -> String {
        let snapshot = controller.snapshot
        var text = "berth controller \(snapshot.holder): \(snapshot.leader ? "leading" : "standby")"
        if let revision = snapshot.revision { text += ", revision \(PlanRenderer.shortRevision(revision)) (generation \(snapshot.generation))" }
        text += "\n\nGET /status    this controller's state as JSON (?resources=all lists Ready ones too)\nGET /metrics   Prometheus metrics\nGET /healthz, /readyz\nPOST /hooks/git  push webhook (signed)\n"
        return text
    }

    func metrics() -> String {
        let snapshot = controller.snapshot
        let hooks = lock.withLock { webhooks }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for sample in samples { out += "\(name)\(sample.labels) \(sample.value)\n" }
        }
        family("berth_controller_passes_total", "counter", "Reconcile passes by outcome.",
               PassRecord.Outcome.allCases.map { ("{outcome=\"\($0.rawValue)\"}", String(snapshot.passesByOutcome[$0] ?? 0)) })
        family("berth_controller_pass_seconds_total", "counter", "Time spent in passes.", [("", String(snapshot.passSeconds))])
        family("berth_controller_last_pass_seconds", "gauge", "Duration of the last pass.", [("", String(snapshot.lastPass?.duration ?? 0))])
        family("berth_controller_resource_failures_total", "counter", "Resources that failed to apply (each attempt).",
               [("", String(snapshot.resourceFailures))])
        family("berth_controller_resources", "gauge", "Resources by condition.",
               ResourceCondition.State.allCases.map { state in ("{condition=\"\(state.rawValue)\"}", String(snapshot.conditions.values.filter { $0.state == state }.count)) })
        family("berth_controller_leader", "gauge", "1 when this controller holds the apply lease.", [("", snapshot.leader ? "1" : "0")])
        family("berth_controller_lease_holder_info", "gauge", "Who holds the apply lease, as last seen.",
               [("{holder=\"\(escape(snapshot.leaseHolder ?? ""))\"}", "1")])
        family("berth_controller_generation", "gauge", "Route table generation live after the last pass.", [("", String(snapshot.generation))])
        family("berth_controller_invalid_revision", "gauge", "1 while the newest revision does not validate.", [("", snapshot.invalid == nil ? "0" : "1")])
        family("berth_controller_webhooks_total", "counter", "Webhook deliveries by result.",
               ["accepted", "ignored", "rejected"].map { ("{result=\"\($0)\"}", String(hooks[$0] ?? 0)) })
        return out
    }

    private func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}

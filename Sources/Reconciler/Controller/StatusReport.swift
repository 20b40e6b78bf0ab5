import Foundation
import RedisClient
import Spec

/// Everything `berth status` shows, read from Redis in one go: what the controller recorded, who
/// holds the lease, and each proxy replica's heartbeat.
public struct StatusReport: Sendable {
    public struct Replica: Sendable, Equatable {
        public var id: String
        public var generation: Int?
        public var revision: String?
        public var lastError: String?
        public var startedAt: String?
        public var seenAt: Date?
        public var host: String?
    }

    public var fields: [String: String]
    public var liveGeneration: Int
    public var leaseHolder: String?
    public var leaseExpiresInMilliseconds: Int?
    public var resources: [(id: String, condition: ResourceCondition)]
    public var diagnostics: [JSONValue]
    public var replicas: [Replica]

    /// Reads the report (a handful of round trips; SCAN for heartbeats).
    public static func read(_ connection: RedisConnection, prefix: String) throws -> StatusReport {
        let keys = RedisKeys(prefix: prefix)
        let replies = try connection.pipeline([["HGETALL", keys.status], ["GET", keys.routeTableGeneration],
                                               ["GET", keys.applyLease], ["PTTL", keys.applyLease]])
        var fields: [String: String] = [:]
        let flat = replies[0].array ?? []
        for index in stride(from: 0, to: flat.count - 1, by: 2) {
            if let key = flat[index].string { fields[key] = flat[index + 1].string ?? "" }
        }
        let lease = replies[2].string.flatMap { try? JSONValue.parse($0) }
        var report = StatusReport(fields: fields, liveGeneration: replies[1].string.flatMap { Int($0) } ?? 0,
                                  leaseHolder: lease?["holder"]?.stringValue,
                                  leaseExpiresInMilliseconds: lease == nil ? nil : replies[3].integer.map(Int.init),
                                  resources: [], diagnostics: [], replicas: [])
        if let text = fields["resources"], !text.isEmpty, let object = (try? JSONValue.parse(text))?.objectValue {
            report.resources = object.compactMap { key, value in ResourceCondition(json: value).map { (key, $0) } }.sorted { $0.id < $1.id }
        }
        if let text = fields["diagnostics"], !text.isEmpty { report.diagnostics = (try? JSONValue.parse(text))?.arrayValue ?? [] }

        let heartbeatKeys = try Self.heartbeatKeys(connection, prefix: prefix)
        if !heartbeatKeys.isEmpty {
            let hashes = try connection.pipeline(heartbeatKeys.sorted().map { ["HGETALL", $0] })
            for (key, hash) in zip(heartbeatKeys.sorted(), hashes) {
                var values: [String: String] = [:]
                let items = hash.array ?? []
                for index in stride(from: 0, to: items.count - 1, by: 2) { if let k = items[index].string { values[k] = items[index + 1].string ?? "" } }
                guard !values.isEmpty else { continue }
                func nonEmpty(_ k: String) -> String? { values[k].flatMap { $0.isEmpty ? nil : $0 } }
                report.replicas.append(Replica(id: String(key.dropFirst(prefix.count + "proxy:".count)), generation: nonEmpty("generation").flatMap { Int($0) },
                                               revision: nonEmpty("revision"), lastError: nonEmpty("last_error"), startedAt: nonEmpty("started_at"),
                                               seenAt: nonEmpty("seen_at").flatMap(Timestamps.date), host: nonEmpty("host")))
            }
        }
        return report
    }

    /// Every proxy heartbeat key (`<prefix>proxy:*`; they expire when a replica dies), by SCAN.
    static func heartbeatKeys(_ connection: RedisConnection, prefix: String) throws -> [String] {
        var cursor = "0"
        var keys: [String] = []
        repeat {
            let reply = try connection.send(["SCAN", cursor, "MATCH", prefix + "proxy:*", "COUNT", "500"])
            let parts = reply.array ?? []
            cursor = parts.first?.string ?? "0"
            keys += (parts.count > 1 ? parts[1].array ?? [] : []).compactMap(\.string)
        } while cursor != "0"
        return keys
    }

    public var liveReplicas: [Replica] { replicas.filter { $0.generation == liveGeneration && liveGeneration > 0 } }

    public func json(now: Date = Date()) -> JSONValue {
        func field(_ name: String) -> JSONValue { fields[name].flatMap { $0.isEmpty ? nil : JSONValue.string($0) } ?? .null }
        var lease: [String: JSONValue] = ["holder": leaseHolder.map(JSONValue.string) ?? .null]
        if let leaseExpiresInMilliseconds { lease["expires_in_ms"] = .int(leaseExpiresInMilliseconds) }
        // Set while an apply runs, and left behind by one that was cut off (the next pass finishes it).
        var applying = JSONValue.null
        if let value = fields["applying_revision"], !value.isEmpty, value != fields["revision"] { applying = .string(value) }
        return .object([
            "revision": field("revision"), "origin": field("origin"), "applied_at": field("applied_at"),
            "applying_revision": applying,
            "generation": .int(liveGeneration),
            "last_pass": .object([
                "sequence": fields["pass_sequence"].flatMap { Int($0) }.map(JSONValue.int) ?? .null,
                "outcome": field("pass_outcome"), "at": field("pass_at"), "trigger": field("pass_trigger"),
                "duration_ms": fields["pass_ms"].flatMap { Int($0) }.map(JSONValue.int) ?? .null,
                "revision": field("pass_revision"), "error": field("pass_error"), "controller": field("controller"),
                "changes": fields["pass_changes"].flatMap { try? JSONValue.parse($0) } ?? .array([]),
            ]),
            "invalid_revision": field("invalid_revision"),
            "diagnostics": .array(diagnostics),
            "resources": .array(resources.map { item in
                var object = item.condition.json.objectValue ?? [:]
                object["id"] = .string(item.id)
                return .object(object)
            }),
            "lease": .object(lease),
            "proxies": .object([
                "live": .int(liveReplicas.count), "total": .int(replicas.count),
                "replicas": .array(replicas.map { replica in
                    .object([
                        "id": .string(replica.id), "generation": replica.generation.map(JSONValue.int) ?? .null,
                        "revision": replica.revision.map(JSONValue.string) ?? .null,
                        "live": .bool(replica.generation == liveGeneration && liveGeneration > 0),
                        "last_error": replica.lastError.map(JSONValue.string) ?? .null,
                        "seen_seconds_ago": replica.seenAt.map { .int(Int(now.timeIntervalSince($0).rounded())) } ?? .null,
                    ])
                }),
            ]),
        ])
    }

    /// Failed and Progressing resources are always listed; Ready ones only with `allResources`
    /// or when there are few.
    public func text(now: Date = Date(), allResources: Bool = false) -> String {
        var lines: [String] = []
        func short(_ revision: String?) -> String { revision.map(PlanRenderer.shortRevision) ?? "?" }
        func ago(_ stamp: String?) -> String {
            guard let stamp, let date = Timestamps.date(stamp) else { return "" }
            let seconds = Int(now.timeIntervalSince(date).rounded())
            return seconds < 120 ? " (\(seconds)s ago)" : seconds < 7200 ? " (\(seconds / 60)m ago)" : " (\(seconds / 3600)h ago)"
        }
        if let revision = fields["revision"], !revision.isEmpty {
            lines.append("Revision \(short(revision)) applied \(fields["applied_at"] ?? "?")\(ago(fields["applied_at"])); route table generation \(liveGeneration).")
            if let origin = fields["origin"], !origin.isEmpty { lines.append("  from \(origin)") }
            if let applying = fields["applying_revision"], !applying.isEmpty, applying != revision {
                lines.append("  revision \(short(applying)) is being applied, or its apply was cut off (the next pass finishes it)")
            }
        } else {
            lines.append("Nothing has been applied yet (no status in Redis). Start `berth controller` or run `berth apply`.")
        }
        if let outcome = fields["pass_outcome"], !outcome.isEmpty {
            var line = "Last pass #\(fields["pass_sequence"] ?? "?") \(fields["pass_at"] ?? "")\(ago(fields["pass_at"])) by \(fields["controller"] ?? "?")"
            line += " (trigger: \(fields["pass_trigger"] ?? "?"), \(fields["pass_ms"] ?? "?") ms): \(outcome)"
            lines.append(line + ".")
            if let error = fields["pass_error"], !error.isEmpty { lines.append("  \(error)") }
            for change in (fields["pass_changes"].flatMap { try? JSONValue.parse($0) }?.arrayValue ?? []).compactMap(\.stringValue) {
                lines.append("  \(change)")
            }
        }
        let invalidRevision = fields["invalid_revision"] ?? ""
        if !invalidRevision.isEmpty {
            lines.append("")
            lines.append("Revision \(short(invalidRevision)) is NOT applied: it does not validate. Fix and push again:")
        } else if !diagnostics.isEmpty {
            lines.append("")
            let read = fields["pass_revision"].flatMap { $0.isEmpty ? nil : $0 } ?? fields["revision"]
            lines.append("Revision \(short(read)) validates with \(diagnostics.count) warning\(diagnostics.count == 1 ? "" : "s") (warnings do not stop it):")
        }
        for diagnostic in diagnostics {
            let file = diagnostic["file"]?.stringValue ?? "?"
            let line = diagnostic["line"]?.intValue.map(String.init) ?? "?"
            let column = diagnostic["column"]?.intValue.map(String.init) ?? "?"
            lines.append("  \(file):\(line):\(column): \(diagnostic["severity"]?.stringValue ?? "error"): \(diagnostic["message"]?.stringValue ?? "")")
            if let hint = diagnostic["hint"]?.stringValue { lines.append("    hint: \(hint)") }
        }
        if !resources.isEmpty {
            lines.append("")
            let counts = ResourceCondition.State.allCases.map { state in "\(resources.filter { $0.condition.state == state }.count) \(state.rawValue)" }
            lines.append("Resources (\(resources.count)): " + counts.joined(separator: ", ") + ".")
            let order: [ResourceCondition.State: Int] = [.failed: 0, .progressing: 1, .ready: 2]
            let listReady = allResources || resources.count <= 50
            for item in resources.sorted(by: { (order[$0.condition.state]!, $0.id) < (order[$1.condition.state]!, $1.id) })
            where listReady || item.condition.state != .ready {
                let condition = item.condition
                var line = "  " + condition.state.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0) + item.id + "  " + condition.reason
                line += " since \(Timestamps.string(condition.since))"
                if let next = condition.nextRetry { line += "; retry #\(condition.failures + 1) at \(Timestamps.string(next))" }
                lines.append(line)
                if condition.state != .ready, !condition.message.isEmpty { lines.append("      \(condition.message)") }
            }
            if !listReady { lines.append("  (Ready resources are not listed; --all lists them.)") }
        }
        lines.append("")
        if replicas.isEmpty {
            lines.append("Proxies: no berth-proxy heartbeat in Redis.")
        } else {
            let revision = replicas.first { $0.generation == liveGeneration }?.revision ?? fields["revision"]
            lines.append("Proxies: generation \(liveGeneration) (revision \(short(revision))) live on \(liveReplicas.count)/\(replicas.count) proxies.")
            for replica in replicas {
                let live = replica.generation == liveGeneration && liveGeneration > 0
                var line = "  \(replica.id): generation \(replica.generation.map(String.init) ?? "none")"
                if !live { line += " — STALE" }
                if let seen = replica.seenAt { line += ", heartbeat \(Int(now.timeIntervalSince(seen).rounded()))s ago" }
                if let error = replica.lastError { line += ", last error: \(error)" }
                lines.append(line)
            }
        }
        if let holder = leaseHolder {
            lines.append("Lease: held by \(holder)" + (leaseExpiresInMilliseconds.map { ", renewed or expiring within \($0 / 1000)s" } ?? "") + ".")
        } else {
            lines.append("Lease: free (no controller is applying).")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

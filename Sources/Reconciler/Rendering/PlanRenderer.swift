import Spec

/// Formats a plan; it decides nothing. Text for people (grouped by kind, then by host), JSON for
/// machines (`format_version` 1.0).
public struct PlanRenderer: Sendable {
    public var color: Bool
    /// A line describing where state lives, e.g. `redis://127.0.0.1:6379/0 (prefix berth:)`.
    public var stateDescription: String

    public init(color: Bool = false, stateDescription: String = "") {
        self.color = color
        self.stateDescription = stateDescription
    }

    func paint(_ text: String, _ action: Action) -> String {
        guard color else { return text }
        let code: String
        switch action {
        case .create: code = "32"
        case .update: code = "33"
        case .replace: code = "35"
        case .delete: code = "31"
        case .noop: return text
        }
        return "\u{1B}[\(code)m\(text)\u{1B}[0m"
    }

    func bold(_ text: String) -> String { color ? "\u{1B}[1m\(text)\u{1B}[0m" : text }

    public static func shortRevision(_ revision: String) -> String {
        revision.hasPrefix("dir:") ? "dir:" + revision.dropFirst(4).prefix(12) : String(revision.prefix(12))
    }

    // MARK: Text

    public func text(_ plan: Plan) -> String {
        var out: [String] = []
        out.append(bold("Berth plan for revision \(Self.shortRevision(plan.revision))") + " (\(plan.origin))")
        if !stateDescription.isEmpty {
            out.append("State: \(stateDescription); route table generation \(plan.routeTable.observedGeneration)")
        }
        out.append("")
        let changed = plan.changes.filter { $0.action != .noop }
        if changed.isEmpty {
            out.append("Resources: all \(plan.changes.count) up to date.")
        }
        for kind in Kind.allCases.sorted() {
            let items = changed.filter { $0.id.kind == kind }
            guard !items.isEmpty else { continue }
            out.append(bold(kind.plural))
            for change in items {
                out.append("  " + paint("\(change.action.symbol) \(change.id.name)", change.action) + "  (\(change.action.rawValue))")
                if let after = change.after, change.action == .create { out.append("      " + summary(of: change.id.kind, after)) }
                for reason in change.reasons where !(change.action == .create && reason.code == "new") {
                    out.append("      \(reason.message)")
                }
                if change.action == .create, let reason = change.reasons.first(where: { $0.code == "new" }) {
                    out.append("      \(reason.message)")
                }
                if let rollout = Self.rollout(of: change) { out.append("      rollout: \(rollout)") }
                for note in change.pending { out.append("      ! \(note)") }
            }
            out.append("")
        }
        if !plan.replicas.isEmpty || !plan.conflicts.isEmpty {
            out.append(bold("Replicas"))
            out += Self.replicaLines(plan).map { "  " + $0 }
            out += plan.conflicts.map { "  ! \($0.message)" }
            out.append("")
        }

        let certificateChanges = plan.certificates.filter { $0.action != .keep }
        if !certificateChanges.isEmpty {
            out.append(bold("Certificates"))
            for change in certificateChanges {
                let action: Action = change.action == .issue ? .create : change.action == .remove ? .delete : .update
                var line = "  " + paint("\(change.action.symbol) \(change.name)", action) + "  (\(change.action.rawValue))"
                if let source = change.source, change.action != .remove {
                    line += "  \(source.rawValue) for \(change.hosts.joined(separator: ", "))"
                    if let directory = change.directory { line += " from \(directory)" }
                }
                out.append(line)
                if let reason = change.reason { out.append("      \(reason.message)") }
                if let current = change.current {
                    out.append("      current: serial \(current.serial), sha256 \(current.fingerprint.prefix(16))…, expires \(CertificateMetadata.rfc3339(current.notAfter))")
                }
                for note in change.pending { out.append("      ! \(note)") }
            }
            out.append("")
        }

        let portChanges = plan.ports.filter { $0.kind != .keep }
        if !portChanges.isEmpty {
            out.append(bold("Port leases"))
            for change in portChanges {
                let action: Action = change.kind == .allocate ? .create : .delete
                let owner = PortOwner(change.owner).map { "\($0.instance) replica \($0.replica) port \($0.port)" } ?? change.owner
                out.append("  " + paint("\(action.symbol) \(change.port)", action) + "  \(owner)" + (change.reason.map { " — \($0)" } ?? ""))
            }
            out.append("")
        }

        let diff = RouteTableDiff(before: plan.routeTable.before, after: plan.routeTable.after)
        let changedHosts = diff.hosts.filter { $0.action != .noop }
        if !changedHosts.isEmpty {
            out.append(bold("Route table by host, after this apply"))
            for host in changedHosts {
                var header = "  " + paint("\(host.action.symbol) \(host.host)", host.action)
                if let entry = host.entry, host.action != .delete {
                    header += "  [" + (entry.domain.map { "Domain \($0), " } ?? "") + "tls \(entry.tls.rawValue)"
                        + (entry.redirectHTTP ? ", http→https" : "") + "]"
                }
                out.append(header)
                if host.lines.isEmpty { out.append("      (no routes: 404 for every path)") }
                let width = min(40, host.lines.map { $0.entry.path.count }.max() ?? 0)
                let methodWidth = host.lines.map { $0.entry.methods.isEmpty ? 3 : $0.entry.methods.joined(separator: ",").count }.max() ?? 3
                for line in host.lines {
                    out.append("    " + paint(routeLine(line, pathWidth: width, methodWidth: methodWidth), line.action))
                }
            }
            let unchanged = diff.hosts.count - changedHosts.count
            if unchanged > 0 { out.append("  (\(unchanged) other host\(unchanged == 1 ? "" : "s") unchanged)") }
            out.append("")
        }
        out += authImpactText(plan.authImpact)
        switch plan.routeTable.action {
        case .noop:
            out.append("Route table: unchanged at generation \(plan.routeTable.observedGeneration).")
        default:
            let reasons = plan.routeTable.reasons.map(\.message).joined(separator: "; ")
            out.append("Route table: " + paint("publish generation \(plan.routeTable.observedGeneration + 1)", plan.routeTable.action)
                       + " (\(reasons)).")
        }
        let pendingDomains = plan.changes.filter { $0.id.kind == .domain && !$0.pending.isEmpty }.count
        let pendingInstances = plan.changes.filter { $0.id.kind == .instance && !$0.pending.isEmpty }.count
        if pendingDomains + pendingInstances > 0 {
            var parts: [String] = []
            if pendingDomains > 0 {
                let why = plan.changes.first { $0.id.kind == .domain && !$0.pending.isEmpty }?.pending.first?.hasPrefix("no ACME directory") == true
                    ? "no ACME directory configured" : "no certificate issuer configured"
                parts.append("certificates for \(pendingDomains) domain\(pendingDomains == 1 ? "" : "s") (\(why))")
            }
            if pendingInstances > 0 { parts.append("\(pendingInstances) instance\(pendingInstances == 1 ? "" : "s") not started (no container runtime configured)") }
            out.append("Pending: " + parts.joined(separator: "; ") + ".")
        }
        if plan.authImpact.hasExposure { out.append(exposureSummary(plan.authImpact)) }
        out.append("")
        let summary = plan.summary
        out.append(bold("Plan: \(summary.add) to add, \(summary.change) to change, \(summary.destroy) to destroy."))
        return out.joined(separator: "\n") + "\n"
    }

    func routeLine(_ line: RouteTableDiff.Line, pathWidth: Int, methodWidth: Int) -> String {
        let entry = line.entry
        let methods = entry.methods.isEmpty ? "any" : entry.methods.joined(separator: ",")
        func pad(_ text: String, _ width: Int) -> String { text.count >= width ? text : text + String(repeating: " ", count: width - text.count) }
        var text = "\(line.action == .noop ? " " : line.action.symbol) \(pad(entry.path, pathWidth))  \(pad(entry.pathType.rawValue, 6))  \(pad(methods, methodWidth))"
        text += "  → \(RouteTableDiff.describe(entry.upstream))"
        if entry.priority != 0 { text += "  priority \(entry.priority)" }
        if entry.stripPrefix { text += "  strip-prefix" }
        text += "  auth: \(entry.auth ?? "none")"
        text += "  (route \(entry.route))"
        return text
    }

    func summary(of kind: Kind, _ spec: JSONValue) -> String {
        func list(_ value: JSONValue?) -> String { value?.arrayValue?.compactMap(\.stringValue).joined(separator: ", ") ?? "" }
        switch kind {
        case .domain:
            return "hosts \(list(spec["hosts"])) · tls \(spec["tls"]?.stringValue ?? "?")" + (spec["redirectHTTP"]?.boolValue == true ? " · http→https" : "")
        case .route:
            let hosts = spec["domain"]?.stringValue.map { "domain \($0)" } ?? list(spec["hosts"])
            let target = spec["to"]?["url"]?.stringValue
                ?? "instance \(spec["to"]?["instance"]?.stringValue ?? "?")" + (spec["to"]?["port"]?.stringValue.map { ":\($0)" } ?? "")
            return "\(hosts) \(spec["path"]?.stringValue ?? "/") (\(spec["pathType"]?.stringValue ?? "prefix")) → \(target)"
                + (spec["auth"]?.stringValue.map { " · auth \($0)" } ?? "")
        case .authPolicy:
            var parts: [String] = []
            if let tokens = spec["bearer"]?["tokens"]?.arrayValue {
                parts.append("bearer: " + tokens.map { "\($0["name"]?.stringValue ?? "?") sha256:\(($0["sha256"]?.stringValue ?? "").prefix(12))…" }.joined(separator: ", "))
            }
            if let users = spec["basic"]?["users"]?.arrayValue {
                parts.append("basic: " + users.compactMap { $0["name"]?.stringValue }.joined(separator: ", "))
            }
            if let jwt = spec["jwt"] { parts.append("jwt: issuer \(jwt["issuer"]?.stringValue ?? "?"), audiences \(list(jwt["audiences"]))") }
            if let forward = spec["forward"] { parts.append("forward: \(forward["url"]?.stringValue ?? "?")") }
            let allow = list(spec["ipAllow"])
            if !allow.isEmpty { parts.append("ipAllow: \(allow)") }
            if let headers = spec["identityHeaders"] {
                let named = [("user", headers["user"]), ("scopes", headers["scopes"])].compactMap { key, value in value?.stringValue.map { "\(key) \($0)" } }
                parts.append("identity headers: " + named.joined(separator: ", "))
            }
            return parts.joined(separator: " · ")
        case .instance:
            let runtime = spec["runtime"]?.stringValue ?? "docker"
            let what = runtime == "docker" ? (spec["image"]?.stringValue ?? "?") : "`\(list(spec["command"]).replacingOccurrences(of: ", ", with: " "))`"
            let ports = spec["ports"]?.arrayValue?.compactMap { $0["name"]?.stringValue }.joined(separator: ", ") ?? ""
            return "\(runtime) \(what) · \(spec["replicas"]?.intValue ?? 1) replica(s)" + (ports.isEmpty ? "" : " · ports \(ports)")
        }
    }

    // MARK: JSON

    public func json(_ plan: Plan) -> JSONValue {
        let diff = RouteTableDiff(before: plan.routeTable.before, after: plan.routeTable.after)
        let summary = plan.summary
        return .object([
            "format_version": .string(Plan.formatVersion),
            "revision": .string(plan.revision),
            "origin": .string(plan.origin),
            "state": .object(["fingerprint": .string(plan.stateFingerprint), "generation": .int(plan.routeTable.observedGeneration)]),
            "changes": .array(plan.changes.map { change in
                var object: [String: JSONValue] = [
                    "id": .string(change.id.description), "kind": .string(change.id.kind.rawValue), "name": .string(change.id.name),
                    "action": .string(change.action.rawValue),
                    "reasons": .array(change.reasons.map { .object(["code": .string($0.code), "message": .string($0.message)]) }),
                    "before": change.before ?? .null, "after": change.after ?? .null,
                ]
                if !change.pending.isEmpty { object["pending"] = .array(change.pending.map(JSONValue.string)) }
                if let rollout = Self.rollout(of: change) { object["rollout"] = .string(rollout) }
                return .object(object)
            }),
            "replicas": .array(plan.replicas.map(Self.replicaJSON)),
            "conflicts": .array(plan.conflicts.map { .object(["code": .string($0.code), "message": .string($0.message)]) }),
            "ports": .array(plan.ports.map { change in
                var object: [String: JSONValue] = ["owner": .string(change.owner), "port": .int(change.port), "action": .string(change.kind.rawValue)]
                if let reason = change.reason { object["reason"] = .string(reason) }
                return .object(object)
            }),
            "route_table": .object([
                "action": .string(plan.routeTable.action.rawValue),
                "reasons": .array(plan.routeTable.reasons.map { .object(["code": .string($0.code), "message": .string($0.message)]) }),
                "generation_before": .int(plan.routeTable.observedGeneration),
                "generation_after": .int(plan.routeTable.after.generation),
                "content_hash": .string(plan.routeTable.after.contentHash),
                "hosts": .array(diff.hosts.map { host in
                    .object([
                        "host": .string(host.host), "action": .string(host.action.rawValue),
                        "routes": .array(host.lines.map { line in
                            var object: [String: JSONValue] = [
                                "action": .string(line.action.rawValue), "route": .string(line.entry.route),
                                "path": .string(line.entry.path), "path_type": .string(line.entry.pathType.rawValue),
                                "methods": .array(line.entry.methods.map(JSONValue.string)), "priority": .int(line.entry.priority),
                                "upstream": .string(RouteTableDiff.describe(line.entry.upstream)),
                            ]
                            object["auth"] = line.entry.auth.map(JSONValue.string) ?? .null
                            return .object(object)
                        }),
                    ])
                }),
            ]),
            "certificates": .array(plan.certificates.map { change in
                var object: [String: JSONValue] = [
                    "name": .string(change.name), "action": .string(change.action.rawValue),
                    "hosts": .array(change.hosts.map(JSONValue.string)),
                ]
                if let reason = change.reason { object["reason"] = .object(["code": .string(reason.code), "message": .string(reason.message)]) }
                if let source = change.source { object["source"] = .string(source.rawValue) }
                if let directory = change.directory { object["directory"] = .string(directory) }
                if let email = change.email { object["email"] = .string(email) }
                if let current = change.current {
                    // Metadata only: the key never leaves Redis.
                    object["current"] = .object([
                        "sans": .array(current.sans.map(JSONValue.string)), "not_before": .string(CertificateMetadata.rfc3339(current.notBefore)),
                        "not_after": .string(CertificateMetadata.rfc3339(current.notAfter)), "issuer": .string(current.issuer),
                        "serial": .string(current.serial), "fingerprint": .string(current.fingerprint), "source": .string(current.source.rawValue),
                    ])
                }
                if !change.pending.isEmpty { object["pending"] = .array(change.pending.map(JSONValue.string)) }
                return .object(object)
            }),
            "auth_impact": .array(plan.authImpact.paths.map(authImpactJSON)),
            "auth_policies_weakened": .array(plan.authImpact.weakenedPolicies.map { policy in
                .object(["name": .string(policy.name), "reasons": .array(policy.reasons.map(JSONValue.string)), "paths": .int(policy.paths)])
            }),
            "summary": .object(["add": .int(summary.add), "change": .int(summary.change), "destroy": .int(summary.destroy),
                                "exposures": .int(plan.authImpact.exposures.count)]),
            "has_changes": .bool(plan.hasChanges),
        ])
    }
}

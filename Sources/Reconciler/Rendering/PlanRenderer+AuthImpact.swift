import Spec

/// The auth-impact part of a plan: per host, each path whose guard changes. Route-level changes
/// are listed in full (they grow with the change); paths behind a policy that was weakened in
/// place grow with how widely the policy is used, so text shows a few per policy and the JSON
/// plan lists them all.
extension PlanRenderer {
    /// Paths shown per weakened policy in text before the rest are counted.
    static let weakenedPathsShown = 5

    func authImpactText(_ impact: AuthImpact) -> [String] {
        guard !impact.paths.isEmpty else { return [] }
        var out = [bold("Auth impact by host (who may reach each path whose guard changes)")]
        var shownPerPolicy: [String: Int] = [:]
        var hiddenPerPolicy: [String: Int] = [:]
        var hosts: [(host: String, lines: [AuthImpact.PathImpact], unserved: Int)] = []
        for path in impact.paths {
            if hosts.last?.host != path.host { hosts.append((path.host, [], 0)) }
            if path.kind == .unserved {
                hosts[hosts.count - 1].unserved += 1
                continue
            }
            if path.kind == .weakened, let name = path.before?.auth, name == path.after?.auth {
                guard shownPerPolicy[name, default: 0] < Self.weakenedPathsShown else {
                    hiddenPerPolicy[name, default: 0] += 1
                    continue
                }
                shownPerPolicy[name, default: 0] += 1
            }
            hosts[hosts.count - 1].lines.append(path)
        }
        for host in hosts where !host.lines.isEmpty || host.unserved > 0 {
            out.append("  \(host.host)")
            let width = min(40, host.lines.map { label($0).count }.max() ?? 0)
            for path in host.lines {
                // The same policy on both sides reads as one state; the reason says what weakened it.
                let change = path.kind == .weakened && path.before?.auth == path.after?.auth
                    ? "\(describe(path.before, after: false)), weakened" : "\(describe(path.before, after: false)) → \(describe(path.after, after: true))"
                let text = "\(pad(label(path), width))  \(change)"
                    + (path.exposure ? "  ⚠ exposure" : "") + "  (\(path.reasons.joined(separator: "; ")))"
                let action: Action = path.exposure ? .delete : path.kind == .guarded ? .create : .update
                out.append("    " + paint(text, action))
            }
            if host.unserved > 0 {
                out.append("    (\(host.unserved) guarded path\(host.unserved == 1 ? "" : "s") no longer served: 404)")
            }
        }
        for policy in impact.weakenedPolicies {
            var line = "  ⚠ policy \(policy.name) is weaker (\(policy.reasons.joined(separator: "; "))); it guards \(policy.paths) path\(policy.paths == 1 ? "" : "s")"
            if let hidden = hiddenPerPolicy[policy.name] { line += ", \(hidden) not shown above (the JSON plan lists every one)" }
            out.append(line)
        }
        out.append("")
        return out
    }

    /// The closing line of a plan with exposures.
    func exposureSummary(_ impact: AuthImpact) -> String {
        let exposures = impact.exposures
        let hosts = Set(exposures.map(\.host)).count
        let publicCount = exposures.filter { $0.kind == .becamePublic }.count
        return "Exposure: ⚠ \(exposures.count) path\(exposures.count == 1 ? "" : "s") on \(hosts) host\(hosts == 1 ? "" : "s")"
            + " (\(publicCount) made public, \(exposures.count - publicCount) behind a weaker policy); `berth plan --fail-on-exposure` fails on this plan."
    }

    func authImpactJSON(_ path: AuthImpact.PathImpact) -> JSONValue {
        func serving(_ value: AuthImpact.Serving?) -> JSONValue {
            guard let value else { return .null }
            return .object(["route": .string(value.route), "auth": value.auth.map(JSONValue.string) ?? .null])
        }
        return .object([
            "host": .string(path.host), "path": .string(path.path), "path_type": .string(path.pathType.rawValue),
            "methods": .array(path.methods.map(JSONValue.string)), "route": .string(path.route),
            "before": serving(path.before), "after": serving(path.after),
            "kind": .string(path.kind.rawValue), "exposure": .bool(path.exposure), "reason": .string(path.reasons.joined(separator: "; ")),
        ])
    }

    private func label(_ path: AuthImpact.PathImpact) -> String {
        var text = path.path
        if path.pathType == .regex { text += " (regex)" }
        if !path.methods.isEmpty { text += " [\(path.methods.joined(separator: ","))]" }
        return text
    }

    /// A path made public reads `PUBLIC` on the right-hand side, so it stands out in a long list.
    private func describe(_ serving: AuthImpact.Serving?, after: Bool) -> String {
        guard let serving else { return "not served" }
        return serving.auth.map { "guarded by \($0)" } ?? (after ? "PUBLIC" : "public")
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}

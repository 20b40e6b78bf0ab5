/// A hostname belongs to at most one Domain: two Domains for one host would fight over its
/// certificate and its redirect.
enum DuplicateHostsRule {
    static func check(_ state: DesiredState, _ declared: DeclaredNames) -> [Diagnostic] {
        var owner: [String: (domain: Domain, index: Int)] = [:]
        var diagnostics: [Diagnostic] = []
        let ordered = state.domains.map { ($0, Validator.location(state, $0.id, "metadata")) }.sorted { $0.1 < $1.1 }.map(\.0)
        for domain in ordered {
            for (index, host) in domain.hosts.enumerated() {
                if let first = owner[host] {
                    diagnostics.append(Diagnostic(
                        code: "duplicate-host", at: Validator.location(state, domain.id, "spec.hosts[\(index)]"),
                        "Domain \"\(domain.name)\": host \"\(host)\" is already in Domain \"\(first.domain.name)\"",
                        hint: "a host belongs to one Domain; remove it from one of them",
                        notes: [.init(location: Validator.location(state, first.domain.id, "spec.hosts[\(first.index)]"),
                                      message: "\"\(host)\" is declared here first")]))
                } else {
                    owner[host] = (domain, index)
                }
            }
        }
        return diagnostics
    }
}

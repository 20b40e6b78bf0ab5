/// Cross-resource rules, run after every document has been decoded. Each rule is a pure function
/// of the state; together they report every problem, located at the referencing field.
public enum Validator {
    typealias Rule = @Sendable (DesiredState, DeclaredNames) -> [Diagnostic]

    static let rules: [Rule] = [
        DuplicateHostsRule.check,
        ReferencesRule.check,
        AmbiguousRoutesRule.check,
        ShadowedRoutesRule.check,
    ]

    public static func validate(_ state: DesiredState, declared: DeclaredNames) -> [Diagnostic] {
        rules.flatMap { $0(state, declared) }
    }

    static func location(_ state: DesiredState, _ id: ResourceID, _ field: String) -> SourceLocation {
        state.sources[id]?.location(of: field) ?? SourceLocation(file: "<unknown>", line: 1, column: 1)
    }
}

extension Route {
    /// The hosts this route serves: its own, or those of its Domain.
    public func effectiveHosts(in state: DesiredState) -> [String] {
        if let domain { return state.domain(named: domain)?.hosts ?? [] }
        return hosts
    }
}

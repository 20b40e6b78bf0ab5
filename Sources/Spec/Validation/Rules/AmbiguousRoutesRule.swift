/// Two routes with the same host, path, path type, methods and priority would be chosen between
/// by accident of declaration order; that is an error, reported at the later declaration.
enum AmbiguousRoutesRule {
    struct Key: Hashable {
        var host: String
        var path: String
        var pathType: Route.PathType
        var methods: [String]
        var priority: Int
    }

    static func check(_ state: DesiredState, _ declared: DeclaredNames) -> [Diagnostic] {
        var first: [Key: Route] = [:]
        var reported = Set<[String]>()
        var diagnostics: [Diagnostic] = []
        let ordered = state.routes.map { ($0, Validator.location(state, $0.id, "metadata")) }.sorted { $0.1 < $1.1 }.map(\.0)
        for route in ordered {
            for host in route.effectiveHosts(in: state) {
                let key = Key(host: host, path: route.path, pathType: route.pathType, methods: route.methods.sorted(), priority: route.priority)
                guard let earlier = first[key] else { first[key] = route; continue }
                guard reported.insert([earlier.name, route.name]).inserted else { continue }
                let methods = key.methods.isEmpty ? "any method" : key.methods.joined(separator: ",")
                diagnostics.append(Diagnostic(
                    code: "ambiguous-route", at: Validator.location(state, route.id, "spec.path"),
                    "Route \"\(route.name)\" is ambiguous with Route \"\(earlier.name)\": both match \(host)\(route.path) (\(route.pathType.rawValue), \(methods), priority \(route.priority))",
                    hint: "give one of them a different priority, path or methods",
                    notes: [.init(location: Validator.location(state, earlier.id, "spec.path"), message: "Route \"\(earlier.name)\" is declared here")]))
            }
        }
        return diagnostics
    }
}

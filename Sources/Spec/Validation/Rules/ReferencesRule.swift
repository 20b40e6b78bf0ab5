/// Every name a route uses must be declared: its Domain, its Instance and that instance's port,
/// its AuthPolicy. The diagnostic sits on the referencing field and lists what is declared.
enum ReferencesRule {
    static func check(_ state: DesiredState, _ declared: DeclaredNames) -> [Diagnostic] {
        var diagnostics: [Diagnostic] = []
        func missing(_ route: Route, field: String, kind: Kind, name: String) {
            let names = declared.names(of: kind)
            let article = kind == .authPolicy || kind == .instance ? "an" : "a"
            diagnostics.append(Diagnostic(
                code: "undeclared-reference", at: Validator.location(state, route.id, field),
                "Route \"\(route.name)\": \(kind.rawValue) \"\(name)\" is not declared"
                    + (names.isEmpty ? " (no \(kind.plural.lowercased()) are declared)" : " (declared: \(names.joined(separator: ", ")))"),
                hint: Suggestion.closest(to: name, in: names).map { "did you mean \"\($0)\"?" }
                    ?? "declare \(article) \(kind.rawValue) named \"\(name)\" or fix the name"))
        }
        for route in state.routes {
            if let domain = route.domain, !declared.isDeclared(ResourceID(.domain, domain)) {
                missing(route, field: "spec.domain", kind: .domain, name: domain)
            }
            if let auth = route.auth, !declared.isDeclared(ResourceID(.authPolicy, auth)) {
                missing(route, field: "spec.auth", kind: .authPolicy, name: auth)
            }
            guard case .instance(let name, let port) = route.to else { continue }
            let id = ResourceID(.instance, name)
            guard declared.isDeclared(id) else {
                missing(route, field: "spec.to.instance", kind: .instance, name: name)
                continue
            }
            guard let instance = state.instance(named: name) else { continue }  // invalid: reported already
            let portNames = instance.ports.map(\.name)
            if let port {
                if !portNames.contains(port) {
                    diagnostics.append(Diagnostic(
                        code: "undeclared-reference", at: Validator.location(state, route.id, "spec.to.port"),
                        "Route \"\(route.name)\": Instance \"\(name)\" has no port \"\(port)\""
                            + (portNames.isEmpty ? " (it declares no ports)" : " (its ports: \(portNames.joined(separator: ", ")))"),
                        hint: Suggestion.closest(to: port, in: portNames).map { "did you mean \"\($0)\"?" }))
                }
            } else if portNames.isEmpty {
                diagnostics.append(Diagnostic(
                    code: "no-port", at: Validator.location(state, route.id, "spec.to.instance"),
                    "Route \"\(route.name)\": Instance \"\(name)\" declares no ports, so nothing can be routed to it",
                    hint: "add spec.ports to the instance"))
            } else if portNames.count > 1 {
                diagnostics.append(Diagnostic(
                    code: "ambiguous-port", at: Validator.location(state, route.id, "spec.to.instance"),
                    "Route \"\(route.name)\": Instance \"\(name)\" has several ports (\(portNames.joined(separator: ", "))); say which one",
                    hint: "add `port: \(portNames[0])` under spec.to"))
            }
        }
        return diagnostics
    }
}

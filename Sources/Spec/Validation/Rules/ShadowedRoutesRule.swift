/// A route that can never be chosen, because on every host it serves another route is tried first
/// and matches every path and method it would: a warning, reported at the shadowed route's path.
///
/// Routes on a host are tried by higher `priority`, then exact before prefix (longest first)
/// before regex. A prefix route covers every path equal to its own or below it (`/` covers all);
/// a regex route is matched against the whole path, so the literal text its pattern starts with
/// begins every path it can match, and a prefix route that covers that text covers the regex.
/// Only certain cover is reported (a pattern with `|` or a leading group is never judged), so a
/// warning always means a route traffic cannot reach.
enum ShadowedRoutesRule {
    static func check(_ state: DesiredState, _ declared: DeclaredNames) -> [Diagnostic] {
        let routes = state.routes
        let hosts = routes.map { Set($0.effectiveHosts(in: state)) }
        // Only prefix routes shadow, and only those on a path above the route's: index them by
        // host and path, so a repository of 10,000 routes is checked in one pass, not 10,000².
        var prefixRoutes: [String: [String: [Int]]] = [:]
        for (index, route) in routes.enumerated() where route.pathType == .prefix {
            for host in hosts[index] { prefixRoutes[host, default: [:]][route.path, default: []].append(index) }
        }
        var diagnostics: [Diagnostic] = []
        for (index, route) in routes.enumerated() {
            // A shadowing route serves every host this one does, so any one host finds it.
            guard let host = hosts[index].first, let byPath = prefixRoutes[host] else { continue }
            let shadow = coveringPaths(of: route).flatMap { byPath[$0] ?? [] }
                .filter { $0 != index && hosts[index].isSubset(of: hosts[$0]) && shadows(routes[$0], route) }
                .map { routes[$0] }
                .min { $0.name < $1.name }
            guard let shadow else { continue }
            let comesFirst = shadow.priority > route.priority
                ? "priority \(shadow.priority) over \(route.priority)"
                : "a prefix route before a regex route at priority \(route.priority)"
            diagnostics.append(Diagnostic(
                .warning, code: "shadowed-route", at: Validator.location(state, route.id, "spec.path"),
                "Route \"\(route.name)\" can never match: Route \"\(shadow.name)\" (\(shadow.pathType.rawValue) \(shadow.path)) takes every request it would, on every host it serves (\(comesFirst))",
                hint: "give Route \"\(route.name)\" a priority above \(shadow.priority), or narrow Route \"\(shadow.name)\"'s path or methods",
                notes: [.init(location: Validator.location(state, shadow.id, "spec.path"), message: "Route \"\(shadow.name)\" is declared here")]))
        }
        return diagnostics
    }

    /// The paths a prefix route could have to cover `route`: `/`, and each path above the route's
    /// own (or above the literal start of its pattern), with and without a trailing slash.
    static func coveringPaths(of route: Route) -> [String] {
        var text: String
        switch route.pathType {
        case .exact, .prefix: text = route.path
        case .regex:
            guard let literal = literalStart(ofPattern: route.path) else { return ["/"] }
            text = literal
        }
        var paths = ["/"]
        if route.pathType != .regex { paths.append(text) }
        var prefix = ""
        for character in text {
            if character == "/", !prefix.isEmpty {
                paths.append(prefix)
                paths.append(prefix + "/")
            }
            prefix.append(character)
        }
        return paths
    }

    /// Whether `first` is tried before `route` and matches every request `route` would.
    static func shadows(_ first: Route, _ route: Route) -> Bool {
        guard first.pathType == .prefix, coversMethods(first, route) else { return false }
        // At equal priority a prefix route comes after exact routes and before regexes; before a
        // shorter prefix it cannot cover, and an equal one is the ambiguous-route error.
        guard first.priority > route.priority || (first.priority == route.priority && route.pathType == .regex) else { return false }
        switch route.pathType {
        case .exact, .prefix:
            return covers(prefix: first.path, path: route.path)
        case .regex:
            guard let literal = literalStart(ofPattern: route.path) else { return first.path == "/" }
            return first.path == "/" || literal.hasPrefix(first.path.hasSuffix("/") ? first.path : first.path + "/")
        }
    }

    /// `first` allows every method `route` does (no list allows all).
    static func coversMethods(_ first: Route, _ route: Route) -> Bool {
        if first.methods.isEmpty { return true }
        return !route.methods.isEmpty && Set(route.methods).isSubset(of: Set(first.methods))
    }

    /// A prefix route on `prefix` matches `path` and everything below it.
    static func covers(prefix: String, path: String) -> Bool {
        if prefix == "/" || path == prefix { return true }
        return path.hasPrefix(prefix.hasSuffix("/") ? prefix : prefix + "/")
    }

    /// The literal text every whole match of `pattern` starts with (after an optional `^`), or nil
    /// when the pattern gives none that can be trusted: an alternation anywhere, or a first token
    /// that is not a plain character. A character followed by a quantifier is not part of it.
    static func literalStart(ofPattern pattern: String) -> String? {
        guard !pattern.contains("|") else { return nil }
        var characters = Array(pattern.hasPrefix("^") ? pattern.dropFirst() : Substring(pattern))
        var literal = ""
        let special: Set<Character> = ["\\", ".", "^", "$", "?", "*", "+", "(", ")", "[", "]", "{", "}"]
        while let next = characters.first, !special.contains(next) {
            characters.removeFirst()
            if let after = characters.first, ["?", "*", "{"].contains(after) { break }
            literal.append(next)
        }
        return literal.isEmpty ? nil : literal
    }
}

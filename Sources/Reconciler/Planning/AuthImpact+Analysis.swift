import Spec

extension AuthImpact {
    /// Compares who may reach each path in `before` (the table Berth last applied) and `after` (the
    /// one to publish). Pure and deterministic.
    ///
    /// The paths examined on a host are the paths of its routes in either table. For each, the
    /// serving route is found in each table the way the proxy matches (exact host, else its
    /// one-label wildcard; then match order, segment-boundary prefixes, whole-path regexes, and
    /// method lists that overlap), so a route that loses its policy, a new public route that
    /// shadows a guarded one (higher priority, or more specific under a guarded prefix), a guarded
    /// route removed in favour of a public catch-all, and an exact host taking over from a guarded
    /// wildcard all show. Regex routes are followed by their pattern (the same pattern or a `/`
    /// catch-all in the other table): which literal paths a pattern shadows is not analysed.
    ///
    /// Hosts whose route guards are unchanged and whose policies did not change are skipped, so
    /// the cost follows the size of the change, not of the table.
    public init(before: RouteTableDocument?, after: RouteTableDocument) {
        guard let before else {
            // Nothing was published by Berth: no path was guarded, none can be exposed.
            self = .none
            return
        }
        let changedPolicies = Set(before.authPolicies.keys).union(after.authPolicies.keys)
            .filter { before.authPolicies[$0] != after.authPolicies[$0] }
        var weakened: [String: [String]] = [:]
        for name in changedPolicies.sorted() {
            guard let old = before.authPolicies[name], let new = after.authPolicies[name] else { continue }
            let reasons = PolicyComparison.weakenings(from: (name: name, spec: old), to: (name: name, spec: new))
            if !reasons.isEmpty { weakened[name] = reasons }
        }

        let oldTable = HostResolver(before), newTable = HostResolver(after)
        let publishedRoutes = Set(after.hosts.flatMap { $0.routes.map(\.route) })
        let names = Set(before.hosts.map(\.host)).union(after.hosts.map(\.host))
            .sorted { ($0.hasPrefix("*.") ? 1 : 0, $0) < ($1.hasPrefix("*.") ? 1 : 0, $1) }
        var paths: [PathImpact] = []
        for name in names {
            let old = oldTable.resolve(name), new = newTable.resolve(name)
            if let old, let new, Self.sameGuards(old.routes, new.routes),
               !old.routes.contains(where: { $0.auth.map(changedPolicies.contains) ?? false }) { continue }
            let oldIndex = old.map(RouteIndex.init), newIndex = new.map(RouteIndex.init)
            var seen = Set<Probe>()
            var probes: [(Probe, Route.PathType)] = []
            for route in (new?.routes ?? []) + (old?.routes ?? []) {
                let probe = Probe(pattern: route.pathType == .regex, path: route.path, methods: route.methods)
                if seen.insert(probe).inserted { probes.append((probe, route.pathType)) }
            }
            var impacts: [PathImpact] = []
            for (probe, pathType) in probes {
                let was = oldIndex?.serving(probe), now = newIndex?.serving(probe)
                guard let change = Self.classify(was: was, now: now, before: before, after: after, weakened: weakened,
                                                 stillDeclared: { newIndex?.names.contains($0) ?? false },
                                                 publishedAnywhere: { publishedRoutes.contains($0) }) else { continue }
                impacts.append(PathImpact(host: name, path: probe.path, pathType: pathType, methods: probe.methods,
                                          before: was, after: now, kind: change.kind, reasons: change.reasons))
            }
            impacts.sort { ($0.path, $0.methods.joined(separator: ",")) < ($1.path, $1.methods.joined(separator: ",")) }
            paths += impacts
        }

        var guarded: [String: Int] = [:]
        for path in paths where path.kind == .weakened {
            if let name = path.before?.auth, name == path.after?.auth { guarded[name, default: 0] += 1 }
        }
        let policies = weakened.keys.sorted().compactMap { name in
            guarded[name].map { WeakenedPolicy(name: name, reasons: weakened[name] ?? [], paths: $0) }
        }
        self.init(paths: paths, weakenedPolicies: policies)
    }

    /// What changed for one path, or nil when nothing worth reporting did (unserved before, or
    /// public before and after, or the same policy with a spec that is not weaker).
    /// `stillDeclared`: the route serves this host after the change; `publishedAnywhere`: it
    /// serves some host after the change.
    static func classify(was: Serving?, now: Serving?, before: RouteTableDocument, after: RouteTableDocument,
                         weakened: [String: [String]], stillDeclared: (String) -> Bool,
                         publishedAnywhere: (String) -> Bool) -> (kind: Kind, reasons: [String])? {
        guard let was else { return nil }
        guard let policy = was.auth else {
            guard let now, let guardedBy = now.auth else { return nil }
            return (.guarded, [now.route == was.route ? "route \(now.route) now requires \(guardedBy)"
                                                     : "now served by route \(now.route), guarded by \(guardedBy)"])
        }
        guard let now else { return (.unserved, ["no route serves it now (404)"]) }
        guard let guardedBy = now.auth else {
            var reason: String
            if now.route == was.route {
                reason = "route \(now.route) no longer names an auth policy"
                if after.authPolicies[policy] == nil { reason += " (policy \(policy) was deleted)" }
            } else if stillDeclared(was.route) {
                reason = "public route \(now.route) now takes it before route \(was.route)"
            } else if publishedAnywhere(was.route) {
                reason = "route \(was.route) no longer serves this host; public route \(now.route) does"
            } else {
                reason = "route \(was.route) was removed; public route \(now.route) serves it now"
            }
            return (.becamePublic, [reason])
        }
        if guardedBy == policy {
            return weakened[policy].map { (.weakened, $0) }
        }
        let switched = now.route == was.route ? "route \(now.route) now names \(guardedBy) instead of \(policy)"
                                              : "now served by route \(now.route), guarded by \(guardedBy) instead of \(policy)"
        guard let old = before.authPolicies[policy] else { return (.changed, [switched]) }
        let reasons = PolicyComparison.weakenings(from: (name: policy, spec: old),
                                                  to: after.authPolicies[guardedBy].map { (name: guardedBy, spec: $0) })
        return reasons.isEmpty ? (.changed, [switched]) : (.weakened, [switched] + reasons)
    }

    /// Whether two hosts' routes are guarded alike: same routes in the same order, each with the
    /// same path, methods, priority and policy (upstreams and other fields do not matter here).
    static func sameGuards(_ a: [RouteTableDocument.RouteEntry], _ b: [RouteTableDocument.RouteEntry]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { x, y in
            x.route == y.route && x.path == y.path && x.pathType == y.pathType && x.methods == y.methods
                && x.priority == y.priority && x.auth == y.auth
        }
    }
}

/// A path examined on a host: a literal path (from a prefix or exact route) or a regex pattern,
/// with the methods of the route it came from.
struct Probe: Hashable {
    var pattern: Bool
    var path: String
    var methods: [String]
}

/// A table's hosts as the proxy looks them up: the exact host, else the wildcard one label up.
struct HostResolver {
    private var exact: [String: RouteTableDocument.HostEntry] = [:]
    private var wildcard: [String: RouteTableDocument.HostEntry] = [:]

    init(_ table: RouteTableDocument) {
        for host in table.hosts {
            if host.isWildcard { wildcard[String(host.host.dropFirst(2))] = host } else { exact[host.host] = host }
        }
    }

    func resolve(_ name: String) -> RouteTableDocument.HostEntry? {
        if name.hasPrefix("*.") { return wildcard[String(name.dropFirst(2))] }
        if let found = exact[name] { return found }
        guard let dot = name.firstIndex(of: "."), dot != name.startIndex else { return nil }
        return wildcard[String(name[name.index(after: dot)...])]
    }
}

/// One host's routes indexed for finding the route that serves a path, in the proxy's match order
/// (`Routing.RouteMatcher` is the authority; this follows it without a linear scan per path).
struct RouteIndex {
    let routes: [RouteTableDocument.RouteEntry]
    let names: Set<String>
    private var exact: [String: [Int]] = [:]
    private var prefix: [String: [Int]] = [:]
    private var patterns: [String: [Int]] = [:]
    /// Regex routes in match order; nil where the pattern does not compile (it never matches).
    private var regexes: [(index: Int, regex: Regex<AnyRegexOutput>?)] = []

    init(_ host: RouteTableDocument.HostEntry) {
        routes = host.routes
        names = Set(host.routes.map(\.route))
        for (index, route) in host.routes.enumerated() {
            switch route.pathType {
            case .exact: exact[route.path, default: []].append(index)
            case .prefix: prefix[route.path, default: []].append(index)
            case .regex:
                patterns[route.path, default: []].append(index)
                regexes.append((index, try? Regex(route.path)))
            }
        }
    }

    func serving(_ probe: Probe) -> AuthImpact.Serving? {
        var best = Int.max
        func consider(_ indices: [Int]?) {
            for index in indices ?? [] where index < best && Self.overlap(routes[index].methods, probe.methods) { best = index }
        }
        if probe.pattern {
            consider(patterns[probe.path])
            consider(prefix["/"])
        } else {
            consider(exact[probe.path])
            for candidate in Self.prefixes(of: probe.path) { consider(prefix[candidate]) }
            for (index, regex) in regexes where index < best && Self.overlap(routes[index].methods, probe.methods) {
                if let regex, (try? regex.wholeMatch(in: probe.path)) != nil { best = index; break }
            }
        }
        return best == Int.max ? nil : AuthImpact.Serving(route: routes[best].route, auth: routes[best].auth)
    }

    /// Every prefix route path that matches `path` on segment boundaries: the path itself, and each
    /// leading part ending just before or at a `/` (`/a/b` → `/a/b`, `/a/`, `/a`, `/`).
    static func prefixes(of path: String) -> [String] {
        let bytes = Array(path.utf8)
        var out = [path]
        for (offset, byte) in bytes.enumerated() where byte == UInt8(ascii: "/") {
            if offset > 0 { out.append(String(decoding: bytes[..<offset], as: UTF8.self)) }
            if offset + 1 < bytes.count { out.append(String(decoding: bytes[...offset], as: UTF8.self)) }
        }
        return out
    }

    /// Whether some request could be taken by both method lists (empty: any; GET also takes HEAD).
    static func overlap(_ a: [String], _ b: [String]) -> Bool {
        if a.isEmpty || b.isEmpty { return true }
        func expand(_ list: [String]) -> Set<String> { Set(list).union(list.contains("GET") ? ["HEAD"] : []) }
        return !expand(a).isDisjoint(with: expand(b))
    }
}

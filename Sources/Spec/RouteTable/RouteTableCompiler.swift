/// Compiles a desired state into a `RouteTableDocument`. Pure and deterministic: the same state
/// and endpoints give the same document, byte for byte.
public enum RouteTableCompiler {
    /// - Parameter certificates: certificate name → leaf fingerprint of the certificates present in
    ///   Redis; only those of the state's TLS Domains go into the table.
    /// - Parameter endpoints: the resolved endpoints of an instance's named port (one per replica).
    public static func compile(_ state: DesiredState, revision: String, generation: Int = 0, certificates: [String: String] = [:],
                               endpoints: (_ instance: Instance, _ port: String) -> [RouteTableDocument.Endpoint]) -> RouteTableDocument {
        var hosts: [String: RouteTableDocument.HostEntry] = [:]
        var present: [String: String] = [:]
        for domain in state.domains {
            for host in domain.hosts {
                hosts[host] = .init(host: host, domain: domain.name, tls: domain.tls, redirectHTTP: domain.redirectHTTP,
                                    certificate: domain.tls == .none ? nil : domain.name, routes: [],
                                    hsts: domain.tls == .none ? nil : domain.hsts?.headerValue)
            }
            if domain.tls != .none, let fingerprint = certificates[domain.name] { present[domain.name] = fingerprint }
        }
        for route in state.routes {
            let upstream: RouteTableDocument.Upstream
            switch route.to {
            case .url(let url):
                upstream = .url(url)
            case .instance(let name, let port):
                guard let instance = state.instance(named: name), let portName = port ?? instance.ports.first?.name else { continue }
                upstream = .instance(name: name, port: portName, endpoints: endpoints(instance, portName))
            }
            let entry = RouteTableDocument.RouteEntry(route: route.name, path: route.path, pathType: route.pathType,
                                                      methods: route.methods.sorted(), priority: route.priority,
                                                      stripPrefix: route.stripPrefix, auth: route.auth, upstream: upstream)
            for host in route.effectiveHosts(in: state) {
                hosts[host, default: .init(host: host, domain: nil, tls: .none, redirectHTTP: false, certificate: nil, routes: [])]
                    .routes.append(entry)
            }
        }
        let order = state.declarationOrder
        var entries = Array(hosts.values)
        for index in entries.indices {
            entries[index].routes.sort { matchOrder($0, $1, order: order) }
        }
        entries.sort { ($0.isWildcard ? 1 : 0, $0.host) < ($1.isWildcard ? 1 : 0, $1.host) }
        var policies: [String: JSONValue] = [:]
        for policy in state.authPolicies { policies[policy.name] = policy.canonicalSpec }
        return RouteTableDocument(revision: revision, generation: generation, hosts: entries, authPolicies: policies, certificates: present)
    }

    /// Higher priority first; then exact, prefix (longer paths first), regex (declaration order);
    /// routes limited to methods before catch-all ones; the route name breaks any remaining tie.
    static func matchOrder(_ a: RouteTableDocument.RouteEntry, _ b: RouteTableDocument.RouteEntry, order: [ResourceID: Int]) -> Bool {
        if a.priority != b.priority { return a.priority > b.priority }
        func rank(_ type: Route.PathType) -> Int { type == .exact ? 0 : type == .prefix ? 1 : 2 }
        if rank(a.pathType) != rank(b.pathType) { return rank(a.pathType) < rank(b.pathType) }
        if a.pathType == .regex {
            let oa = order[ResourceID(.route, a.route)] ?? Int.max, ob = order[ResourceID(.route, b.route)] ?? Int.max
            if oa != ob { return oa < ob }
        } else if a.path != b.path {
            if a.path.utf8.count != b.path.utf8.count { return a.path.utf8.count > b.path.utf8.count }
            return a.path < b.path
        }
        if a.methods.isEmpty != b.methods.isEmpty { return !a.methods.isEmpty }
        return a.route < b.route
    }
}

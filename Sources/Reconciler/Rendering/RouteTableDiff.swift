import Spec

/// Per-host comparison of two route tables, shared by the text and JSON renderers.
public struct RouteTableDiff: Sendable {
    public struct Line: Sendable {
        public var action: Action
        public var entry: RouteTableDocument.RouteEntry
        /// For updates, what the route looked like before.
        public var before: RouteTableDocument.RouteEntry?
    }

    public struct Host: Sendable {
        public var host: String
        public var action: Action
        public var entry: RouteTableDocument.HostEntry?
        /// In the match order of the table after the change; removed routes follow.
        public var lines: [Line]
    }

    public var hosts: [Host]

    public init(before: RouteTableDocument?, after: RouteTableDocument) {
        var result: [Host] = []
        var beforeHosts: [String: RouteTableDocument.HostEntry] = [:]
        for host in before?.hosts ?? [] { beforeHosts[host.host] = host }
        for host in after.hosts {
            let old = beforeHosts.removeValue(forKey: host.host)
            var oldRoutes: [String: RouteTableDocument.RouteEntry] = [:]
            for route in old?.routes ?? [] { oldRoutes[route.route] = route }
            var lines: [Line] = []
            for route in host.routes {
                if let previous = oldRoutes.removeValue(forKey: route.route) {
                    lines.append(Line(action: previous == route ? .noop : .update, entry: route, before: previous == route ? nil : previous))
                } else {
                    lines.append(Line(action: .create, entry: route, before: nil))
                }
            }
            for route in old?.routes ?? [] where oldRoutes[route.route] != nil {
                lines.append(Line(action: .delete, entry: route, before: route))
            }
            let sameOrder = old.map { $0.routes.map(\.route) == host.routes.map(\.route) } ?? false
            let unchanged = old != nil && lines.allSatisfy { $0.action == .noop } && sameOrder
                && old!.tls == host.tls && old!.redirectHTTP == host.redirectHTTP && old!.domain == host.domain
            result.append(Host(host: host.host, action: old == nil ? .create : unchanged ? .noop : .update, entry: host, lines: lines))
        }
        for host in (before?.hosts ?? []) where beforeHosts[host.host] != nil {
            result.append(Host(host: host.host, action: .delete, entry: host,
                               lines: host.routes.map { Line(action: .delete, entry: $0, before: $0) }))
        }
        hosts = result
    }

    /// `→ http://…` or `→ instance shop:http (127.0.0.1:20000, 127.0.0.1:20001)`.
    public static func describe(_ upstream: RouteTableDocument.Upstream) -> String {
        switch upstream {
        case .url(let url): return url
        case .instance(let name, let port, let endpoints):
            let list = endpoints.isEmpty ? "no endpoints" : endpoints.map { "\($0.address):\($0.port)" }.joined(separator: ", ")
            return "instance \(name):\(port) (\(list))"
        }
    }
}

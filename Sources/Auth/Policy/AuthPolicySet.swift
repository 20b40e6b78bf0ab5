import Spec

/// Every auth policy of one route table, compiled together when the proxy loads the table. One
/// bad policy fails the whole set (the proxy keeps its last good table).
public struct AuthPolicySet: Sendable {
    public let policies: [String: CompiledAuthPolicy]
    /// Header names (lower-case, sorted) the proxy strips from every client request, on every route,
    /// auth or not: the default identity headers and every policy's configured ones.
    public let alwaysRemoveHeaders: [String]
    /// Hosts whose routes use at least one JWT policy → those policies' names (sorted): the hosts
    /// that serve `/.well-known/oauth-protected-resource`.
    public let jwtPoliciesByHost: [String: [String]]

    public init(document: RouteTableDocument) throws(AuthPolicyError) {
        var policies: [String: CompiledAuthPolicy] = [:]
        for (name, json) in document.authPolicies.sorted(by: { $0.key < $1.key }) {
            policies[name] = try CompiledAuthPolicy(name: name, json: json)
        }
        var remove: Set<String> = [CompiledAuthPolicy.defaultUserHeader, CompiledAuthPolicy.defaultScopesHeader]
        for policy in policies.values {
            remove.insert(policy.userHeader)
            remove.insert(policy.scopesHeader)
        }
        var byHost: [String: [String]] = [:]
        for host in document.hosts {
            let names = Set(host.routes.compactMap(\.auth)).filter { policies[$0]?.jwksURL != nil }
            if !names.isEmpty { byHost[host.host] = names.sorted() }
        }
        self.policies = policies
        self.alwaysRemoveHeaders = remove.sorted()
        self.jwtPoliciesByHost = byHost
    }

    public subscript(name: String) -> CompiledAuthPolicy? { policies[name] }

    /// The RFC 9728 document for a host of the table (by its route-table entry, wildcards
    /// included), or nil when no JWT policy guards it.
    public func protectedResourceMetadata(tableHost: String, requestHost: String) -> [UInt8]? {
        guard let names = jwtPoliciesByHost[tableHost] else { return nil }
        return ProtectedResourceMetadata.body(host: requestHost, policies: names.compactMap { policies[$0] })
    }
}

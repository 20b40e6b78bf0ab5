import Spec

/// Every auth policy of one route table, compiled together when the proxy loads the table. One
/// bad policy fails the whole set (the proxy keeps its last good table).
///
/// How the proxy uses the module, per request on a route whose entry names a policy:
/// 1. Remove the client's copies of `alwaysRemoveHeaders` (every route) and of the policy's
///    `headersToRemove` (this route).
/// 2. `policy.evaluate(request, now:, keys:)`, where `keys` reports the proxy's cached JWKS for
///    the URL (`KeySetState`), then act on the `AuthDecision`:
///    - `.allow(grant)`: add `grant.upstreamHeaders` to the upstream request and forward it;
///    - `.deny(denial)`: answer `denial.status` with `denial.headers` and `denial.body`;
///    - `.verifyBasic(job)`: if the `CredentialCache` holds `job.cacheKey`, use
///      `job.cachedDecision`; else run `job.verify()` on a thread pool, cache the key on `.allow`;
///    - `.forward(subrequest)`: send it; `policy.forwardVerdict(status:headers:)` on the answer,
///      `policy.forwardUnavailable(reason:)` if there was none;
///    - `.needKeys(needed)`: fetch `needed.jwksURL` (when `needed.keyID` is set, only if the
///      `KeyRefetchLimiter` permits), parse it with `JSONWebKeySet.parse`, and evaluate again;
///      a failed first fetch is `KeySetState.unavailable` (503).
/// 3. On a host in `jwtPoliciesByHost`, serve `protectedResourceMetadata(tableHost:requestHost:)` at
///    `CompiledAuthPolicy.protectedResourceMetadataPath` as `application/json`.
public struct AuthPolicySet: Sendable {
    public let policies: [String: CompiledAuthPolicy]
    /// Header names (lower-case, sorted) the proxy strips from every client request, on every route,
    /// auth or not: the default identity headers and every policy's configured ones.
    public let alwaysRemoveHeaders: [String]
    /// Hosts whose routes use at least one JWT policy → those policies' names (sorted): the hosts
    /// that serve `/.well-known/oauth-protected-resource`.
    public let jwtPoliciesByHost: [String: [String]]
    /// Policy name → header names (lower-case, sorted) to strip from the client's request on the
    /// routes it guards: `alwaysRemoveHeaders` and the policy's own `headersToRemove`, computed
    /// once per table rather than per request.
    public let headersToRemoveByPolicy: [String: [String]]
    /// Policy name → the policy with its `headersToRemoveByPolicy` entry: what the proxy needs on
    /// every guarded request, in one lookup. A class, so handing it out is one retain rather than
    /// a copy of each of the policy's fields.
    public let guards: [String: Guard]

    public final class Guard: Sendable {
        public let policy: CompiledAuthPolicy
        public let headersToRemove: [String]

        init(policy: CompiledAuthPolicy, headersToRemove: [String]) {
            self.policy = policy
            self.headersToRemove = headersToRemove
        }
    }

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
        let headersToRemoveByPolicy = policies.mapValues { remove.union($0.headersToRemove).sorted() }
        self.headersToRemoveByPolicy = headersToRemoveByPolicy
        self.guards = policies.mapValues { Guard(policy: $0, headersToRemove: headersToRemoveByPolicy[$0.name] ?? []) }
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

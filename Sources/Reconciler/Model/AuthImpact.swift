import Spec

/// Who may reach each path of the edge before and after a route-table change: the paths whose
/// guard moved, and whether that exposes anything. Made by `AuthImpact(before:after:)` (pure);
/// rendered in the plan's text and JSON; `berth plan --fail-on-exposure` fails on `hasExposure`.
public struct AuthImpact: Sendable, Equatable {
    /// What serves a path in one table: the first route in match order that takes it, and the
    /// policy guarding that route (nil: public).
    public struct Serving: Sendable, Hashable {
        public var route: String
        public var auth: String?
        public init(route: String, auth: String?) { self.route = route; self.auth = auth }
    }

    public enum Kind: String, Sendable {
        /// Guarded before, public now. An exposure.
        case becamePublic = "public"
        /// Guarded before, by a policy that lets more requests through now (the same policy with a
        /// weaker spec, or another, weaker one). An exposure.
        case weakened
        /// Guarded by another policy now, which is not weaker by the rules of `PolicyComparison`.
        case changed
        /// Public before, guarded now.
        case guarded
        /// Guarded before; no route serves it now (404).
        case unserved
    }

    public struct PathImpact: Sendable, Equatable {
        public var host: String
        /// A route's path: a literal path for prefix and exact routes, the pattern for regex ones.
        public var path: String
        /// The type of the route the path was taken from.
        public var pathType: Route.PathType
        /// The methods of that route; empty: any.
        public var methods: [String]
        /// nil: no route served (or serves) the path.
        public var before: Serving?
        public var after: Serving?
        public var kind: Kind
        /// Why, in words a reviewer can check against the repository.
        public var reasons: [String]

        public var exposure: Bool { kind == .becamePublic || kind == .weakened }
        /// The route named in reports: the one serving the path after the change, else before.
        public var route: String { after?.route ?? before?.route ?? "" }
    }

    /// A policy that exists before and after under one name, whose new spec lets more requests
    /// through, with the number of paths it still guards.
    public struct WeakenedPolicy: Sendable, Equatable {
        public var name: String
        public var reasons: [String]
        public var paths: Int
    }

    /// Hosts in table order (exact, then wildcard, each sorted), then path and methods. Only paths
    /// whose guard changed; unchanged guards are left out.
    public var paths: [PathImpact]
    /// Sorted by name; only policies that still guard a path.
    public var weakenedPolicies: [WeakenedPolicy]

    public init(paths: [PathImpact], weakenedPolicies: [WeakenedPolicy]) {
        self.paths = paths
        self.weakenedPolicies = weakenedPolicies
    }

    public static let none = AuthImpact(paths: [], weakenedPolicies: [])

    public var exposures: [PathImpact] { paths.filter(\.exposure) }
    public var hasExposure: Bool { paths.contains(where: \.exposure) }
}

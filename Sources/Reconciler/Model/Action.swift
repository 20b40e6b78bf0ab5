/// What applying a plan does to one resource.
public enum Action: String, Sendable, Hashable, CaseIterable {
    case create
    case update
    /// Replaced, not mutated: new replicas (and port leases) are made before the old ones go.
    case replace
    case delete
    case noop

    /// `+ ~ ± -` as in the text plan; blank for no-op.
    public var symbol: String {
        switch self {
        case .create: "+"
        case .update: "~"
        case .replace: "-/+"
        case .delete: "-"
        case .noop: " "
        }
    }
}

/// Why a change is planned, e.g. `spec-changed` "spec.priority: 0 → 10".
public struct ChangeReason: Sendable, Hashable {
    public var code: String
    public var message: String
    public init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }
}

/// The four kinds of resource a repository declares.
public enum Kind: String, Sendable, Hashable, CaseIterable, Comparable {
    case domain = "Domain"
    case authPolicy = "AuthPolicy"
    case instance = "Instance"
    case route = "Route"

    /// Apply order: what others refer to comes first (ports and instances before the routes that
    /// reach them). Deletes run in the reverse order.
    public var applyOrder: Int {
        switch self {
        case .domain: 0
        case .authPolicy: 1
        case .instance: 2
        case .route: 3
        }
    }

    public static func < (lhs: Kind, rhs: Kind) -> Bool { lhs.applyOrder < rhs.applyOrder }

    /// Plural heading used by renderers.
    public var plural: String {
        switch self {
        case .domain: "Domains"
        case .authPolicy: "Auth policies"
        case .instance: "Instances"
        case .route: "Routes"
        }
    }
}

/// `Kind/name`: unique within a repository, the key of the inventory in Redis.
public struct ResourceID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var kind: Kind
    public var name: String

    public init(_ kind: Kind, _ name: String) {
        self.kind = kind
        self.name = name
    }

    /// Parses `Kind/name`.
    public init?(_ text: String) {
        guard let slash = text.firstIndex(of: "/"), let kind = Kind(rawValue: String(text[..<slash])) else { return nil }
        let name = String(text[text.index(after: slash)...])
        guard !name.isEmpty else { return nil }
        self.init(kind, name)
    }

    public var description: String { "\(kind.rawValue)/\(name)" }

    public static func < (lhs: ResourceID, rhs: ResourceID) -> Bool {
        if lhs.kind != rhs.kind { return lhs.kind < rhs.kind }
        return lhs.name < rhs.name
    }
}

/// Any declared resource. The planner and the inventory handle resources through this type.
public enum Resource: Sendable, Hashable {
    case domain(Domain)
    case route(Route)
    case authPolicy(AuthPolicy)
    case instance(Instance)

    public var id: ResourceID {
        switch self {
        case .domain(let d): d.id
        case .route(let r): r.id
        case .authPolicy(let a): a.id
        case .instance(let i): i.id
        }
    }

    public var kind: Kind { id.kind }
    public var name: String { id.name }

    /// The resource's `spec` in canonical JSON (defaults filled in, so writing a default explicitly
    /// or leaving it out yields the same value and the same hash).
    public var canonicalSpec: JSONValue {
        switch self {
        case .domain(let d): d.canonicalSpec
        case .route(let r): r.canonicalSpec
        case .authPolicy(let a): a.canonicalSpec
        case .instance(let i): i.canonicalSpec
        }
    }

    /// SHA-256 of `kind`, `name` and the canonical spec: equal exactly when nothing that matters changed.
    public var specHash: String {
        SHA256.hex(JSONValue.object(["kind": .string(kind.rawValue), "name": .string(name), "spec": canonicalSpec]).canonicalBytes)
    }

    /// Rebuilds a resource from its canonical spec, as recorded in the inventory.
    public init(id: ResourceID, canonicalSpec spec: JSONValue) throws {
        switch id.kind {
        case .domain: self = .domain(try Domain(name: id.name, canonical: spec))
        case .route: self = .route(try Route(name: id.name, canonical: spec))
        case .authPolicy: self = .authPolicy(try AuthPolicy(name: id.name, canonical: spec))
        case .instance: self = .instance(try Instance(name: id.name, canonical: spec))
        }
    }
}

/// A canonical spec that does not decode: the inventory was written by another version or by hand.
public struct CanonicalDecodingError: Error, CustomStringConvertible, Sendable {
    public var field: String
    public var description: String { "recorded spec has no valid \(field)" }
}

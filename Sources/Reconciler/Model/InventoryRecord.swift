import Foundation
import Spec

/// What Berth applied for one resource, as kept in the `inventory` hash: the spec it applied (so a
/// plan can say what changed and rebuild the route table it published) and what it realized.
public struct InventoryRecord: Sendable, Equatable {
    public var id: ResourceID
    public var specHash: String
    public var spec: JSONValue
    /// Port-lease owner → host port, for instances.
    public var ports: [String: Int]
    /// Position among the repository's documents when applied (regex routes keep declaration order).
    public var declarationIndex: Int
    public var revision: String
    public var appliedAt: String

    public init(id: ResourceID, specHash: String, spec: JSONValue, ports: [String: Int] = [:], declarationIndex: Int = 0,
                revision: String, appliedAt: String) {
        self.id = id
        self.specHash = specHash
        self.spec = spec
        self.ports = ports
        self.declarationIndex = declarationIndex
        self.revision = revision
        self.appliedAt = appliedAt
    }

    public var json: JSONValue {
        .object([
            "id": .string(id.description), "kind": .string(id.kind.rawValue), "name": .string(id.name),
            "spec_hash": .string(specHash), "spec": spec, "ports": .object(ports.mapValues(JSONValue.int)),
            "declaration_index": .int(declarationIndex), "revision": .string(revision), "applied_at": .string(appliedAt),
        ])
    }

    public init(json: JSONValue) throws {
        guard let idText = json["id"]?.stringValue, let id = ResourceID(idText),
              let hash = json["spec_hash"]?.stringValue, let spec = json["spec"] else {
            throw StateError(code: "corrupt-inventory", message: "an inventory record is malformed: \(json.canonicalString.prefix(120))",
                             retryable: false)
        }
        self.init(id: id, specHash: hash, spec: spec,
                  ports: json["ports"]?.objectValue?.compactMapValues(\.intValue) ?? [:],
                  declarationIndex: json["declaration_index"]?.intValue ?? 0,
                  revision: json["revision"]?.stringValue ?? "", appliedAt: json["applied_at"]?.stringValue ?? "")
    }

    /// The resource this record describes, rebuilt from its canonical spec.
    public func resource() throws -> Resource { try Resource(id: id, canonicalSpec: spec) }
}

/// A failure reading or writing state. `retryable` says whether trying again can help.
public struct StateError: Error, CustomStringConvertible, Sendable {
    public var code: String
    public var message: String
    public var hint: String?
    public var retryable: Bool

    public init(code: String, message: String, hint: String? = nil, retryable: Bool) {
        self.code = code
        self.message = message
        self.hint = hint
        self.retryable = retryable
    }

    public var description: String { message }
}

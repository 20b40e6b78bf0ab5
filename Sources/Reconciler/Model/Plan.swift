import Spec

/// One resource's planned change.
public struct Change: Sendable, Equatable {
    public var id: ResourceID
    public var action: Action
    public var reasons: [ChangeReason]
    /// Canonical spec before (from the inventory) and after (from the repository).
    public var before: JSONValue?
    public var after: JSONValue?
    /// Work this apply cannot do yet (no container runtime or certificate issuer configured).
    public var pending: [String]
}

/// One host-port lease the apply will take, keep or give back.
public struct PortChange: Sendable, Equatable {
    public enum Kind: String, Sendable { case allocate, keep, free }
    public var owner: String
    public var port: Int
    public var kind: Kind
    public var reason: String?
}

/// The route table the apply will publish, against the one that is live.
public struct RouteTableChange: Sendable, Equatable {
    /// `create` (nothing published yet), `update` or `noop`.
    public var action: Action
    public var reasons: [ChangeReason]
    /// Rebuilt from the inventory (what Berth last applied); nil on a fresh store.
    public var before: RouteTableDocument?
    /// What will be published (generation filled in).
    public var after: RouteTableDocument
    public var observedGeneration: Int
    /// Content hash of the table live when planned (nil: none).
    public var observedHash: String? = nil
}

/// A plan: a pure function of the desired state, its revision and the observed state. Changes are
/// in apply order (kinds in dependency order, deletes last in reverse order).
public struct Plan: Sendable {
    public static let formatVersion = "1.0"

    public var revision: String
    public var origin: String
    public var stateFingerprint: String
    public var changes: [Change]
    public var ports: [PortChange]
    public var routeTable: RouteTableChange
    /// Per TLS Domain (and per certificate no longer wanted): issue, renew, reissue, remove or keep.
    public var certificates: [CertificateChange] = []
    /// Replicas to start and stop (empty when the runtimes were not observed).
    public var replicas: [ReplicaChange] = []
    /// Running replicas failing their health checks, left out of the route table (name → why).
    public var unready: [String: String] = [:]
    /// Ports Berth leases that something it does not own publishes.
    public var conflicts: [ChangeReason] = []
    /// Who may reach each path before and after the route-table change, and what that exposes.
    public var authImpact: AuthImpact = .none
    /// The state planned for (not serialized; the applier needs it).
    public var desired: DesiredState

    public struct Summary: Sendable, Equatable {
        public var add = 0, change = 0, destroy = 0
    }

    /// Terraform's counting: a replace is one add and one destroy; a route-table update is a change.
    public var summary: Summary {
        var summary = Summary()
        for change in changes {
            switch change.action {
            case .create: summary.add += 1
            case .update: summary.change += 1
            case .replace: summary.add += 1; summary.destroy += 1
            case .delete: summary.destroy += 1
            case .noop: break
            }
        }
        if routeTable.action != .noop { summary.change += 1 }
        return summary
    }

    public var hasChanges: Bool {
        changes.contains { $0.action != .noop } || routeTable.action != .noop
            || ports.contains { $0.kind != .keep } || certificates.contains(where: \.isActionable) || !replicas.isEmpty
    }
}

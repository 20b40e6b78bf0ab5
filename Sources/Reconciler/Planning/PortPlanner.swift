import Spec

/// Decides the host port of every lease an apply needs, exactly as the allocator in the state
/// store will: an owner that already holds a port keeps it; otherwise the port it held before
/// (recorded in the inventory) if that is free; otherwise the lowest free port in the range.
/// Owners are handled in sorted order, so the prediction is deterministic.
public enum PortPlanner {
    public struct Result: Sendable, Equatable {
        /// Owner → port for every desired owner that could be placed.
        public var assigned: [PortOwner: Int]
        public var changes: [PortChange]
        /// Owners for which the range had no free port.
        public var exhausted: [PortOwner]
    }

    public static func plan(desired: [PortOwner], preferred: [PortOwner: Int], leases: [Int: String],
                            range: ClosedRange<Int>) -> Result {
        var held: [String: Int] = [:]
        for (port, owner) in leases where held[owner] == nil || port < held[owner]! { held[owner] = port }
        var used = Set(leases.keys)
        var cursor = range.lowerBound
        var result = Result(assigned: [:], changes: [], exhausted: [])
        for owner in desired.sorted() {
            let key = owner.description
            if let port = held[key] {
                result.assigned[owner] = port
                result.changes.append(PortChange(owner: key, port: port, kind: .keep, reason: nil))
                continue
            }
            var port: Int?
            var reason = "new lease"
            if let previous = preferred[owner], !used.contains(previous) {
                port = previous
                reason = "lease was lost; taking back the port recorded in the inventory"
            } else {
                while cursor <= range.upperBound, used.contains(cursor) { cursor += 1 }
                if cursor <= range.upperBound { port = cursor }
                if preferred[owner] != nil { reason = "lease was lost and its old port is taken" }
            }
            guard let port else { result.exhausted.append(owner); continue }
            used.insert(port)
            result.assigned[owner] = port
            result.changes.append(PortChange(owner: key, port: port, kind: .allocate, reason: reason))
        }
        let wanted = Set(desired.map(\.description))
        for (port, owner) in leases.sorted(by: { $0.key < $1.key }) {
            guard let parsed = PortOwner(owner) else { continue }
            if wanted.contains(owner) {
                // An owner holding two ports keeps the lowest; the other is a leftover.
                if held[owner] != port {
                    result.changes.append(PortChange(owner: owner, port: port, kind: .free, reason: "second lease for the same owner"))
                }
                continue
            }
            result.changes.append(PortChange(owner: parsed.description, port: port, kind: .free, reason: nil))
        }
        return result
    }
}

import Foundation
import Spec

/// An in-memory `StateStore` with the same semantics as `RedisStateStore` (fenced writes, the same
/// port-allocation rule, generation check on publish). For unit tests of the planner and applier
/// only; the Redis store is what runs and what the integration tests exercise.
public final class MemoryStateStore: StateStore, @unchecked Sendable {
    private let lock = NSLock()
    public private(set) var inventory: [ResourceID: InventoryRecord] = [:]
    public var ports: [Int: String] = [:]
    public private(set) var routeTable: RouteTableDocument?
    public private(set) var generation = 0
    public private(set) var events: [String] = []
    public private(set) var status: [String: String] = [:]
    /// Certificates as written (chain and key included), by name.
    public var certificates: [String: IssuedCertificate] = [:]
    private var certificateLocks: [String: String] = [:]
    private var leaseValue: String?
    private var fence = 0

    public init() {}

    public func observe() throws -> ObservedState {
        lock.withLock {
            ObservedState(inventory: inventory, ports: ports, generation: generation, routeTableHash: routeTable?.contentHash,
                          certificates: certificates.mapValues(\.metadata))
        }
    }

    public func acquireLease(holder: String, ttlMilliseconds: Int) throws -> Lease {
        try lock.withLock {
            if let leaseValue { throw LeaseHeldError(holder: leaseValue, since: "-", expiresInMilliseconds: ttlMilliseconds) }
            fence += 1
            let value = "\(holder)#\(fence)"
            leaseValue = value
            return Lease(value: value, holder: holder, fence: fence, ttlMilliseconds: ttlMilliseconds)
        }
    }

    public func putCertificate(_ name: String, _ certificate: IssuedCertificate, lease: Lease) throws {
        try lock.withLock {
            try check(lease)
            certificates[name] = certificate
            events.append("certificate \(name) \(certificate.metadata.fingerprint)")
        }
    }

    public func deleteCertificate(_ name: String, lease: Lease) throws {
        try lock.withLock {
            try check(lease)
            certificates[name] = nil
        }
    }

    public func certificateMetadata(_ name: String) throws -> CertificateMetadata? { lock.withLock { certificates[name]?.metadata } }

    public func lockCertificate(_ name: String, ttlMilliseconds: Int) throws -> String? {
        lock.withLock {
            guard certificateLocks[name] == nil else { return nil }
            let token = UUID().uuidString
            certificateLocks[name] = token
            return token
        }
    }

    public func unlockCertificate(_ name: String, token: String) throws {
        lock.withLock { if certificateLocks[name] == token { certificateLocks[name] = nil } }
    }

    /// Drops the lease as an expiry would.
    public func expireLease() { lock.withLock { leaseValue = nil } }

    public func renewLease(_ lease: Lease) throws { try check(lease) }

    public func releaseLease(_ lease: Lease) throws {
        lock.withLock { if leaseValue == lease.value { leaseValue = nil } }
    }

    private func check(_ lease: Lease) throws {
        guard leaseValue == lease.value else {
            throw StateError(code: "lease-lost", message: "the apply lease was lost mid-apply", retryable: true)
        }
    }

    public func allocatePorts(_ requests: [(owner: String, preferred: Int?)], range: ClosedRange<Int>, lease: Lease) throws -> [String: Int] {
        try lock.withLock {
            try check(lease)
            var held: [String: Int] = [:]
            for (port, owner) in ports where held[owner] == nil || port < held[owner]! { held[owner] = port }
            var cursor = range.lowerBound
            var out: [String: Int] = [:]
            let before = ports
            var complete = false
            defer { if !complete { ports = before } }  // all or nothing, like the Redis script
            for request in requests {
                if let port = held[request.owner] { out[request.owner] = port; continue }
                var port: Int
                if let preferred = request.preferred, ports[preferred] == nil {
                    port = preferred
                } else {
                    while cursor <= range.upperBound, ports[cursor] != nil { cursor += 1 }
                    guard cursor <= range.upperBound else {
                        throw StateError(code: "ports-exhausted", message: "no free host port left in \(range)", retryable: false)
                    }
                    port = cursor
                }
                ports[port] = request.owner
                held[request.owner] = port
                out[request.owner] = port
            }
            complete = true
            return out
        }
    }

    public func freePorts(_ leases: [(port: Int, owner: String)], lease: Lease) throws {
        try lock.withLock {
            try check(lease)
            for item in leases where ports[item.port] == item.owner { ports[item.port] = nil }
        }
    }

    public func putInventory(_ records: [InventoryRecord], lease: Lease) throws {
        try lock.withLock {
            try check(lease)
            for record in records { inventory[record.id] = record }
        }
    }

    public func deleteInventory(_ ids: [ResourceID], lease: Lease) throws {
        try lock.withLock {
            try check(lease)
            for id in ids { inventory[id] = nil }
        }
    }

    public func publish(_ table: RouteTableDocument, expectedGeneration: Int, lease: Lease) throws {
        try lock.withLock {
            try check(lease)
            guard generation == expectedGeneration, table.generation == expectedGeneration + 1 else {
                throw StateError(code: "stale-generation", message: "the route table is at generation \(generation), expected \(expectedGeneration)", retryable: true)
            }
            generation += 1
            routeTable = table
            events.append("routetable \(generation) \(table.revision)")
        }
    }

    public func appliedRevision() throws -> String? {
        lock.withLock { [status["applying_revision"], status["revision"]].compactMap { $0 }.first { !$0.isEmpty } }
    }

    public func recordStatus(_ fields: [String: String], lease: Lease) throws {
        try lock.withLock {
            try check(lease)
            status.merge(fields) { _, new in new }
        }
    }
}

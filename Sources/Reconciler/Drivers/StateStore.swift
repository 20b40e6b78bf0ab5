import Spec

/// Proof of holding the apply lease. Every write a store makes on behalf of an apply is fenced by
/// it: a process that lost its lease cannot write.
public struct Lease: Sendable, Equatable {
    /// The exact value stored under the lease key (holder, token, time); writes compare it.
    public var value: String
    public var holder: String
    /// Monotonic fencing number handed out at acquisition.
    public var fence: Int
    public var ttlMilliseconds: Int
}

/// Someone else holds the apply lease.
public struct LeaseHeldError: Error, CustomStringConvertible, Sendable {
    public var holder: String
    public var since: String
    public var expiresInMilliseconds: Int
    public var description: String {
        "another apply is in progress: \(holder) holds the apply lease since \(since) (it expires in \(max(0, expiresInMilliseconds) / 1000)s unless renewed)"
    }
}

/// Where Berth keeps what it applied. The real implementation is Redis (`RedisStateStore`); the
/// in-memory one exists for unit tests of the pure core only.
public protocol StateStore: AnyObject {
    /// Reads inventory, port leases and the published table's generation and hash (one round trip on Redis).
    func observe() throws -> ObservedState
    func acquireLease(holder: String, ttlMilliseconds: Int) throws -> Lease
    func renewLease(_ lease: Lease) throws
    func releaseLease(_ lease: Lease) throws
    /// Leases a port for each owner (keeping ports owners already hold, else `preferred` when free,
    /// else the lowest free port in `range`), atomically. Returns owner → port.
    func allocatePorts(_ requests: [(owner: String, preferred: Int?)], range: ClosedRange<Int>, lease: Lease) throws -> [String: Int]
    /// Frees each port only while it is still held by the given owner.
    func freePorts(_ leases: [(port: Int, owner: String)], lease: Lease) throws
    func putInventory(_ records: [InventoryRecord], lease: Lease) throws
    func deleteInventory(_ ids: [ResourceID], lease: Lease) throws
    /// Publishes `table` (whose generation must be `expectedGeneration + 1`) and announces it, in
    /// one atomic step; fails if the live generation is not `expectedGeneration`.
    func publish(_ table: RouteTableDocument, expectedGeneration: Int, lease: Lease) throws
    /// Records the outcome of an apply in `status`.
    func recordStatus(_ fields: [String: String], lease: Lease) throws
    /// The revision last applied, or being applied when an apply was cut off (`status`'s
    /// `applying_revision`, else its `revision`), by any controller or `berth apply`; nil when
    /// nothing was ever applied. Always a revision that validated when it was applied.
    func appliedRevision() throws -> String?

    /// Replaces certificate `name` (chain, key and metadata) in one atomic, fenced step and
    /// announces it on the events stream (without the key).
    func putCertificate(_ name: String, _ certificate: IssuedCertificate, lease: Lease) throws
    /// Deletes certificate `name` and its key (fenced).
    func deleteCertificate(_ name: String, lease: Lease) throws
    /// The metadata of certificate `name` as it is now (not the key); nil when there is none.
    func certificateMetadata(_ name: String) throws -> CertificateMetadata?
    /// Takes the per-certificate lock; returns its token, or nil when another process holds it.
    func lockCertificate(_ name: String, ttlMilliseconds: Int) throws -> String?
    /// Releases the lock only while it still holds `token`.
    func unlockCertificate(_ name: String, token: String) throws
}

extension StateStore {
    /// The route-table generation each live data-plane replica reports in its heartbeat
    /// (`proxy:<id>`), by replica id. Stores without data planes report none.
    public func proxyGenerations() throws -> [String: Int] { [:] }
}

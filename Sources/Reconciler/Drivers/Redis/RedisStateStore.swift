import Foundation
import RedisClient
import Spec

/// The state store on Redis: inventory, port leases, the published route table, events, the apply
/// lease and status, under a key prefix. Reads are pipelined and every write is one fenced Lua
/// script, so the number of round trips does not grow with the number of resources.
///
/// Blocking (hiredis): call it from the CLI or a dedicated thread, never from an event loop.
public final class RedisStateStore: StateStore, @unchecked Sendable {
    public let connection: RedisConnection
    public let keys: RedisKeys

    public init(connection: RedisConnection, keys: RedisKeys = RedisKeys()) {
        self.connection = connection
        self.keys = keys
    }

    /// Connects to `url` and checks the server answers; errors name the address and the fix.
    public convenience init(url: String, prefix: String = "berth:") throws {
        let parsed: RedisURL
        do { parsed = try RedisURL(parsing: url) } catch let error as RedisError {
            throw StateError(code: "redis-url", message: error.message,
                             hint: "use redis://[:password@]host[:port][/db] or unix:///path/to/redis.sock", retryable: false)
        }
        do {
            let connection = try RedisConnection(url: parsed)
            try connection.send(["PING"])
            self.init(connection: connection, keys: RedisKeys(prefix: prefix))
        } catch let error as RedisError {
            throw RedisStateStore.stateError(error, url: parsed)
        }
    }

    static func stateError(_ error: RedisError, url: RedisURL? = nil) -> StateError {
        switch error.kind {
        case .connect where error.serverCode != nil:
            return StateError(code: "redis-auth", message: error.message,
                              hint: "check the password and database in the Redis URL (redis://:PASSWORD@host:port/db)", retryable: false)
        case .connect, .io, .timeout:
            return StateError(code: "redis-unreachable", message: error.message,
                              hint: "start redis-server there, or point Berth at another with --redis URL (or REDIS_URL)", retryable: true)
        case .server:
            switch error.serverCode {
            case "LEASE_LOST":
                return StateError(code: "lease-lost", message: "the apply lease was lost mid-apply; stopped before writing anything more",
                                  hint: "another apply may have taken over; run `berth plan` to see the state now", retryable: true)
            case "PORTS_EXHAUSTED":
                return StateError(code: "ports-exhausted", message: error.message,
                                  hint: "widen the range with --port-range or free leases in the ports hash", retryable: false)
            case "STALE_GENERATION":
                return StateError(code: "stale-generation", message: error.message,
                                  hint: "someone else published a route table; plan again", retryable: true)
            default:
                return StateError(code: "redis-error", message: error.description, retryable: error.isRetryable)
            }
        default:
            return StateError(code: "redis-error", message: error.description, retryable: error.isRetryable)
        }
    }

    private func run<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as RedisError { throw RedisStateStore.stateError(error, url: connection.url) }
    }

    // MARK: Observe

    /// Reads every heartbeat (`proxy:*`, which expire when a replica dies) for its generation.
    public func proxyGenerations() throws -> [String: Int] {
        try run {
            let keysFound = try StatusReport.heartbeatKeys(connection, prefix: keys.prefix)
            guard !keysFound.isEmpty else { return [:] }
            let replies = try connection.pipeline(keysFound.map { ["HGET", $0, "generation"] })
            var result: [String: Int] = [:]
            for (key, reply) in zip(keysFound, replies) {
                result[String(key.dropFirst(keys.prefix.count + "proxy:".count))] = reply.string.flatMap { Int($0) } ?? 0
            }
            return result
        }
    }

    /// Inventory records parsed by the last `observe`, by field, with the bytes they were parsed
    /// from: a controller observes the same 20,000 records pass after pass, and parsing them was
    /// a tenth of a pass. A record is reused only when its bytes are exactly the same.
    private var recordCache: [[UInt8]: (value: [UInt8], record: InventoryRecord)] = [:]

    public func observe() throws -> ObservedState { try observe(fingerprint: true) }

    /// `fingerprint: false` skips hashing every record (only a saved plan's staleness check needs
    /// it); the controller, which never saves plans, observes that way.
    public func observe(fingerprint: Bool) throws -> ObservedState {
        let replies = try run {
            try connection.pipeline([
                ["HGETALL", keys.inventory], ["HGETALL", keys.ports],
                ["GET", keys.routeTableGeneration], ["GET", keys.routeTableHash], ["SMEMBERS", keys.certificateIndex],
            ])
        }
        for reply in replies { if let message = reply.errorMessage { throw RedisStateStore.stateError(RedisError(serverReply: message)) } }
        var hasher = SHA256()
        var inventory: [ResourceID: InventoryRecord] = [:]
        let inventoryPairs = pairs(replies[0])
        if fingerprint {
            for (field, value) in inventoryPairs.sorted(by: { $0.0.lexicographicallyPrecedes($1.0) }) {
                hasher.update([0x69]); hasher.update(field); hasher.update([0]); hasher.update(value); hasher.update([0])
            }
        }
        var parsed: [[UInt8]: (value: [UInt8], record: InventoryRecord)] = [:]
        parsed.reserveCapacity(inventoryPairs.count)
        for (field, value) in inventoryPairs {
            if let cached = recordCache[field], cached.value == value {
                inventory[cached.record.id] = cached.record
                parsed[field] = cached
                continue
            }
            let fieldText = String(decoding: field, as: UTF8.self)
            let record: InventoryRecord
            do {
                record = try InventoryRecord(json: try JSONValue.parse(bytes: value))
                parsed[field] = (value, record)
            } catch {
                throw StateError(code: "corrupt-inventory", message: "inventory record \"\(fieldText)\" in \(keys.inventory) is not valid: \(error)",
                                 hint: "it was edited by hand or by an incompatible version; delete that field (HDEL) and plan again",
                                 retryable: false)
            }
            inventory[record.id] = record
        }
        recordCache = parsed
        var ports: [Int: String] = [:]
        let portPairs = pairs(replies[1])
        for (field, value) in portPairs.sorted(by: { $0.0.lexicographicallyPrecedes($1.0) }) {
            hasher.update([0x70]); hasher.update(field); hasher.update([0]); hasher.update(value); hasher.update([0])
            if let port = Int(String(decoding: field, as: UTF8.self)) { ports[port] = String(decoding: value, as: UTF8.self) }
        }
        let generation = replies[2].string.flatMap { Int($0) } ?? 0
        let hash = replies[3].string
        hasher.update("g\(generation)h\(hash ?? "")")
        let names = (replies[4].array ?? []).compactMap(\.string).sorted()
        let certificates = try certificateMetadata(names)
        for name in names {
            hasher.update("c\(name)\u{0}\(certificates[name]?.fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\u{0}") ?? "-")\u{0}")
        }
        return ObservedState(inventory: inventory, ports: ports, generation: generation, routeTableHash: hash,
                             certificates: certificates, fingerprint: fingerprint ? hasher.finalize().hexString : "not computed")
    }

    // MARK: Certificates

    /// Metadata of the named certificates (one pipelined round trip; keys are never read).
    /// Names without a (complete) hash are left out.
    public func certificateMetadata(_ names: [String]) throws -> [String: CertificateMetadata] {
        guard !names.isEmpty else { return [:] }
        let replies = try run { try connection.pipeline(names.map { ["HMGET", keys.certificate($0)] + CertificateMetadata.fieldNames }) }
        var out: [String: CertificateMetadata] = [:]
        for (name, reply) in zip(names, replies) {
            guard let values = reply.array else { continue }
            var fields: [String: String] = [:]
            for (field, value) in zip(CertificateMetadata.fieldNames, values) { if let text = value.string { fields[field] = text } }
            if let metadata = CertificateMetadata(fields: fields) { out[name] = metadata }
        }
        return out
    }

    public func certificateMetadata(_ name: String) throws -> CertificateMetadata? { try certificateMetadata([name])[name] }

    public func putCertificate(_ name: String, _ certificate: IssuedCertificate, lease: Lease) throws {
        let announcement = JSONValue.object([
            "type": .string("certificate"), "name": .string(name), "fingerprint": .string(certificate.metadata.fingerprint),
        ]).canonicalString
        let arguments = [lease.value, name, announcement] + certificate.fields.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value] }
        _ = try run {
            try connection.evaluate(RedisScripts.putCertificate, keys: [keys.applyLease, keys.certificate(name), keys.certificateIndex, keys.events],
                                    arguments: arguments)
        }
    }

    public func deleteCertificate(_ name: String, lease: Lease) throws {
        _ = try run {
            try connection.evaluate(RedisScripts.deleteCertificate, keys: [keys.applyLease, keys.certificate(name), keys.certificateIndex],
                                    arguments: [lease.value, name])
        }
    }

    public func lockCertificate(_ name: String, ttlMilliseconds: Int) throws -> String? {
        let token = UUID().uuidString
        let reply = try run { try connection.send(["SET", keys.certificateLock(name), token, "NX", "PX", String(ttlMilliseconds)]) }
        return reply.isNull ? nil : token
    }

    public func unlockCertificate(_ name: String, token: String) throws {
        _ = try run { try connection.evaluate(RedisScripts.releaseLock, keys: [keys.certificateLock(name)], arguments: [token]) }
    }

    private func pairs(_ value: RedisValue) -> [([UInt8], [UInt8])] {
        guard let items = value.array else { return [] }
        var out: [([UInt8], [UInt8])] = []
        out.reserveCapacity(items.count / 2)
        var index = 0
        while index + 1 < items.count {
            out.append((items[index].bytes ?? [], items[index + 1].bytes ?? []))
            index += 2
        }
        return out
    }

    /// The published route table document, if any.
    public func publishedRouteTable() throws -> RouteTableDocument? {
        guard let text = try run({ try connection.send(["GET", keys.routeTable]) }).bytes else { return nil }
        return try RouteTableDocument(json: try JSONValue.parse(bytes: text))
    }

    // MARK: Lease

    public func acquireLease(holder: String, ttlMilliseconds: Int) throws -> Lease {
        try run {
            let fence = Int(try connection.send(["INCR", keys.applyLeaseFence]).integer ?? 0)
            let since = ISO8601DateFormatter().string(from: Date())
            let value = JSONValue.object(["holder": .string(holder), "fence": .int(fence), "since": .string(since),
                                          "token": .string(UUID().uuidString)]).canonicalString
            let reply = try connection.send(["SET", keys.applyLease, value, "NX", "PX", String(ttlMilliseconds)])
            if reply.isNull {
                let current = try connection.pipeline([["GET", keys.applyLease], ["PTTL", keys.applyLease]])
                let info = current[0].string.flatMap { try? JSONValue.parse($0) }
                throw LeaseHeldError(holder: info?["holder"]?.stringValue ?? "another process",
                                     since: info?["since"]?.stringValue ?? "an unknown time",
                                     expiresInMilliseconds: Int(current[1].integer ?? 0))
            }
            return Lease(value: value, holder: holder, fence: fence, ttlMilliseconds: ttlMilliseconds)
        }
    }

    public func renewLease(_ lease: Lease) throws {
        _ = try run { try connection.evaluate(RedisScripts.renewLease, keys: [keys.applyLease], arguments: [lease.value, String(lease.ttlMilliseconds)]) }
    }

    public func releaseLease(_ lease: Lease) throws {
        _ = try run { try connection.evaluate(RedisScripts.releaseLease, keys: [keys.applyLease], arguments: [lease.value]) }
    }

    // MARK: Writes

    public func allocatePorts(_ requests: [(owner: String, preferred: Int?)], range: ClosedRange<Int>, lease: Lease) throws -> [String: Int] {
        guard !requests.isEmpty else { return [:] }
        var arguments = [lease.value, String(range.lowerBound), String(range.upperBound)]
        for request in requests { arguments += [request.owner, String(request.preferred ?? 0)] }
        let reply = try run { try connection.evaluate(RedisScripts.allocatePorts, keys: [keys.applyLease, keys.ports], arguments: arguments) }
        var out: [String: Int] = [:]
        let items = reply.array ?? []
        var index = 0
        while index + 1 < items.count {
            if let owner = items[index].string, let port = items[index + 1].string.flatMap({ Int($0) }) { out[owner] = port }
            index += 2
        }
        return out
    }

    public func freePorts(_ leases: [(port: Int, owner: String)], lease: Lease) throws {
        guard !leases.isEmpty else { return }
        let arguments = [lease.value] + leases.flatMap { [String($0.port), $0.owner] }
        _ = try run { try connection.evaluate(RedisScripts.freePorts, keys: [keys.applyLease, keys.ports], arguments: arguments) }
    }

    public func putInventory(_ records: [InventoryRecord], lease: Lease) throws {
        guard !records.isEmpty else { return }
        let arguments = [lease.value] + records.flatMap { [$0.id.description, $0.json.canonicalString] }
        _ = try run { try connection.evaluate(RedisScripts.putFields, keys: [keys.applyLease, keys.inventory], arguments: arguments) }
    }

    public func deleteInventory(_ ids: [ResourceID], lease: Lease) throws {
        guard !ids.isEmpty else { return }
        _ = try run {
            try connection.evaluate(RedisScripts.deleteFields, keys: [keys.applyLease, keys.inventory], arguments: [lease.value] + ids.map(\.description))
        }
    }

    public func publish(_ table: RouteTableDocument, expectedGeneration: Int, lease: Lease) throws {
        let announcement = JSONValue.object([
            "type": .string("routetable"), "generation": .int(table.generation), "revision": .string(table.revision),
            "hash": .string(table.contentHash),
        ]).canonicalString
        _ = try run {
            try connection.evaluate(
                RedisScripts.publish,
                keys: [keys.applyLease, keys.routeTable, keys.routeTableGeneration, keys.routeTableHash, keys.events],
                arguments: [lease.value, String(expectedGeneration), table.json.canonicalString, table.contentHash, table.revision, announcement])
        }
    }

    public func appliedRevision() throws -> String? {
        let values = try run { try connection.send(["HMGET", keys.status, "applying_revision", "revision"]).array ?? [] }
        return values.compactMap(\.string).first { !$0.isEmpty }
    }

    public func recordStatus(_ fields: [String: String], lease: Lease) throws {
        let arguments = [lease.value] + fields.sorted(by: { $0.key < $1.key }).flatMap { [$0.key, $0.value] }
        _ = try run { try connection.evaluate(RedisScripts.putFields, keys: [keys.applyLease, keys.status], arguments: arguments) }
    }
}

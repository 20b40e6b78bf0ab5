import Foundation
import RedisClient
import Reconciler
import Spec
import Testing
import TestSupport

/// The Redis state store's guarantees, checked against a real redis-server.
@Suite struct RedisStateStoreTests {
    func store(_ redis: RedisServerProcess, prefix: String = "t:") throws -> RedisStateStore {
        RedisStateStore(connection: try redis.connect(), keys: RedisKeys(prefix: prefix))
    }

    @Test func writesAfterTheLeaseIsLostAreRefusedAndChangeNothing() throws {
        let redis = try RedisServerProcess.start()
        let store = try store(redis)
        let lease = try store.acquireLease(holder: "a", ttlMilliseconds: 30_000)
        // Another process takes over after our lease expired.
        let admin = try redis.connect()
        try admin.send(["DEL", "t:lock:apply"])
        let other = try store.acquireLease(holder: "b", ttlMilliseconds: 30_000)
        #expect(other.fence > lease.fence, "fencing numbers increase")
        let record = InventoryRecord(id: ResourceID(.domain, "x"), specHash: "h", spec: .object([:]), revision: "r", appliedAt: "t")
        #expect(throws: StateError.self) { try store.putInventory([record], lease: lease) }
        #expect(throws: StateError.self) { _ = try store.allocatePorts([(owner: "Instance/a@h/0/http", preferred: nil)], range: 20000...20010, lease: lease) }
        do {
            try store.putInventory([record], lease: lease)
        } catch let error as StateError {
            #expect(error.code == "lease-lost")
        }
        #expect(try admin.send(["EXISTS", "t:inventory", "t:ports"]).integer == 0)
        // Releasing a lease one no longer holds leaves the new holder's lease alone.
        try store.releaseLease(lease)
        #expect(try admin.send(["GET", "t:lock:apply"]).string == other.value)
    }

    @Test func portAllocationIsIdempotentRespectsForeignOwnersAndReportsExhaustion() throws {
        let redis = try RedisServerProcess.start()
        let store = try store(redis)
        let admin = try redis.connect()
        try admin.send(["HSET", "t:ports", "20000", "someone-else"])
        let lease = try store.acquireLease(holder: "a", ttlMilliseconds: 30_000)
        let owners = ["Instance/a@h/0/http", "Instance/a@h/1/http"]
        let first = try store.allocatePorts(owners.map { (owner: $0, preferred: nil) }, range: 20000...20002, lease: lease)
        #expect(first == ["Instance/a@h/0/http": 20001, "Instance/a@h/1/http": 20002])
        let again = try store.allocatePorts(owners.map { (owner: $0, preferred: 20000) }, range: 20000...20002, lease: lease)
        #expect(again == first, "an owner keeps the port it holds")
        do {
            _ = try store.allocatePorts([(owner: "Instance/b@h/0/http", preferred: nil)], range: 20000...20002, lease: lease)
            Issue.record("allocation in a full range must fail")
        } catch let error as StateError {
            #expect(error.code == "ports-exhausted")
            #expect(error.message.contains("20000-20002"))
        }
        // Freeing only frees a port still held by the named owner.
        try store.freePorts([(port: 20000, owner: "Instance/a@h/0/http"), (port: 20001, owner: "Instance/a@h/0/http")], lease: lease)
        #expect(try admin.send(["HGET", "t:ports", "20000"]).string == "someone-else")
        #expect(try admin.send(["HEXISTS", "t:ports", "20001"]).integer == 0)
    }

    @Test func publishIsAtomicAnnouncedAndGenerationChecked() throws {
        let redis = try RedisServerProcess.start()
        let store = try store(redis)
        let subscriber = try redis.connect()
        try subscriber.subscribe(["t:events"])
        let lease = try store.acquireLease(holder: "a", ttlMilliseconds: 30_000)
        let state = DesiredState(resources: [.domain(Domain(name: "d", hosts: ["d.example.test"], tls: .none))])
        var table = RouteTableCompiler.compile(state, revision: "abc", generation: 1) { _, _ in [] }
        try store.publish(table, expectedGeneration: 0, lease: lease)
        let message = try #require(try subscriber.nextMessage(timeout: .seconds(2)))
        #expect(message.channel == "t:events")
        #expect(String(decoding: message.payload, as: UTF8.self).contains("\"generation\":1"))
        let published = try #require(try store.publishedRouteTable())
        #expect(published == table)
        #expect(try store.observe().routeTableHash == table.contentHash)

        // A publisher that planned against generation 0 again is refused; nothing changes.
        table.generation = 1
        do {
            try store.publish(table, expectedGeneration: 0, lease: lease)
            Issue.record("publishing against a stale generation must fail")
        } catch let error as StateError {
            #expect(error.code == "stale-generation")
        }
        let admin = try redis.connect()
        #expect(try admin.send(["GET", "t:routetable:generation"]).string == "1")
        #expect(try admin.send(["XLEN", "t:events"]).integer == 1)
    }

    /// Plan and apply cost a fixed number of Redis commands, whatever the number of resources.
    @Test func roundTripsDoNotGrowWithTheNumberOfResources() throws {
        let redis = try RedisServerProcess.start()
        let admin = try redis.connect()
        var counts: [Int] = []
        for size in [5, 400] {
            var resources: [Resource] = []
            for index in 0..<size {
                resources.append(.domain(Domain(name: "d\(index)", hosts: ["d\(index).example.test"], tls: .none)))
                resources.append(.route(Route(name: "r\(index)", domain: "d\(index)", to: .url("http://127.0.0.1:8081"))))
                resources.append(.instance(Instance(name: "i\(index)", image: "x:1", ports: [.init(name: "http", containerPort: 80)])))
            }
            let desired = DesiredState(resources: resources)
            let store = try store(redis, prefix: "n\(size):")
            try admin.send(["CONFIG", "RESETSTAT"])
            let plan = Planner.plan(desired: desired, revision: "r", origin: "test", observed: try store.observe())
            let lease = try store.acquireLease(holder: "t", ttlMilliseconds: 30_000)
            _ = try Applier(store: store).apply(plan, lease: lease)
            try store.releaseLease(lease)
            _ = Planner.plan(desired: desired, revision: "r", origin: "test", observed: try store.observe())
            let info = try #require(try admin.send(["INFO", "commandstats"]).string)
            // Sum calls of every command, minus the INFO/CONFIG of this test itself.
            let total = info.split(separator: "\n").compactMap { line -> Int? in
                guard line.hasPrefix("cmdstat_"), !line.hasPrefix("cmdstat_info"), !line.hasPrefix("cmdstat_config"),
                      let calls = line.split(separator: "=").dropFirst().first?.split(separator: ",").first else { return nil }
                return Int(calls)
            }.reduce(0, +)
            counts.append(total)
        }
        #expect(counts[0] == counts[1], "Redis commands for 5 vs 400 of each kind: \(counts)")
        #expect(counts[0] < 40, "\(counts)")
    }
}

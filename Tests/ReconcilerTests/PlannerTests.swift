import Foundation
import Testing
@testable import Reconciler
import Spec

@Suite struct PortPlannerTests {
    static func owner(_ instance: String, _ replica: Int, _ port: String = "http", hash: String = "h1") -> PortOwner {
        PortOwner(instance: instance, templateHash: hash, replica: replica, port: port)
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var desired: [PortOwner]
        var preferred: [PortOwner: Int] = [:]
        var leases: [Int: String]
        var range: ClosedRange<Int> = 20000...20005
        var assigned: [PortOwner: Int]
        var freed: [Int] = []
        var exhausted: [PortOwner] = []
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "fresh range, lowest ports in owner order",
             desired: [owner("b", 0), owner("a", 1), owner("a", 0)], leases: [:],
             assigned: [owner("a", 0): 20000, owner("a", 1): 20001, owner("b", 0): 20002]),
        Case(name: "held ports are kept, new owners skip them",
             desired: [owner("a", 0), owner("b", 0)], leases: [20000: owner("b", 0).description],
             assigned: [owner("b", 0): 20000, owner("a", 0): 20001]),
        Case(name: "foreign leases are never taken nor freed",
             desired: [owner("a", 0)], leases: [20000: "postgres", 20001: "not/a/berth/owner"],
             assigned: [owner("a", 0): 20002]),
        Case(name: "a lost lease takes back its recorded port when free",
             desired: [owner("a", 0)], preferred: [owner("a", 0): 20004], leases: [:],
             assigned: [owner("a", 0): 20004]),
        Case(name: "a lost lease whose port is taken gets the lowest free one",
             desired: [owner("a", 0)], preferred: [owner("a", 0): 20000], leases: [20000: "postgres"],
             assigned: [owner("a", 0): 20001]),
        Case(name: "owners no longer desired are freed, other templates included",
             desired: [owner("a", 0, hash: "h2")], leases: [20000: owner("a", 0).description, 20001: owner("gone", 0).description],
             assigned: [owner("a", 0, hash: "h2"): 20002], freed: [20000, 20001]),
        Case(name: "an owner holding two ports keeps the lowest",
             desired: [owner("a", 0)], leases: [20003: owner("a", 0).description, 20001: owner("a", 0).description],
             assigned: [owner("a", 0): 20001], freed: [20003]),
        Case(name: "exhausted range is reported, not wrapped",
             desired: [owner("a", 0), owner("a", 1)], leases: [20000: "x"], range: 20000...20001,
             assigned: [owner("a", 0): 20001], exhausted: [owner("a", 1)]),
    ]

    @Test(arguments: cases)
    func plansPorts(_ example: Case) {
        let result = PortPlanner.plan(desired: example.desired, preferred: example.preferred, leases: example.leases, range: example.range)
        #expect(result.assigned == example.assigned)
        #expect(result.changes.filter { $0.kind == .free }.map(\.port).sorted() == example.freed)
        #expect(result.exhausted == example.exhausted)
    }

    @Test func ownerStringsRoundTripAndRejectForeignFormats() {
        let owner = Self.owner("shop-api", 3, "metrics", hash: "0123456789ab")
        #expect(PortOwner(owner.description) == owner)
        for foreign in ["postgres", "Instance/", "Instance/a/0/http", "Instance/a@h/x/http", "Instance/a@h/0/", "Domain/a@h/0/http"] {
            #expect(PortOwner(foreign) == nil, "\(foreign)")
        }
    }
}

@Suite struct PlannerTests {
    static let instance = Instance(name: "api", image: "app:1", ports: [.init(name: "http", containerPort: 80)], replicas: 2)
    static let route = Route(name: "r", hosts: ["a.example.test"], to: .instance(name: "api", port: nil))

    func applied(_ resources: [Resource]) throws -> (MemoryStateStore, DesiredState) {
        let store = MemoryStateStore()
        let desired = DesiredState(resources: resources)
        let plan = Planner.plan(desired: desired, revision: "r1", origin: "t", observed: try store.observe())
        let lease = try store.acquireLease(holder: "t", ttlMilliseconds: 1000)
        _ = try Applier(store: store).apply(plan, lease: lease)
        try store.releaseLease(lease)
        return (store, desired)
    }

    @Test func aPortLeaseDeletedByHandIsDriftAndTakenBack() throws {
        let (store, desired) = try applied([.instance(Self.instance), .route(Self.route)])
        let lost = try #require(store.ports.first { $0.value.hasSuffix("/1/http") })
        store.ports[lost.key] = nil
        let plan = Planner.plan(desired: desired, revision: "r1", origin: "t", observed: try store.observe())
        let change = try #require(plan.changes.first { $0.id == Self.instance.id })
        #expect(change.action == .update)
        #expect(change.reasons.map(\.code) == ["port-drift"])
        #expect(change.reasons[0].message.contains("was \(lost.key)"))
        #expect(plan.ports.contains { $0.kind == .allocate && $0.port == lost.key })
        #expect(plan.routeTable.action == .noop, "the endpoint comes back on the same port, so the table is unchanged")
    }

    @Test func aLeaseTakenByAnotherOwnerMovesTheEndpointAndTheTable() throws {
        let (store, desired) = try applied([.instance(Self.instance), .route(Self.route)])
        let lost = try #require(store.ports.first { $0.value.hasSuffix("/0/http") })
        store.ports[lost.key] = "someone-else"
        let plan = Planner.plan(desired: desired, revision: "r1", origin: "t", observed: try store.observe())
        #expect(plan.changes.first { $0.id == Self.instance.id }?.action == .update)
        #expect(plan.routeTable.action == .update)
        #expect(!plan.ports.contains { $0.kind == .free && $0.owner == "someone-else" })
    }

    @Test func replicasAloneScaleButTemplateChangesReplace() throws {
        let (store, _) = try applied([.instance(Self.instance)])
        var scaled = Self.instance
        scaled.replicas = 3
        var plan = Planner.plan(desired: DesiredState(resources: [.instance(scaled)]), revision: "r2", origin: "t", observed: try store.observe())
        #expect(plan.changes[0].action == .update)
        #expect(plan.ports.filter { $0.kind == .allocate }.count == 1)
        #expect(plan.ports.filter { $0.kind == .keep }.count == 2)

        var rebuilt = Self.instance
        rebuilt.env = ["MODE": "fast"]
        plan = Planner.plan(desired: DesiredState(resources: [.instance(rebuilt)]), revision: "r2", origin: "t", observed: try store.observe())
        #expect(plan.changes[0].action == .replace)
        #expect(plan.changes[0].reasons.map(\.message) == ["spec.env.MODE: added \"fast\""])
        #expect(plan.ports.filter { $0.kind == .allocate }.count == 2)
        #expect(plan.ports.filter { $0.kind == .free }.allSatisfy { $0.reason == "replaced by a new template" })
    }

    @Test func deletesComeLastInReverseDependencyOrder() throws {
        let (store, _) = try applied([.instance(Self.instance), .route(Self.route),
                                      .domain(Domain(name: "d", hosts: ["d.example.test"]))])
        let plan = Planner.plan(desired: DesiredState(), revision: "r2", origin: "t", observed: try store.observe())
        #expect(plan.changes.map(\.id.kind) == [.route, .instance, .domain])
        #expect(plan.changes.allSatisfy { $0.action == .delete })
        #expect(plan.summary == Plan.Summary(add: 0, change: 1, destroy: 3))
    }

    @Test func pendingWorkIsNamedUntilDriversExist() throws {
        let desired = DesiredState(resources: [.instance(Self.instance), .domain(Domain(name: "d", hosts: ["d.example.test"], tls: .acme)),
                                               .domain(Domain(name: "plain", hosts: ["p.example.test"], tls: .none))])
        let plan = Planner.plan(desired: desired, revision: "r", origin: "t", observed: ObservedState())
        let pending = Dictionary(uniqueKeysWithValues: plan.changes.map { ($0.id.name, $0.pending) })
        #expect(pending["api"]?.first?.hasPrefix("no container runtime configured") == true)
        #expect(pending["d"]?.first?.hasPrefix("no certificate issuer configured") == true)
        #expect(pending["plain"] == [])
        // An issuer without an ACME directory still cannot order acme certificates.
        let noDirectory = Planner.plan(desired: desired, revision: "r", origin: "t", observed: ObservedState(),
                                       configuration: PlannerConfiguration(hasContainerRuntime: true, hasCertificateIssuer: true))
        #expect(noDirectory.changes.first { $0.id.name == "d" }?.pending.first?.hasPrefix("no ACME directory configured") == true)
        let withDrivers = Planner.plan(desired: desired, revision: "r", origin: "t", observed: ObservedState(),
                                       configuration: PlannerConfiguration(hasContainerRuntime: true, hasCertificateIssuer: true,
                                                                           acmeDirectory: "https://acme.example.test/directory"))
        #expect(withDrivers.changes.allSatisfy { $0.pending.isEmpty })
        #expect(withDrivers.certificates.map(\.action) == [.issue])
    }

    @Test func aRouteTableOverwrittenByHandIsRepublished() throws {
        let (store, desired) = try applied([.route(Route(name: "r", hosts: ["a.example.test"], to: .url("http://127.0.0.1:1")))])
        var observed = try store.observe()
        observed.routeTableHash = "0000"
        let plan = Planner.plan(desired: desired, revision: "r1", origin: "t", observed: observed)
        #expect(plan.routeTable.action == .update)
        #expect(plan.routeTable.reasons.map(\.code) == ["drift"])
        #expect(plan.summary == Plan.Summary(add: 0, change: 1, destroy: 0))
    }
}

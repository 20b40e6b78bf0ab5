import Foundation
import Testing
@testable import Reconciler
import Spec

/// The pure decisions behind a rollout: which replicas start and stop, and why.
@Suite struct WorkloadPlannerTests {
    static func web(version: String = "v1", replicas: Int = 2, runtime: Instance.Runtime = .docker) -> Instance {
        runtime == .docker
            ? Instance(name: "web", runtime: .docker, image: "example.test/web:1", env: ["VERSION": version],
                       ports: [.init(name: "http", containerPort: 8080)], replicas: replicas, health: .init(path: "/healthz", successes: 2))
            : Instance(name: "web", runtime: .process, command: ["./serve"], env: ["VERSION": version], ports: [.init(name: "http", containerPort: nil)],
                       replicas: replicas)
    }

    static func record(_ instance: Instance) -> InventoryRecord {
        InventoryRecord(id: instance.id, specHash: DesiredState(resources: [.instance(instance)]).specHash(of: .instance(instance)),
                        spec: instance.canonicalSpec, revision: "r1", appliedAt: "2026-11-27T00:00:00Z")
    }

    static func replica(_ instance: Instance, _ index: Int, _ state: ObservedReplica.State = .running) -> ObservedReplica {
        ObservedReplica(name: instance.replicaName(index), instance: instance.name, templateHash: instance.templateHash, replica: index,
                        runtime: instance.runtime, state: state, handle: "id\(index)")
    }

    static func plan(desired: [Instance], applied: [Instance] = [], seen: [ObservedReplica]?, foreign: [ForeignPortHolder] = [],
                     unavailable: [Instance.Runtime: String] = [:], runtimes: Set<Instance.Runtime> = [.docker, .process]) -> Plan {
        var configuration = PlannerConfiguration(portRange: 20000...20009)
        configuration.runtimes = runtimes
        // What was applied holds its leases, as after a clean apply.
        var leases: [Int: String] = [:]
        var records: [ResourceID: InventoryRecord] = [:]
        for instance in applied {
            var entry = record(instance)
            for owner in PortOwner.owners(of: instance) {
                let port = 20000 + leases.count
                leases[port] = owner.description
                entry.ports[owner.description] = port
            }
            records[instance.id] = entry
        }
        let observed = ObservedState(inventory: records, ports: leases,
                                     runtime: seen.map { RuntimeObservation(replicas: $0, foreign: foreign, unavailable: unavailable) })
        return Planner.plan(desired: DesiredState(resources: desired.map(Resource.instance)), revision: "r2", origin: "test",
                            observed: observed, configuration: configuration, now: Date(timeIntervalSince1970: 0))
    }

    static func summary(_ plan: Plan) -> [String] {
        plan.replicas.map { "\($0.kind.rawValue) \($0.replica)@\($0.templateHash == web().templateHash ? "v1" : "other") \($0.reason.code) \($0.phase.rawValue)" }
    }

    @Test("without a runtime observation nothing is started or stopped (berth plan without Docker)")
    func notObserved() {
        #expect(Self.plan(desired: [Self.web()], seen: nil).replicas.isEmpty)
    }

    @Test("a new instance starts every replica on its predicted ports, gated by its health check")
    func create() {
        let plan = Self.plan(desired: [Self.web()], seen: [])
        #expect(Self.summary(plan) == ["start 0@v1 new before-publish", "start 1@v1 new before-publish"])
        #expect(plan.replicas.map { $0.ports["http"] } == [20000, 20001])
        #expect(plan.replicas[0].what == "image example.test/web:1")
        #expect(plan.replicas[0].gate == "GET /healthz on http passing 2 times in a row within 1m")
        #expect(plan.replicas[0].name == "berth-web-\(Self.web().templateHash)-0")
    }

    @Test("a changed template starts the new replicas first and stops the old ones only after the table is live")
    func replace() {
        let old = Self.web(version: "v1"), new = Self.web(version: "v2")
        let plan = Self.plan(desired: [new], applied: [old], seen: [Self.replica(old, 0), Self.replica(old, 1)])
        let starts = plan.replicas.filter { $0.kind == .start }, stops = plan.replicas.filter { $0.kind == .stop }
        #expect(starts.map(\.reason.code) == ["replace", "replace"])
        #expect(starts.allSatisfy { $0.templateHash == new.templateHash && $0.phase == .beforePublish })
        #expect(stops.map(\.reason.code) == ["replaced", "replaced"])
        #expect(stops.allSatisfy { $0.templateHash == old.templateHash && $0.phase == .afterPublish })
        #expect(plan.changes.first?.action == .replace)
    }

    @Test("scaling keeps the template: up starts the new indices, down stops the highest after publishing")
    func scale() {
        let three = Self.web(replicas: 3), one = Self.web(replicas: 1)
        #expect(Self.summary(Self.plan(desired: [three], applied: [one], seen: [Self.replica(one, 0)]))
            == ["start 1@v1 scale-up before-publish", "start 2@v1 scale-up before-publish"])
        #expect(Self.summary(Self.plan(desired: [one], applied: [three], seen: (0..<3).map { Self.replica(three, $0) }))
            == ["stop 1@v1 scaled-down after-publish", "stop 2@v1 scaled-down after-publish"])
    }

    @Test("drift: an exited replica and a missing one are started again, and the instance shows as updated with the reasons")
    func drift() {
        let web = Self.web()
        let plan = Self.plan(desired: [web], applied: [web], seen: [Self.replica(web, 0, .exited(status: 137, at: nil))])
        #expect(Self.summary(plan) == ["start 0@v1 exited before-publish", "start 1@v1 missing before-publish"])
        #expect(plan.replicas[0].reason.message == "replica 0 exited with status 137")
        #expect(plan.changes.first?.action == .update)
        #expect(plan.changes.first?.reasons.map(\.code) == ["exited", "missing"])
        #expect(plan.hasChanges)
        // Running as declared: nothing to do.
        let steady = Self.plan(desired: [web], applied: [web], seen: [Self.replica(web, 0), Self.replica(web, 1)])
        #expect(steady.replicas.isEmpty && steady.changes.first?.action == .noop)
    }

    @Test("replicas of Berth's in no inventory are leftovers removed at once; a deleted instance's go after publishing")
    func leftoversAndDeletes() {
        let web = Self.web()
        let stray = ObservedReplica(name: "berth-web-0123456789ab-0", instance: "web", templateHash: "0123456789ab", replica: 0, runtime: .docker,
                                    state: .running, handle: "x")
        let gone = Instance(name: "gone", image: "example.test/gone:1", ports: [.init(name: "http", containerPort: 80)], replicas: 1)
        let plan = Self.plan(desired: [web], applied: [web, gone], seen: [Self.replica(web, 0), Self.replica(web, 1), stray, Self.replica(gone, 0)])
        let stops = plan.replicas.filter { $0.kind == .stop }.map { "\($0.instance) \($0.reason.code) \($0.phase.rawValue)" }
        #expect(stops.sorted() == ["gone deleted after-publish", "web leftover before-publish"])
    }

    @Test("a runtime that cannot be reached leaves its replicas alone and makes its instances pending")
    func unavailableRuntime() {
        let web = Self.web()
        let plan = Self.plan(desired: [web], applied: [web], seen: [], unavailable: [.docker: "connection refused"])
        #expect(plan.replicas.isEmpty, "nothing is re-created because the daemon did not answer")
        #expect(plan.changes.first?.pending.first?.contains("docker runtime cannot be reached") == true)
        // A runtime kind the controller does not have: pending, as before any runtime existed.
        let processOnly = Self.plan(desired: [web], seen: [], runtimes: [.process])
        #expect(processOnly.replicas.isEmpty)
        #expect(processOnly.changes.first?.pending.first?.hasPrefix("no container runtime configured") == true)
    }

    @Test("a port an unlabelled container publishes is never leased; one already leased is reported as a conflict")
    func foreignPorts() {
        let web = Self.web(replicas: 1)
        let avoided = Self.plan(desired: [web], seen: [], foreign: [ForeignPortHolder(port: 20000, holder: "container abc (postgres)")])
        #expect(avoided.replicas.first?.ports["http"] == 20001)
        #expect(avoided.conflicts.isEmpty)
        #expect(!avoided.ports.contains { $0.port == 20000 }, "never freed either: it is not Berth's")

        var configuration = PlannerConfiguration(portRange: 20000...20009, hasContainerRuntime: true)
        configuration.runtimes = [.docker]
        let owner = PortOwner(instance: "web", templateHash: web.templateHash, replica: 0, port: "http")
        let observed = ObservedState(inventory: [web.id: Self.record(web)], ports: [20000: owner.description],
                                     runtime: RuntimeObservation(replicas: [], foreign: [ForeignPortHolder(port: 20000, holder: "container abc (postgres)")]))
        let plan = Planner.plan(desired: DesiredState(resources: [.instance(web)]), revision: "r", origin: "t", observed: observed, configuration: configuration)
        #expect(plan.conflicts.count == 1)
        #expect(plan.conflicts.first?.message.contains("container abc (postgres)") == true)
        #expect(plan.changes.first?.reasons.contains { $0.code == "port-conflict" } == true)
    }

    @Test("a replica spec carries PORT and PORT_<NAME>: the container port inside Docker, the host port for a process")
    func replicaEnvironment() {
        let docker = Self.web(replicas: 1)
        let owner = PortOwner(instance: "web", templateHash: docker.templateHash, replica: 0, port: "http").description
        let spec = ReplicaSpec(instance: docker, replica: 0, leased: [owner: 20005], revision: "r")
        #expect(spec.environment["PORT"] == "8080" && spec.environment["PORT_HTTP"] == "8080" && spec.environment["VERSION"] == "v1")
        #expect(spec.ports == [.init(name: "http", hostPort: 20005, containerPort: 8080)])
        let process = Self.web(replicas: 1, runtime: .process)
        let processOwner = PortOwner(instance: "web", templateHash: process.templateHash, replica: 0, port: "http").description
        let processSpec = ReplicaSpec(instance: process, replica: 0, leased: [processOwner: 20006], revision: "r")
        #expect(processSpec.environment["PORT_HTTP"] == "20006" && processSpec.primaryPort == 20006)
        // The Docker create body: loopback binding, restart policy, limits and confinement as declared.
        var confined = docker
        confined.resources = .init(memoryBytes: 64 << 20, milliCPUs: 500)
        confined.security = .init(readOnlyRootFilesystem: true, dropCapabilities: ["ALL"])
        let body = DockerRuntime.createBody(ReplicaSpec(instance: confined, replica: 0, leased: [PortOwner(instance: "web", templateHash: confined.templateHash, replica: 0, port: "http").description: 20007], revision: "r"),
                                            image: "example.test/web:1", namespace: "ns")
        #expect(body["HostConfig"]?["PortBindings"]?["8080/tcp"]?.arrayValue?.first?["HostIp"]?.stringValue == "127.0.0.1")
        #expect(body["HostConfig"]?["PortBindings"]?["8080/tcp"]?.arrayValue?.first?["HostPort"]?.stringValue == "20007")
        #expect(body["HostConfig"]?["Memory"]?.intValue == 64 << 20 && body["HostConfig"]?["NanoCpus"]?.intValue == 500_000_000)
        #expect(body["HostConfig"]?["ReadonlyRootfs"]?.boolValue == true)
        #expect(body["HostConfig"]?["CapDrop"]?.arrayValue?.compactMap(\.stringValue) == ["ALL"])
        #expect(body["HostConfig"]?["RestartPolicy"]?["Name"]?.stringValue == "unless-stopped")
        #expect(body["Labels"]?["berth.managed"]?.stringValue == "ns")
        #expect(DockerRuntime.exitStatus("Exited (137) 3 seconds ago") == 137)
        #expect(DockerRuntime.demultiplex([1, 0, 0, 0, 0, 0, 0, 3] + Array("abc".utf8) + [2, 0, 0, 0, 0, 0, 0, 1] + Array("d".utf8)) == Array("abcd".utf8))
    }

    @Test("replicas failing their health checks leave the route table; when every one fails, all stay listed")
    func unreadyReplicas() throws {
        let web = Self.web(replicas: 2)
        var configuration = PlannerConfiguration(portRange: 20000...20009)
        configuration.runtimes = [.docker]
        let owners = PortOwner.owners(of: web)
        var record = Self.record(web)
        for (index, owner) in owners.enumerated() { record.ports[owner.description] = 20000 + index }
        func plan(unready: [String]) -> Plan {
            let observed = ObservedState(inventory: [web.id: record], ports: [20000: owners[0].description, 20001: owners[1].description],
                                         runtime: RuntimeObservation(replicas: [Self.replica(web, 0), Self.replica(web, 1)],
                                                                     unready: Dictionary(uniqueKeysWithValues: unready.map { ($0, "failed 3 health checks in a row") })))
            let route = Resource.route(Route(name: "r", domain: "d", path: "/", to: .instance(name: "web", port: "http")))
            let domain = Resource.domain(Domain(name: "d", hosts: ["d.example.test"]))
            return Planner.plan(desired: DesiredState(resources: [domain, .instance(web), route]), revision: "r", origin: "t",
                                observed: observed, configuration: configuration)
        }
        func ports(_ plan: Plan) -> [Int] {
            guard case .instance(_, _, let endpoints) = plan.routeTable.after.hosts.first?.routes.first?.upstream else { return [] }
            return endpoints.map(\.port).sorted()
        }
        #expect(ports(plan(unready: [])) == [20000, 20001])
        let one = plan(unready: [web.replicaName(1)])
        #expect(ports(one) == [20000])
        #expect(one.changes.first { $0.id == web.id }?.pending.first?.contains("not routed until it passes again") == true)
        #expect(ports(plan(unready: [web.replicaName(0), web.replicaName(1)])) == [20000, 20001])
    }

    @Test("a running replica past health.restartAfter failed checks is restarted in place; below it, or without it, it is only unrouted")
    func restartAfterFailedChecks() throws {
        var web = Self.web(replicas: 2)
        web.health?.restartAfter = 5
        let name = web.replicaName(1)
        func plan(_ instance: Instance, failed: Int) -> Plan {
            // Applied as it is, leases held: nothing else to change.
            let owners = PortOwner.owners(of: instance)
            var record = Self.record(instance)
            for (index, owner) in owners.enumerated() { record.ports[owner.description] = 20000 + index }
            let observed = ObservedState(inventory: [instance.id: record],
                                         ports: Dictionary(uniqueKeysWithValues: owners.enumerated().map { (20000 + $0.offset, $0.element.description) }),
                                         runtime: RuntimeObservation(replicas: [Self.replica(instance, 0), Self.replica(instance, 1)],
                                                                     unready: [name: "failed \(failed) health checks in a row (GET /healthz); last answer: HTTP 500"],
                                                                     failedChecks: [name: failed]))
            var configuration = PlannerConfiguration(portRange: 20000...20009)
            configuration.runtimes = [.docker]
            return Planner.plan(desired: DesiredState(resources: [.instance(instance)]), revision: "r2", origin: "test",
                                observed: observed, configuration: configuration, now: Date(timeIntervalSince1970: 0))
        }
        #expect(plan(web, failed: 4).replicas.isEmpty, "below the limit: left running")
        let restart = plan(web, failed: 5)
        #expect(restart.replicas.map { "\($0.kind.rawValue) \($0.replica) \($0.reason.code) \($0.phase.rawValue)" } == ["start 1 unhealthy before-publish"])
        #expect(restart.replicas.first?.reason.message == "replica 1 failed 5 health checks in a row (restartAfter: 5): restarted; last answer: HTTP 500")
        let change = try #require(restart.changes.first { $0.id == web.id })
        #expect(change.action == .update, "the plan shows the instance changing, with the reason")
        #expect(change.reasons.map(\.code) == ["unhealthy"])
        // Without restartAfter a failing replica is never restarted, however long it fails.
        #expect(plan(Self.web(replicas: 2), failed: 500).replicas.isEmpty)

        // Both failing (a shared cause, say): one restart per pass, the other keeps running.
        let both = Planner.plan(desired: DesiredState(resources: [.instance(web)]), revision: "r2", origin: "test",
                                observed: ObservedState(inventory: [web.id: Self.record(web)],
                                                        runtime: RuntimeObservation(replicas: [Self.replica(web, 0), Self.replica(web, 1)],
                                                                                    failedChecks: [web.replicaName(0): 9, web.replicaName(1): 9])),
                                configuration: { var c = PlannerConfiguration(portRange: 20000...20009); c.runtimes = [.docker]; return c }())
        #expect(both.replicas.map { "\($0.kind.rawValue) \($0.replica) \($0.reason.code)" } == ["start 0 unhealthy"])
    }
}

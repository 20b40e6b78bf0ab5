import Foundation
import Spec
import Testing
import TestSupport

/// Instances as containers: a real dockerd (started by .ci/run), a busybox image imported there,
/// `berth controller` and `berth-proxy` as processes.
@Suite(.serialized) struct DockerInstanceE2ETests {
    static func uniqueName(_ base: String) -> String { "\(base)\(Int.random(in: 1000...9999))" }

    @Test("create, labels and bindings, scale, replace under load with no failed request, scale down, delete")
    func lifecycle() throws {
        let name = Self.uniqueName("web")
        let stack = try InstanceStack(files: InstanceRepos.files(instance: InstanceRepos.dockerInstance(name, version: "v1"), instanceName: name),
                                      docker: true, holder: "ctl-docker-life")
        defer { stack.stop() }
        let host = InstanceRepos.host
        _ = try stack.proxy.waitFor("/version", host: host, timeout: 60)
        #expect(try stack.proxy.get("/version", host: host).body == "v1\n")

        // One container, named and labelled as Berth's, published on loopback on a leased port.
        var containers = try stack.containers()
        #expect(containers.count == 1, "\(containers.keys)")
        let (first, info) = try #require(containers.first)
        #expect(first.hasPrefix("berth-\(name)-") && first.hasSuffix("-0"), "\(first)")
        #expect(info.labels["berth.managed"] == stack.namespace)
        #expect(info.labels["berth.instance"] == name)
        #expect(info.labels["berth.replica"] == "0")
        #expect(info.labels["berth.template"]?.count == 12)
        #expect(info.labels["berth.revision"]?.hasPrefix("dir:") == true)
        let inspect = try JSONValue.parse(try DockerDaemon.docker(["inspect", first]).stdout).arrayValue?.first
        let binding = inspect?["HostConfig"]?["PortBindings"]?["8080/tcp"]?.arrayValue?.first
        #expect(binding?["HostIp"]?.stringValue == "127.0.0.1")
        let hostPort = try #require(binding?["HostPort"]?.stringValue.flatMap { Int($0) })
        #expect(stack.portRange.contains(hostPort))
        #expect(try stack.endpoints(host: host, route: "web") == [hostPort])
        #expect(inspect?["HostConfig"]?["RestartPolicy"]?["Name"]?.stringValue == "unless-stopped")
        let env = inspect?["Config"]?["Env"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(env.contains("PORT=8080") && env.contains("PORT_HTTP=8080") && env.contains("VERSION=v1"), "\(env)")

        // Scale to 3: three containers, each its own port, all in the table.
        try stack.write("instances.yaml", InstanceRepos.dockerInstance(name, version: "v1", replicas: 3))
        let scaled = eventually(timeout: 60) { (try? stack.endpoints(host: host, route: "web").count) == 3 }
        #expect(scaled, "\(stack.log)")
        containers = try stack.containers()
        #expect(containers.count == 3 && containers.values.allSatisfy { $0.state == "running" }, "\(containers.mapValues(\.state))")
        #expect(Set(try stack.endpoints(host: host, route: "web")).count == 3)

        // Replace (new VERSION) under steady load: every request answered 200, old replicas gone after.
        let load = LoadLoop(port: stack.proxy.port, host: host, path: "/version")
        Thread.sleep(forTimeInterval: 1)
        try stack.write("instances.yaml", InstanceRepos.dockerInstance(name, version: "v2", replicas: 3))
        let replaced = eventually(timeout: 90) {
            guard let current = try? stack.containers() else { return false }
            return current.count == 3 && current.keys.allSatisfy { !containers.keys.contains($0) } && (load.snapshot["v2\n"] ?? 0) > 20
        }
        Thread.sleep(forTimeInterval: 1)
        let result = load.stop()
        #expect(replaced, "\(stack.log)")
        #expect(result.bad == 0, "\(result.bad) of \(result.total) requests failed during the replace: \(result.failures)")
        #expect(result.bodies["v1\n", default: 0] > 0 && result.bodies["v2\n", default: 0] > 0, "\(result.bodies)")
        #expect(result.bodies.keys.allSatisfy { $0 == "v1\n" || $0 == "v2\n" }, "\(result.bodies)")
        let oldPorts = Set(try stack.leases().keys)
        #expect(oldPorts.count == 3, "the old generation's leases are freed: \((try? stack.leases()) ?? [:])")

        // Scale down to 1, then delete the instance (and its route): containers and leases go.
        try stack.write("instances.yaml", InstanceRepos.dockerInstance(name, version: "v2", replicas: 1))
        #expect(eventually(timeout: 60) { (try? stack.containers().count) == 1 && (try? stack.leases().count) == 1 }, "\(stack.log)")
        try stack.write("routes.yaml", Repos.route("web", domain: "app", path: "/", url: "http://127.0.0.1:9"))
        try stack.workspace.remove("instances.yaml")
        #expect(eventually(timeout: 60) { (try? stack.containers().isEmpty) == true && (try? stack.leases().isEmpty) == true }, "\(stack.log)")
    }

    @Test("a container removed or stopped by hand comes back; a leftover labelled one is pruned; an unlabelled one is never touched")
    func drift() throws {
        let name = Self.uniqueName("drift")
        let stack = try InstanceStack(files: InstanceRepos.files(instance: InstanceRepos.dockerInstance(name, version: "v1", replicas: 2), instanceName: name),
                                      docker: true, holder: "ctl-docker-drift")
        defer { stack.stop() }
        let host = InstanceRepos.host
        _ = try stack.proxy.waitFor("/version", host: host, timeout: 60)
        #expect(eventually(timeout: 30) { (try? stack.containers().count) == 2 })
        let names = try stack.containers().keys.sorted()

        // An unlabelled container sitting on a port of Berth's range, and a labelled leftover.
        let foreignPort = stack.portRange.upperBound
        let foreign = "unlabelled-\(name)"
        let leftover = "berth-\(name)-0123456789ab-0"
        defer { _ = try? DockerDaemon.docker(["rm", "-f", foreign, leftover]) }
        let ran = try DockerDaemon.docker(["run", "-d", "--name", foreign, "-p", "127.0.0.1:\(foreignPort):8080", DockerDaemon.image, "sleep", "600"])
        #expect(ran.succeeded, "\(ran)")
        let left = try DockerDaemon.docker(["run", "-d", "--name", leftover, "--label", "berth.managed=\(stack.namespace)", "--label", "berth.instance=\(name)",
                                            "--label", "berth.template=0123456789ab", "--label", "berth.replica=0", DockerDaemon.image, "sleep", "600"])
        #expect(left.succeeded, "\(left)")

        // Removed by hand → created again (reason missing); stopped by hand → started again (reason exited).
        try DockerDaemon.docker(["rm", "-f", names[0]])
        try DockerDaemon.docker(["stop", "-t", "1", names[1]])
        let restored = eventually(timeout: 60) {
            guard let current = try? stack.containers() else { return false }
            return Set(current.keys) == Set(names) && current.values.allSatisfy { $0.state == "running" }
        }
        #expect(restored, "\(stack.log)")
        // Removed by hand: gone by the next pass ("missing"), or, when the pass looks while Docker
        // is still removing it, seen in state "removing" ("not-running"); which one depends on timing.
        #expect(stack.log.contains("missing") || stack.log.contains("not-running"), "the pass names the reason: \(stack.log)")
        #expect(stack.log.contains("exited"), "the pass names the reason: \(stack.log)")
        #expect(eventually(timeout: 30) { (try? DockerDaemon.docker(["inspect", leftover]).succeeded) == false }, "the labelled leftover is removed: \(stack.log)")
        #expect(stack.log.contains("leftover"))
        let foreignState = try DockerDaemon.docker(["inspect", "--format", "{{.State.Status}}", foreign])
        #expect(foreignState.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "running", "an unlabelled container is never touched")
        #expect(try !stack.leases().keys.contains(foreignPort), "a port an unlabelled container publishes is never leased")
        #expect(try stack.proxy.get("/version", host: host).status == 200)
    }

    @Test("a container failing its checks past health.restartAfter is recreated on its port; the other is left alone")
    func wedgedContainerIsRecreated() throws {
        let name = Self.uniqueName("wedge")
        let stack = try InstanceStack(files: InstanceRepos.files(instance: InstanceRepos.dockerInstance(name, version: "v1", replicas: 2, restartAfter: 4),
                                                                 instanceName: name),
                                      docker: true, holder: "ctl-docker-wedge")
        defer { stack.stop() }
        let host = InstanceRepos.host
        _ = try stack.proxy.waitFor("/version", host: host, timeout: 60)
        #expect(eventually(timeout: 30) { (try? stack.endpoints(host: host, route: "web").count) == 2 })
        let ports = try stack.endpoints(host: host, route: "web")
        let names = try stack.containers().keys.sorted()
        #expect(names.count == 2)
        func id(_ container: String) -> String {
            (try? DockerDaemon.docker(["inspect", "--format", "{{.Id}}", container]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? ""
        }
        let before = names.map(id)

        // Wedge replica 0: its health file goes, so /healthz answers 404 for as long as this container lives.
        let wedged = try DockerDaemon.docker(["exec", names[0], "sh", "-c", "rm /tmp/www/healthz"])
        #expect(wedged.succeeded, "\(wedged)")
        #expect(eventually(timeout: 30) { (try? stack.endpoints(host: host, route: "web").count) == 1 }, "\(stack.log)")
        // At 4 failed checks it is recreated under the same name and port, gated, and listed again.
        #expect(eventually(timeout: 60) { let now = id(names[0]); return !now.isEmpty && now != before[0] }, "\(stack.log)")
        #expect(eventually(timeout: 60) { (try? stack.endpoints(host: host, route: "web")) == ports }, "\(stack.log)")
        #expect(id(names[1]) == before[1], "the healthy container is left alone")
        #expect(stack.log.contains("(unhealthy)"), "\(stack.log)")
        #expect(try stack.proxy.get("/version", host: host).status == 200)
    }

    @Test("a new image that never gets healthy is rolled back: old replicas keep serving, status says why, a fix converges")
    func failedHealthCheckRollsBack() throws {
        let name = Self.uniqueName("sick")
        let stack = try InstanceStack(files: InstanceRepos.files(instance: InstanceRepos.dockerInstance(name, version: "v1"), instanceName: name),
                                      docker: true, holder: "ctl-docker-sick")
        defer { stack.stop() }
        let host = InstanceRepos.host
        _ = try stack.proxy.waitFor("/version", host: host, timeout: 60)
        let before = try stack.containers().keys.sorted()
        let leasesBefore = try stack.leases()

        let load = LoadLoop(port: stack.proxy.port, host: host, path: "/version")
        try stack.write("instances.yaml", InstanceRepos.dockerInstance(name, version: "v2", healthy: false, startTimeout: "3s"))
        let failed = eventually(timeout: 60) { (try? stack.condition("Instance/\(name)"))??["condition"]?.stringValue == "Failed" }
        let result = load.stop()
        #expect(failed, "\(stack.log)")
        let condition = try stack.condition("Instance/\(name)")
        #expect(condition?["reason"]?.stringValue == "unhealthy", "\(String(describing: condition))")
        #expect(condition?["message"]?.stringValue?.contains("HTTP 404") == true, "the last health answer is shown: \(String(describing: condition))")
        #expect(condition?["next_retry"]?.stringValue != nil)
        #expect(result.bad == 0, "the old replica kept serving: \(result.failures)")
        #expect(result.bodies.keys.allSatisfy { $0 == "v1\n" }, "\(result.bodies)")
        // Only the old container remains (the new one was removed), and the new leases were given back.
        #expect(eventually(timeout: 10) { (try? stack.containers().keys.sorted()) == before }, "\((try? stack.containers().keys.sorted()) ?? [])")
        #expect(try stack.leases() == leasesBefore)

        // Fixed: the next pass rolls out v2.
        try stack.write("instances.yaml", InstanceRepos.dockerInstance(name, version: "v2"))
        #expect(eventually(timeout: 90) { (try? stack.proxy.get("/version", host: host).body) == "v2\n" }, "\(stack.log)")
        #expect(eventually(timeout: 30) { (try? stack.condition("Instance/\(name)"))??["condition"]?.stringValue == "Ready" })
    }

    @Test("an image that is not on the host and cannot be pulled fails with a clear message; nothing else is held back")
    func missingImage() throws {
        let name = Self.uniqueName("ghost")
        var files = InstanceRepos.files(instance: InstanceRepos.dockerInstance(name, version: "v1", image: "127.0.0.1:1/nothing/here:1"), instanceName: name)
        files["other.yaml"] = Repos.domain("other", hosts: ["other.example.test"]) + "---\n" + Repos.route("other", domain: "other", path: "/", url: "http://127.0.0.1:9")
        let stack = try InstanceStack(files: files, docker: true, holder: "ctl-docker-ghost")
        defer { stack.stop() }
        let failed = eventually(timeout: 60) { (try? stack.condition("Instance/\(name)"))??["reason"]?.stringValue == "image-unavailable" }
        #expect(failed, "\(stack.log)")
        let message = try stack.condition("Instance/\(name)")?["message"]?.stringValue ?? ""
        #expect(message.contains("127.0.0.1:1/nothing/here:1") && message.contains("could not be pulled"), "\(message)")
        #expect(try stack.condition("Route/other")?["condition"]?.stringValue == "Ready")
        #expect(try stack.containers().isEmpty)
        #expect(try stack.leases().isEmpty, "the leases taken for the replica that could not start are given back")
    }
}

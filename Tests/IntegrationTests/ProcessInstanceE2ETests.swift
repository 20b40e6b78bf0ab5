import Foundation
import Spec
import Testing
import TestSupport

/// `runtime: process` instances: python3 servers as children of a real `berth controller`.
@Suite(.serialized) struct ProcessInstanceE2ETests {
    /// Processes of this deployment (found by the marker Berth puts in their environment).
    static func processes(namespace: String) -> [Int32: String] {
        var found: [Int32: String] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/environ") else { continue }
            let variables = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard variables.contains("BERTH_NAMESPACE=\(namespace)"), getpgid(pid) == pid,
                  let replica = variables.first(where: { $0.hasPrefix("BERTH_REPLICA=") }) else { continue }
            found[pid] = String(replica.dropFirst("BERTH_REPLICA=".count))
        }
        return found
    }

    static func stack(version: String, replicas: Int, holder: String, sickPrefix: String = "/nonexistent/", wedgePrefix: String = "/nonexistent/",
                      exitAfter: String = "", restartAfter: Int? = nil) throws -> (InstanceStack, String) {
        // Outside the repository (the controller reads YAML only, but the script is not desired state).
        let script = NSTemporaryDirectory() + "berth-pyserver-\(UUID().uuidString).py"
        try InstanceRepos.pythonServer.write(toFile: script, atomically: true, encoding: .utf8)
        let files = InstanceRepos.files(instance: InstanceRepos.processInstance("api", script: script, version: version, replicas: replicas,
                                                                                sickPrefix: sickPrefix, wedgePrefix: wedgePrefix, exitAfter: exitAfter,
                                                                                restartAfter: restartAfter), instanceName: "api")
        return (try InstanceStack(files: files, docker: false, holder: holder), script)
    }

    /// Two replicas of v1, both in the route table; returns the stack and their ports.
    static func twoServing(holder: String, sickPrefix: String = "/nonexistent/", wedgePrefix: String = "/nonexistent/",
                           restartAfter: Int? = nil) throws -> (InstanceStack, [Int]) {
        let (stack, _) = try stack(version: "v1", replicas: 2, holder: holder, sickPrefix: sickPrefix, wedgePrefix: wedgePrefix,
                                   restartAfter: restartAfter)
        do {
            _ = try stack.proxy.waitFor("/version", host: InstanceRepos.host, timeout: 30)
            #expect(eventually(timeout: 20) { (try? stack.endpoints(host: InstanceRepos.host, route: "web").count) == 2 })
            return (stack, try stack.endpoints(host: InstanceRepos.host, route: "web"))
        } catch {
            stack.stop()
            throw error
        }
    }

    @Test("processes start on leased ports, replace under load with no failed request, a killed one comes back, all stop with the controller")
    func lifecycle() throws {
        let (stack, script) = try Self.stack(version: "v1", replicas: 2, holder: "ctl-process-life")
        defer { stack.stop() }
        let host = InstanceRepos.host
        _ = try stack.proxy.waitFor("/version", host: host, timeout: 30)
        #expect(try stack.proxy.get("/version", host: host).body == "v1\n")
        var running = Self.processes(namespace: stack.namespace)
        #expect(running.count == 2, "\(running)")
        let ports = try stack.endpoints(host: host, route: "web")
        #expect(ports.count == 2 && ports.allSatisfy(stack.portRange.contains), "\(ports)")

        // Replace under load.
        let load = LoadLoop(port: stack.proxy.port, host: host, path: "/version")
        Thread.sleep(forTimeInterval: 0.5)
        try stack.write("instances.yaml", InstanceRepos.processInstance("api", script: script, version: "v2", replicas: 2))
        let replaced = eventually(timeout: 60) {
            let now = Self.processes(namespace: stack.namespace)
            return now.count == 2 && Set(now.keys).isDisjoint(with: running.keys) && (load.snapshot["v2\n"] ?? 0) > 20
        }
        Thread.sleep(forTimeInterval: 0.5)
        let result = load.stop()
        #expect(replaced, "\(stack.log)")
        #expect(result.bad == 0, "\(result.bad) of \(result.total) failed during the replace: \(result.failures)")
        #expect(result.bodies["v1\n", default: 0] > 0 && result.bodies["v2\n", default: 0] > 0, "\(result.bodies)")

        // A replica killed from outside is started again at once (its exit triggers a pass).
        running = Self.processes(namespace: stack.namespace)
        let (victim, replica) = try #require(running.first, "no replica running after the replace: \(stack.log)")
        kill(victim, SIGKILL)
        let back = eventually(timeout: 30) { Self.processes(namespace: stack.namespace).contains { $0.value == replica && $0.key != victim } }
        #expect(back, "\(stack.log)")
        // The exit's log line and a pass that notices the replica gone race each other: the
        // replacement can be visible before the line is written.
        #expect(eventually(timeout: 5) { stack.log.contains("exited") }, "\(stack.log)")
        #expect(eventually(timeout: 10) { (try? stack.proxy.get("/version", host: host).body) == "v2\n" })

        // SIGTERM to the controller stops its processes too.
        #expect(stack.controller.process.signal(SIGTERM, waitingUpTo: 30) == 0)
        #expect(eventually(timeout: 10) { Self.processes(namespace: stack.namespace).isEmpty }, "\(Self.processes(namespace: stack.namespace))")
    }

    @Test("a process that never gets healthy is rolled back; one the controller did not start (left by a killed controller) is taken over")
    func healthAndTakeOver() throws {
        let (stack, script) = try Self.stack(version: "v1", replicas: 1, holder: "ctl-process-sick")
        defer { stack.stop() }
        let host = InstanceRepos.host
        _ = try stack.proxy.waitFor("/version", host: host, timeout: 30)
        let first = Self.processes(namespace: stack.namespace)

        try stack.write("instances.yaml", InstanceRepos.processInstance("api", script: script, version: "v2", replicas: 1, healthy: false))
        let failed = eventually(timeout: 60) { (try? stack.condition("Instance/api"))??["condition"]?.stringValue == "Failed" }
        #expect(failed, "\(stack.log)")
        let message = try stack.condition("Instance/api")?["message"]?.stringValue ?? ""
        #expect(message.contains("HTTP 500") && message.contains("sick"), "\(message)")
        #expect(Self.processes(namespace: stack.namespace) == first, "only the old process runs")
        #expect(try stack.proxy.get("/version", host: host).body == "v1\n")

        // Back to the healthy spec, then kill -9 the controller: its process keeps running, and a new
        // controller takes it over instead of starting a second one on the same port.
        try stack.write("instances.yaml", InstanceRepos.processInstance("api", script: script, version: "v1", replicas: 1))
        #expect(eventually(timeout: 30) { (try? stack.condition("Instance/api"))??["condition"]?.stringValue == "Ready" }, "\(stack.log)")
        stack.controller.process.kill()
        #expect(Self.processes(namespace: stack.namespace) == first)
        let second = try ControllerProcess(repo: stack.workspace.path, redis: stack.redis, holder: "ctl-process-second", interval: "1s",
                                           extra: ["--port-range", "\(stack.portRange.lowerBound)-\(stack.portRange.upperBound)", "--no-docker"])
        defer { _ = second.process.signal(SIGTERM) }
        Thread.sleep(forTimeInterval: 4)
        #expect(Self.processes(namespace: stack.namespace) == first, "taken over, not restarted: \(second.process.output)")
        #expect(try stack.proxy.get("/version", host: host).body == "v1\n")
        #expect(second.process.signal(SIGTERM, waitingUpTo: 30) == 0)
        #expect(eventually(timeout: 10) { Self.processes(namespace: stack.namespace).isEmpty })
    }

    @Test("a running replica that starts failing its health check leaves the route table, and comes back when it passes again")
    func unhealthyReplicaIsNotRouted() throws {
        let sick = try TemporaryDirectory(prefix: "berth-sick")
        let (stack, both) = try Self.twoServing(holder: "ctl-process-health", sickPrefix: sick.path + "/sick-")
        defer { stack.stop() }
        let host = InstanceRepos.host
        let (failing, healthy) = (both[0], both[1])

        try "".write(toFile: sick.path + "/sick-\(failing)", atomically: true, encoding: .utf8)
        #expect(eventually(timeout: 20) { (try? stack.endpoints(host: host, route: "web")) == [healthy] }, "\(stack.log)")
        // The pass publishes the route table before it records status, so status may trail the table
        // by a moment: wait for it rather than read it once.
        let progressing = eventually(timeout: 10) { (try? stack.condition("Instance/api"))??["condition"]?.stringValue == "Progressing" }
        let message = try stack.condition("Instance/api")?["message"]?.stringValue ?? ""
        #expect(progressing, "\(message)")
        #expect(message.contains("failed 3 health checks in a row") && message.contains("HTTP 500"), "\(message)")
        #expect(try (0..<20).allSatisfy { _ in try stack.proxy.get("/version", host: host).status == 200 })
        #expect(Self.processes(namespace: stack.namespace).count == 2, "an unready replica keeps running")

        try FileManager.default.removeItem(atPath: sick.path + "/sick-\(failing)")
        #expect(eventually(timeout: 20) { (try? stack.endpoints(host: host, route: "web")) == both }, "\(stack.log)")
        #expect(eventually(timeout: 10) { (try? stack.condition("Instance/api"))??["condition"]?.stringValue == "Ready" })
    }

    @Test("a replica failing its checks for longer than health.restartAfter is restarted on its ports; the other is left alone")
    func wedgedReplicaIsRestarted() throws {
        let wedge = try TemporaryDirectory(prefix: "berth-wedge")
        let (stack, both) = try Self.twoServing(holder: "ctl-process-wedge", wedgePrefix: wedge.path + "/wedge-", restartAfter: 5)
        defer { stack.stop() }
        let host = InstanceRepos.host
        let (failing, healthy) = (both[0], both[1])
        let before = Self.processes(namespace: stack.namespace)
        #expect(before.count == 2, "\(before)")

        // The replica wedges: it fails every check from now on, until it is restarted.
        let marker = wedge.path + "/wedge-\(failing)"
        try "".write(toFile: marker, atomically: true, encoding: .utf8)
        #expect(eventually(timeout: 20) { (try? stack.endpoints(host: host, route: "web")) == [healthy] }, "\(stack.log)")
        #expect(!FileManager.default.fileExists(atPath: marker), "the wedged process took the marker")
        // At 5 failed checks (1 s apart) it is restarted on the same port, gated, and listed again.
        #expect(eventually(timeout: 30) { stack.log.contains("(unhealthy)") }, "\(stack.log)")
        #expect(eventually(timeout: 20) { (try? stack.endpoints(host: host, route: "web")) == both }, "\(stack.log)")
        let after = Self.processes(namespace: stack.namespace)
        #expect(after.count == 2, "\(after)")
        #expect(Set(after.keys).intersection(before.keys).count == 1, "one process replaced, the other untouched: \(before) → \(after)")
        #expect(eventually(timeout: 10) { (try? stack.condition("Instance/api"))??["condition"]?.stringValue == "Ready" })
        #expect(try (0..<10).allSatisfy { _ in try stack.proxy.get("/version", host: host).status == 200 })
        // It stays up: no second restart once it passes.
        Thread.sleep(forTimeInterval: 3)
        #expect(Self.processes(namespace: stack.namespace) == after)
    }

    @Test("a replica restarted for failing its checks that fails its gate too is removed, and started again after the backoff once it can pass")
    func restartThatFailsItsGateIsRemovedAndRetried() throws {
        let sick = try TemporaryDirectory(prefix: "berth-resick")
        let (stack, both) = try Self.twoServing(holder: "ctl-process-regate", sickPrefix: sick.path + "/sick-", restartAfter: 3)
        defer { stack.stop() }
        let host = InstanceRepos.host
        let failing = both[0]

        // Sick by its port: the restarted process on the same port is sick too, fails its gate
        // (startTimeout 8 s) and is removed; the healthy replica serves throughout.
        try "".write(toFile: sick.path + "/sick-\(failing)", atomically: true, encoding: .utf8)
        let failed = eventually(timeout: 45) { (try? stack.condition("Instance/api"))??["condition"]?.stringValue == "Failed" }
        #expect(failed, "\(stack.log)")
        let message = try stack.condition("Instance/api")?["message"]?.stringValue ?? ""
        #expect(message.contains("failed again and was removed"), "\(message)")
        #expect(stack.log.contains("(unhealthy)"), "\(stack.log)")
        #expect(Self.processes(namespace: stack.namespace).count == 1, "the restarted replica was removed again")
        // Its lease stays listed until it is started again; the proxies' passive health skips the
        // refused port, so every request is served by the healthy one.
        #expect(try (0..<10).allSatisfy { _ in try stack.proxy.get("/version", host: host).status == 200 })

        // Mended: the next retry starts it again, it passes its gate and is listed.
        try FileManager.default.removeItem(atPath: sick.path + "/sick-\(failing)")
        #expect(eventually(timeout: 60) { (try? stack.endpoints(host: host, route: "web")) == both }, "\(stack.log)")
        #expect(eventually(timeout: 20) { (try? stack.condition("Instance/api"))??["condition"]?.stringValue == "Ready" }, "\(stack.log)")
        #expect(Self.processes(namespace: stack.namespace).count == 2)
    }

    @Test("a process that keeps dying soon after it starts is restarted with a growing delay, and status says so")
    func crashLoopBacksOff() throws {
        let (stack, _) = try Self.stack(version: "v1", replicas: 1, holder: "ctl-process-crash", exitAfter: "1.5")
        defer { stack.stop() }
        _ = try stack.proxy.waitFor("/version", host: InstanceRepos.host, timeout: 30)
        var sawBackoff = false
        let deadline = Date().addingTimeInterval(12)
        while Date() < deadline {
            if let message = try? stack.condition("Instance/api")?["message"]?.stringValue, message.contains("crash-loop backoff") { sawBackoff = true }
            Thread.sleep(forTimeInterval: 0.2)
        }
        let starts = stack.log.components(separatedBy: "started berth-api-").count - 1
        // Dying 1.5 s after each start, it would be started 7 or 8 times in 12 s without a backoff;
        // with 1, 2, 4 … s between restarts it is started 4 or 5 times.
        #expect(starts >= 3 && starts <= 5, "\(starts) starts\n\(stack.log)")
        #expect(sawBackoff, "\(stack.log)")
        #expect(stack.log.contains("exited"))
    }
}

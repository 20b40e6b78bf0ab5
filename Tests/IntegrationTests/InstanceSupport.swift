import Foundation
import RedisClient
import Spec
import Testing
import TestSupport

/// A controller on a directory repository (re-read every second), a berth-proxy and a private Redis,
/// with a port range of its own so tests running side by side never lease the same host port.
final class InstanceStack {
    let redis: RedisServerProcess
    let workspace: Workspace
    let controller: ControllerProcess
    let proxy: ProxyProcess
    let portRange: ClosedRange<Int>
    let docker: Bool

    /// The label value / environment marker that tells this deployment's replicas from others'.
    var namespace: String { String(SHA256.hex(Array((redis.urlString + "|berth:").utf8)).prefix(12)) }

    init(files: [String: String], docker: Bool, holder: String) throws {
        if docker { try DockerDaemon.require() }
        self.docker = docker
        redis = try RedisServerProcess.start()
        workspace = try Workspace()
        for (path, text) in files { try workspace.write(path, text) }
        // Below the kernel's ephemeral range (32768+), so no client socket ever sits on a leased port.
        let low = 21_000 + Int.random(in: 0..<110) * 100
        portRange = low...(low + 99)
        let extra = ["--port-range", "\(low)-\(low + 99)", "--drain", "300ms", "--proxy-wait", "5s", "--stop-grace", "2s"]
            + (docker ? ["--docker-host", DockerDaemon.host, "--no-processes"] : ["--no-docker"])
        controller = try ControllerProcess(repo: workspace.path, redis: redis, holder: holder, interval: "1s", extra: extra)
        proxy = try ProxyProcess(redis: redis, replica: "p1")
    }

    func write(_ path: String, _ text: String) throws { try workspace.write(path, text) }

    /// Stops the controller (SIGTERM: process replicas stop with it), then removes any container left.
    func stop() {
        _ = controller.process.signal(SIGTERM, waitingUpTo: 20)
        if docker {
            if let ids = try? DockerDaemon.docker(["ps", "-aq", "--filter", "label=berth.managed=\(namespace)"]).stdout,
               !ids.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                _ = try? DockerDaemon.docker(["rm", "-f"] + ids.split(separator: "\n").map(String.init))
            }
        }
        proxy.process.kill()
        redis.stop()
    }

    /// This deployment's containers, by name → (state, labels).
    func containers() throws -> [String: (state: String, labels: [String: String])] {
        let listed = try DockerDaemon.docker(["ps", "-a", "--filter", "label=berth.managed=\(namespace)", "--format", "{{.Names}}"])
        var result: [String: (String, [String: String])] = [:]
        for name in listed.stdout.split(separator: "\n").map(String.init) where !name.isEmpty {
            let inspect = try DockerDaemon.docker(["inspect", name])
            guard let object = try JSONValue.parse(inspect.stdout).arrayValue?.first else { continue }
            let labels = object["Config"]?["Labels"]?.objectValue?.compactMapValues(\.stringValue) ?? [:]
            result[name] = (object["State"]?["Status"]?.stringValue ?? "?", labels)
        }
        return result
    }

    func routeTable() throws -> JSONValue {
        let connection = try redis.connect()
        defer { connection.close() }
        guard let text = try connection.send(["GET", "berth:routetable"]).string else { throw TestSupportError("no route table published") }
        return try JSONValue.parse(text)
    }

    /// Endpoint ports of the route named `route` in the live table.
    func endpoints(host: String, route: String) throws -> [Int] {
        let table = try routeTable()
        let hostEntry = table["hosts"]?.arrayValue?.first { $0["host"]?.stringValue == host }
        let routes = hostEntry?["routes"]?.arrayValue ?? []
        let entry = routes.first { $0["route"]?.stringValue == route }
        return (entry?["upstream"]?["endpoints"]?.arrayValue ?? []).compactMap { $0["port"]?.intValue }.sorted()
    }

    func condition(_ id: String) throws -> JSONValue? {
        guard let text = try statusField(redis, "resources"), !text.isEmpty else { return nil }
        return try JSONValue.parse(text)[id]
    }

    func leases() throws -> [Int: String] {
        let connection = try redis.connect()
        defer { connection.close() }
        let items = try connection.send(["HGETALL", "berth:ports"]).array ?? []
        var result: [Int: String] = [:]
        for index in stride(from: 0, to: items.count - 1, by: 2) {
            if let port = items[index].string.flatMap({ Int($0) }) { result[port] = items[index + 1].string ?? "" }
        }
        return result
    }

    /// What the controller printed, for failure messages.
    var log: String { controller.process.output }
}

/// Requests sent back to back through the proxy from a thread of their own, counting answers.
final class LoadLoop: @unchecked Sendable {
    private let lock = NSLock()
    private var running = true
    private(set) var statuses: [Int: Int] = [:]
    private(set) var bodies: [String: Int] = [:]
    private(set) var failures: [String] = []
    private let thread: Thread
    private let done = DispatchSemaphore(value: 0)

    init(port: Int, host: String, path: String) {
        let box = Box()
        thread = Thread {
            while box.loop?.isRunning ?? false {
                do {
                    let response = try SimpleHTTP.request(port: port, "GET", path, host: host, timeout: 10)
                    box.loop?.record(status: response.status, body: response.body, failure: nil)
                } catch {
                    box.loop?.record(status: 0, body: "", failure: "\(error)")
                }
            }
            box.loop?.done.signal()
        }
        box.loop = self
        thread.start()
    }

    private final class Box: @unchecked Sendable { weak var loop: LoadLoop? }

    private var isRunning: Bool { lock.withLock { running } }

    private func record(status: Int, body: String, failure: String?) {
        lock.withLock {
            statuses[status, default: 0] += 1
            if status == 200 { bodies[body, default: 0] += 1 }
            if let failure, failures.count < 20 { failures.append(failure) }
            if status != 200, status != 0, failures.count < 20 { failures.append("HTTP \(status): \(body.prefix(200))") }
        }
    }

    /// Stops and returns (requests, non-200 answers or errors, bodies seen).
    func stop() -> (total: Int, bad: Int, bodies: [String: Int], failures: [String]) {
        lock.withLock { running = false }
        done.wait()
        return lock.withLock {
            let total = statuses.values.reduce(0, +)
            return (total, total - (statuses[200] ?? 0), bodies, failures)
        }
    }

    var snapshot: [String: Int] { lock.withLock { bodies } }
}

enum InstanceRepos {
    static let host = "app.example.test"

    /// A busybox container serving `/version` (the VERSION variable) and `/healthz` (unless `healthy` is false).
    static func dockerInstance(_ name: String, version: String, replicas: Int = 1, healthy: Bool = true, startTimeout: String = "20s",
                               image: String = DockerDaemon.image, restartAfter: Int? = nil, extra: String = "") -> String {
        let health = healthy ? "echo ok > /tmp/www/healthz && " : ""
        return """
        apiVersion: berth/v1
        kind: Instance
        metadata: {name: \(name)}
        spec:
          image: \(image)
          command:
            - sh
            - -c
            - 'mkdir -p /tmp/www && \(health)echo "$VERSION" > /tmp/www/version && exec httpd -f -p 8080 -h /tmp/www'
          env: {VERSION: "\(version)"}
          replicas: \(replicas)
          ports:
            - {name: http, containerPort: 8080}
          health: {path: /healthz, interval: 1s, timeout: 500ms, startTimeout: \(startTimeout)\(restartAfter.map { ", restartAfter: \($0)" } ?? "")}
        \(extra)
        """
    }

    /// A python3 process serving `/version` and `/healthz` (500 when `healthy` is false).
    /// With `sickPrefix`, a replica's /healthz answers 500 while the file `<sickPrefix><its port>` exists.
    /// With `wedgePrefix`, a replica that sees the file `<wedgePrefix><its port>` on a check removes it
    /// and answers 500 from then on, until it is restarted (a wedged program; its successor is fine).
    /// With `exitAfter` (seconds), each replica exits with status 3 that long after it started.
    static func processInstance(_ name: String, script: String, version: String, replicas: Int = 1, healthy: Bool = true,
                                sickPrefix: String = "/nonexistent/", wedgePrefix: String = "/nonexistent/", exitAfter: String = "",
                                restartAfter: Int? = nil) -> String {
        """
        apiVersion: berth/v1
        kind: Instance
        metadata: {name: \(name)}
        spec:
          runtime: process
          command: ["python3", "\(script)"]
          env: {VERSION: "\(version)", SICK: "\(healthy ? "" : "yes")", SICK_FILE_PREFIX: "\(sickPrefix)", WEDGE_FILE_PREFIX: "\(wedgePrefix)", EXIT_AFTER: "\(exitAfter)"}
          replicas: \(replicas)
          ports:
            - {name: http}
          health: {path: /healthz, interval: 1s, timeout: 500ms, startTimeout: 8s\(restartAfter.map { ", restartAfter: \($0)" } ?? "")}

        """
    }

    static let pythonServer = """
        import http.server, os
        WEDGED = []
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def do_GET(self):
                sick_file = os.environ.get("SICK_FILE_PREFIX", "/nonexistent/") + os.environ["PORT_HTTP"]
                wedge_file = os.environ.get("WEDGE_FILE_PREFIX", "/nonexistent/") + os.environ["PORT_HTTP"]
                if self.path == "/healthz" and os.path.exists(wedge_file):
                    WEDGED.append(True)
                    os.remove(wedge_file)
                if self.path == "/healthz" and (os.environ.get("SICK") or os.path.exists(sick_file) or WEDGED):
                    status, body = 500, b"sick\\n"
                elif self.path == "/healthz":
                    status, body = 200, b"ok\\n"
                else:
                    status, body = 200, (os.environ.get("VERSION", "") + "\\n").encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def log_message(self, *args):
                pass
        if os.environ.get("EXIT_AFTER"):
            import threading
            threading.Timer(float(os.environ["EXIT_AFTER"]), lambda: os._exit(3)).start()
        http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT_HTTP"])), Handler).serve_forever()

        """

    static func files(instance: String, instanceName: String) -> [String: String] {
        [
            "domains.yaml": Repos.domain("app", hosts: [host]),
            "routes.yaml": Repos.route("web", domain: "app", path: "/", instance: instanceName),
            "instances.yaml": instance,
        ]
    }
}

import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Spec

/// Containers through the Docker Engine API (unix socket or tcp), never the `docker` CLI. Only
/// containers labelled `berth.managed=<namespace>` are ever stopped or removed; every other
/// container is at most reported, when it publishes a host port in Berth's range.
public final class DockerRuntime: ContainerRuntime, @unchecked Sendable {
    public static let managedLabel = "berth.managed"
    public static let maximumAPIVersion = (1, 41)

    public let kind: Instance.Runtime = .docker
    /// Tells this Berth's containers from another's on a shared daemon (the Redis prefix and address).
    public let namespace: String
    private let base: String
    /// The daemon's socket file, for `unix://` hosts.
    private let socketPath: String?
    private let http: HTTPClient
    private let lock = NSLock()
    private var apiVersion: String?
    private let timeout: TimeAmount

    /// `host` is `DOCKER_HOST` syntax: `unix:///var/run/docker.sock` (default) or `tcp://127.0.0.1:2375`.
    public init(host: String? = nil, namespace: String, timeoutSeconds: Int64 = 60) throws {
        let host = host ?? ProcessInfo.processInfo.environment["DOCKER_HOST"] ?? "unix:///var/run/docker.sock"
        if host.hasPrefix("unix://") {
            let path = String(host.dropFirst("unix://".count))
            guard !path.isEmpty else { throw RuntimeError(code: "docker-host", message: "DOCKER_HOST \(host) names no socket") }
            base = "http+unix://" + (path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? path)
            socketPath = path
        } else if host.hasPrefix("tcp://") {
            base = "http://" + host.dropFirst("tcp://".count)
            socketPath = nil
        } else {
            throw RuntimeError(code: "docker-host", message: "DOCKER_HOST \(host) is neither unix:// nor tcp://",
                               hint: "e.g. unix:///var/run/docker.sock or tcp://127.0.0.1:2375")
        }
        self.namespace = namespace
        self.http = HTTPClient.shared
        self.timeout = .seconds(timeoutSeconds)
    }

    // MARK: ContainerRuntime

    public func observe(portRange: ClosedRange<Int>) throws -> RuntimeObservation {
        let (status, body) = try call("GET", "/containers/json?all=1")
        guard status == 200, let list = try? JSONValue.parse(bytes: body).arrayValue else {
            throw apiError("list containers", status, body)
        }
        var result = RuntimeObservation()
        for item in list {
            let labels = item["Labels"]?.objectValue?.compactMapValues(\.stringValue) ?? [:]
            let id = item["Id"]?.stringValue ?? ""
            let name = item["Names"]?.arrayValue?.first?.stringValue.map { $0.hasPrefix("/") ? String($0.dropFirst()) : $0 } ?? id
            let published = (item["Ports"]?.arrayValue ?? []).compactMap { $0["PublicPort"]?.intValue }
            guard labels[Self.managedLabel] == namespace else {
                // Someone else's: reported when it sits on a port Berth may lease, otherwise ignored.
                if labels[Self.managedLabel] == nil, item["State"]?.stringValue == "running" {
                    for port in Set(published) where portRange.contains(port) {
                        result.foreign.append(ForeignPortHolder(port: port, holder: "container \(id.prefix(12)) (\(name))"))
                    }
                }
                continue
            }
            guard let instance = labels["berth.instance"], let hash = labels["berth.template"],
                  let replica = labels["berth.replica"].flatMap({ Int($0) }) else { continue }
            let state: ObservedReplica.State
            switch item["State"]?.stringValue ?? "" {
            case "running": state = .running
            case "exited", "dead": state = .exited(status: Self.exitStatus(item["Status"]?.stringValue ?? ""), at: nil)
            case let other: state = .other(other.isEmpty ? "unknown" : other)
            }
            result.replicas.append(ObservedReplica(name: name, instance: instance, templateHash: hash, replica: replica, runtime: .docker,
                                                   state: state, handle: id, hostPorts: Array(Set(published)).sorted()))
        }
        return result
    }

    public func start(_ spec: ReplicaSpec) throws {
        guard let image = spec.image else { throw RuntimeError(code: "no-image", message: "instance \(spec.instance) names no image") }
        try removeOwned(name: spec.name)
        let body = Self.createBody(spec, image: image, namespace: namespace)
        var (status, reply) = try call("POST", "/containers/create?name=\(spec.name)", json: body)
        if status == 404 {
            try pull(image)
            (status, reply) = try call("POST", "/containers/create?name=\(spec.name)", json: body)
        }
        guard status == 201, let id = (try? JSONValue.parse(bytes: reply))?["Id"]?.stringValue else {
            throw apiError("create container \(spec.name)", status, reply)
        }
        let (started, startReply) = try call("POST", "/containers/\(id)/start")
        guard started == 204 || started == 304 else {
            // Not left half-made: a container that cannot start (port taken…) is removed again.
            _ = try? call("DELETE", "/containers/\(id)?force=1")
            throw apiError("start container \(spec.name)", started, startReply)
        }
    }

    public func remove(name: String, graceSeconds: Int) throws {
        guard try owned(name) else { return }
        let (stopped, reply) = try call("POST", "/containers/\(name)/stop?t=\(graceSeconds)", extraSeconds: Int64(graceSeconds))
        guard [204, 304, 404].contains(stopped) else { throw apiError("stop container \(name)", stopped, reply) }
        let (removed, removeReply) = try call("DELETE", "/containers/\(name)?force=1")
        guard [204, 404].contains(removed) else { throw apiError("remove container \(name)", removed, removeReply) }
    }

    public func state(of name: String) throws -> ObservedReplica.State? {
        let (status, body) = try call("GET", "/containers/\(name)/json")
        if status == 404 { return nil }
        guard status == 200, let object = try? JSONValue.parse(bytes: body), let state = object["State"] else {
            throw apiError("inspect container \(name)", status, body)
        }
        if state["Running"]?.boolValue == true, state["Restarting"]?.boolValue != true { return .running }
        let text = state["Status"]?.stringValue ?? "unknown"
        if text == "exited" || text == "dead" { return .exited(status: state["ExitCode"]?.intValue ?? -1, at: nil) }
        return .other(text)
    }

    public func logTail(of name: String, lines: Int) -> String? {
        guard let (status, body) = try? call("GET", "/containers/\(name)/logs?stdout=1&stderr=1&tail=\(lines)"), status == 200 else { return nil }
        let text = String(decoding: Self.demultiplex(body), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    /// The daemon's version line, which also negotiates the API version (`berth controller` logs it).
    public func describeDaemon() throws -> String {
        let version = try negotiatedVersion()
        let (status, body) = try call("GET", "/version")
        guard status == 200, let object = try? JSONValue.parse(bytes: body) else { throw apiError("read the version", status, body) }
        return "Docker \(object["Version"]?.stringValue ?? "?") (API \(version))"
    }

    // MARK: Pieces

    static func createBody(_ spec: ReplicaSpec, image: String, namespace: String) -> JSONValue {
        var exposed: [String: JSONValue] = [:]
        var bindings: [String: JSONValue] = [:]
        for port in spec.ports {
            guard let inside = port.containerPort else { continue }
            exposed["\(inside)/tcp"] = .object([:])
            bindings["\(inside)/tcp"] = .array([.object(["HostIp": .string(spec.bindAddress), "HostPort": .string(String(port.hostPort))])])
        }
        var hostConfig: [String: JSONValue] = [
            "PortBindings": .object(bindings),
            "RestartPolicy": .object(["Name": .string(spec.restart.rawValue)]),
        ]
        if let memory = spec.resources?.memoryBytes { hostConfig["Memory"] = .int(memory) }
        if let milli = spec.resources?.milliCPUs { hostConfig["NanoCpus"] = .int(milli * 1_000_000) }
        if spec.security.readOnlyRootFilesystem { hostConfig["ReadonlyRootfs"] = .bool(true) }
        if !spec.security.dropCapabilities.isEmpty { hostConfig["CapDrop"] = .array(spec.security.dropCapabilities.map(JSONValue.string)) }
        var body: [String: JSONValue] = [
            "Image": .string(image),
            "Env": .array(spec.environment.sorted { $0.key < $1.key }.map { .string("\($0.key)=\($0.value)") }),
            "ExposedPorts": .object(exposed),
            "Labels": .object([
                managedLabel: .string(namespace), "berth.instance": .string(spec.instance), "berth.template": .string(spec.templateHash),
                "berth.replica": .string(String(spec.replica)), "berth.revision": .string(spec.revision),
            ]),
            "HostConfig": .object(hostConfig),
        ]
        if !spec.command.isEmpty { body["Cmd"] = .array(spec.command.map(JSONValue.string)) }
        return .object(body)
    }

    /// `Exited (137) 3 seconds ago` → 137.
    static func exitStatus(_ text: String) -> Int {
        guard let open = text.firstIndex(of: "("), let close = text[open...].firstIndex(of: ")") else { return -1 }
        return Int(text[text.index(after: open)..<close]) ?? -1
    }

    /// Docker multiplexes stdout and stderr of a container without a TTY: 8-byte frame headers
    /// (stream, 0, 0, 0, big-endian length) before each piece.
    static func demultiplex(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        while index + 8 <= bytes.count, bytes[index] <= 2, bytes[index + 1] == 0 {
            let length = Int(bytes[index + 4]) << 24 | Int(bytes[index + 5]) << 16 | Int(bytes[index + 6]) << 8 | Int(bytes[index + 7])
            let end = min(bytes.count, index + 8 + length)
            out += bytes[(index + 8)..<end]
            index = end
        }
        return index == 0 ? bytes : out
    }

    /// Whether a container of that name exists and is this Berth's (others' are never touched).
    private func owned(_ name: String) throws -> Bool {
        let (status, body) = try call("GET", "/containers/\(name)/json")
        if status == 404 { return false }
        guard status == 200, let object = try? JSONValue.parse(bytes: body) else { throw apiError("inspect container \(name)", status, body) }
        let label = object["Config"]?["Labels"]?[Self.managedLabel]?.stringValue
        guard label == namespace else {
            throw RuntimeError(code: "name-taken", message: "a container named \(name) exists and is not this Berth's (label \(Self.managedLabel)=\(label ?? "none"))",
                               hint: "Berth never touches containers it did not create; rename or remove that container")
        }
        return true
    }

    private func removeOwned(name: String) throws {
        if try owned(name) {
            let (status, body) = try call("DELETE", "/containers/\(name)?force=1")
            if status == 409 {
                // Already being removed (`docker rm -f` by hand, seen mid-way by a pass): wait for
                // the name to be free rather than fail the start and back off.
                let deadline = Date().addingTimeInterval(10)
                while Date() < deadline {
                    if try !owned(name) { return }
                    Thread.sleep(forTimeInterval: 0.1)
                }
            }
            guard [204, 404].contains(status) else { throw apiError("remove the old container \(name)", status, body) }
        }
    }

    private func pull(_ image: String) throws {
        var repository = image, tag = "latest"
        if let at = image.firstIndex(of: "@") {
            repository = String(image[..<at]); tag = String(image[image.index(after: at)...])
        } else if let colon = image.lastIndex(of: ":"), !image[colon...].contains("/") {
            repository = String(image[..<colon]); tag = String(image[image.index(after: colon)...])
        }
        let query = "fromImage=\(Self.escape(repository))&tag=\(Self.escape(tag))"
        let (status, body) = try call("POST", "/images/create?\(query)", extraSeconds: 600)
        // The answer is a stream of progress objects; a failure arrives as one with "error", status 200.
        let failure = String(decoding: body, as: UTF8.self).split(separator: "\n").compactMap { line in
            (try? JSONValue.parse(String(line)))?["error"]?.stringValue
        }.last
        if status != 200 || failure != nil {
            let reason = failure ?? (try? JSONValue.parse(bytes: body))?["message"]?.stringValue ?? "HTTP \(status)"
            throw RuntimeError(code: "image-unavailable", message: "image \(image) is not on the Docker host and could not be pulled: \(reason)",
                               hint: "pull, load or import it on that host (docker pull / docker load / docker import), or fix spec.image")
        }
    }

    private static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~/"))) ?? text
    }

    private func negotiatedVersion() throws -> String {
        if let version = lock.withLock({ apiVersion }) { return version }
        // A missing or stale socket (no daemon, or one that died) must fail at once: the HTTP
        // client would keep retrying the connection until the request's deadline, and every pass
        // of the controller (and `berth up` on a machine without Docker) would wait that long.
        if let socketPath, let problem = Self.probeUnixSocket(socketPath) {
            throw RuntimeError(code: "docker-unreachable", message: "cannot reach the Docker daemon at unix://\(socketPath): \(problem)",
                               hint: "is dockerd running, and may this user open its socket? DOCKER_HOST or --docker-host set the address; --no-docker turns Docker off")
        }
        let (status, headers, _) = try raw("GET", base + "/_ping", body: nil, deadlineSeconds: min(timeout.nanoseconds / 1_000_000_000, 5))
        guard status == 200 else {
            throw RuntimeError(code: "docker-unreachable", message: "the Docker daemon at \(base) answered /_ping with HTTP \(status)")
        }
        var version = "1.41"
        if let text = headers.first(name: "API-Version") {
            let parts = text.split(separator: ".").compactMap { Int($0) }
            if parts.count == 2 {
                if parts[0] == 1 && parts[1] < 24 {
                    throw RuntimeError(code: "docker-too-old", message: "the Docker daemon speaks API \(text); Berth needs 1.24 or newer")
                }
                if (parts[0], parts[1]) < Self.maximumAPIVersion { version = text }
            }
        }
        lock.withLock { apiVersion = version }
        return version
    }

    private func call(_ method: String, _ path: String, json: JSONValue? = nil, extraSeconds: Int64 = 0) throws -> (Int, [UInt8]) {
        let version = try negotiatedVersion()
        let (status, _, body) = try raw(method, base + "/v" + version + path, body: json.map { Array($0.canonicalString.utf8) }, extraSeconds: extraSeconds)
        return (status, body)
    }

    /// nil when something accepts connections on the unix socket at `path`, else why not (no such
    /// file, connection refused by a socket nobody listens on, permission denied).
    static func probeUnixSocket(_ path: String) -> String? {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return String(cString: strerror(errno)) }
        defer { close(descriptor) }
        guard let result = withUnixAddress(path, { connect(descriptor, $0, $1) }) else { return "the socket path is too long" }
        return result == 0 ? nil : String(cString: strerror(errno))
    }

    /// Calls `body` with `path` as a `sockaddr_un` and its length; nil when the path does not fit.
    static func withUnixAddress<Result>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    private func raw(_ method: String, _ url: String, body: [UInt8]?, extraSeconds: Int64 = 0,
                     deadlineSeconds: Int64? = nil) throws -> (Int, HTTPHeaders, [UInt8]) {
        do {
            var request = try HTTPClient.Request(url: url, method: HTTPMethod(rawValue: method))
            // AHC sends no Host header over a unix socket and dockerd refuses such requests.
            request.headers.replaceOrAdd(name: "Host", value: "docker")
            if let body {
                request.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
                request.body = .bytes(body)
            }
            let deadline: NIODeadline = .now() + (deadlineSeconds.map { .seconds($0) } ?? timeout + .seconds(extraSeconds))
            let response = try http.execute(request: request, deadline: deadline).wait()
            return (Int(response.status.code), response.headers, response.body.map { Array($0.readableBytesView) } ?? [])
        } catch let error as RuntimeError {
            throw error
        } catch {
            throw RuntimeError(code: "docker-unreachable", message: "cannot reach the Docker daemon (\(base)): \(error)",
                               hint: "is dockerd running, and may this user open its socket? DOCKER_HOST overrides the address")
        }
    }

    private func apiError(_ what: String, _ status: Int, _ body: [UInt8]) -> RuntimeError {
        let message = (try? JSONValue.parse(bytes: body))?["message"]?.stringValue ?? String(decoding: body.prefix(300), as: UTF8.self)
        var hint: String?
        if message.contains("port is already allocated") || message.contains("address already in use") {
            hint = "something outside Berth holds that host port; Berth leases ports from its own range only"
        }
        return RuntimeError(code: "docker-api", message: "Docker could not \(what): HTTP \(status): \(message)", hint: hint)
    }
}

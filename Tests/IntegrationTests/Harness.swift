import Foundation
import RedisClient
import Testing
import TestSupport

/// Runs the real `berth` executable built next to the test bundle.
struct BerthCLI {
    let executable: String

    /// The path of one of the package's executables (`berth`, `berth-proxy`), built next to the tests.
    static func path(of name: String) throws -> String {
        let berth = try BerthCLI().executable
        let candidate = URL(fileURLWithPath: berth).deletingLastPathComponent().appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: candidate) else {
            throw TestSupportError("\(name) is not built next to berth (\(candidate)); run `swift build --build-tests`")
        }
        return candidate
    }

    init() throws {
        // The test binary and the package's executables share one build directory.
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while directory.path != "/" && !FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent("berth").path) {
            if directory.lastPathComponent == ".build" || directory.path.hasSuffix("/.build") { break }
            directory.deleteLastPathComponent()
        }
        let candidate = directory.appendingPathComponent("berth").path
        guard FileManager.default.isExecutableFile(atPath: candidate) else {
            throw TestSupportError("the berth executable is not built next to the tests (looked from \(exe)); run `swift build --product berth` first")
        }
        executable = candidate
    }

    @discardableResult
    func run(_ arguments: [String], redis: RedisServerProcess? = nil, in directory: String? = nil,
             environment: [String: String] = [:]) throws -> ProcessResult {
        var env = environment
        env["NO_COLOR"] = "1"
        if let redis { env["REDIS_URL"] = redis.urlString }
        if env["BERTH_CACHE_DIR"] == nil { env["BERTH_CACHE_DIR"] = NSTemporaryDirectory() + "berth-test-cache" }
        return try runProcess(executable, arguments, in: directory, environment: env)
    }
}

/// A repository on disk, written file by file.
struct Workspace {
    let directory: TemporaryDirectory
    var path: String { directory.path }

    init() throws { directory = try TemporaryDirectory(prefix: "berth-it") }

    func write(_ relativePath: String, _ text: String) throws {
        let url = directory.url.appendingPathComponent(relativePath)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    func remove(_ relativePath: String) throws {
        try FileManager.default.removeItem(at: directory.url.appendingPathComponent(relativePath))
    }

    @discardableResult
    func git(_ arguments: [String]) throws -> ProcessResult {
        let result = try runProcess("git", ["-c", "user.name=Berth Test", "-c", "user.email=test@berth.invalid",
                                           "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"] + arguments, in: path)
        guard result.succeeded else { throw TestSupportError("git \(arguments.joined(separator: " ")) failed: \(result)") }
        return result
    }
}

/// Small, valid repositories used across the integration tests.
enum Repos {
    static func domain(_ name: String, hosts: [String], tls: String = "none") -> String {
        """
        apiVersion: berth/v1
        kind: Domain
        metadata: {name: \(name)}
        spec:
          hosts: [\(hosts.joined(separator: ", "))]
          tls: \(tls)

        """
    }

    static func route(_ name: String, domain: String, path: String = "/", url: String? = nil, instance: String? = nil,
                      priority: Int = 0, auth: String? = nil) -> String {
        let target = url.map { "{url: \"\($0)\"}" } ?? "{instance: \(instance!)}"
        return """
        apiVersion: berth/v1
        kind: Route
        metadata: {name: \(name)}
        spec:
          domain: \(domain)
          path: \(path)
          priority: \(priority)
          to: \(target)
        \(auth.map { "  auth: \($0)\n" } ?? "")
        """
    }

    static func instance(_ name: String, image: String = "example.test/app:1", replicas: Int = 1, ports: [String] = ["http"]) -> String {
        """
        apiVersion: berth/v1
        kind: Instance
        metadata: {name: \(name)}
        spec:
          image: \(image)
          replicas: \(replicas)
          ports:
        \(ports.enumerated().map { "    - {name: \($0.element), containerPort: \(8080 + $0.offset)}" }.joined(separator: "\n"))

        """
    }

    static let bearer = """
        apiVersion: berth/v1
        kind: AuthPolicy
        metadata: {name: admins}
        spec:
          bearer:
            tokens:
              - {name: ci, sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae}

        """

    /// Domains, an auth policy, an instance with two replicas and routes to both kinds of upstream.
    static func shop(image: String = "example.test/shop:1", replicas: Int = 2, extraRoute: Bool = false) -> [String: String] {
        var files = [
            "domains.yaml": domain("shop", hosts: ["shop.example.test", "www.shop.example.test"]) + "---\n" + domain("status", hosts: ["status.example.test"]),
            "auth.yaml": bearer,
            "instances.yaml": instance("shop-api", image: image, replicas: replicas),
            "routes.yaml": route("api", domain: "shop", path: "/api", instance: "shop-api", auth: "admins") + "---\n"
                + route("web", domain: "shop", url: "http://127.0.0.1:8081") + "---\n"
                + route("status-page", domain: "status", url: "http://127.0.0.1:8082"),
        ]
        if extraRoute { files["more.yaml"] = route("health", domain: "status", path: "/healthz", url: "http://127.0.0.1:8083") }
        return files
    }

    static func write(_ files: [String: String], to workspace: Workspace) throws {
        for (name, text) in files { try workspace.write(name, text) }
    }
}

/// What a prefix holds in Redis, for comparing end states.
struct RedisSnapshot: Equatable, CustomStringConvertible {
    var inventory: [String: String]   // id → spec_hash
    var ports: [String: String]       // port → owner
    var generation: String?
    var tableHash: String?

    init(_ connection: RedisConnection, prefix: String) throws {
        let replies = try connection.pipeline([["HGETALL", prefix + "inventory"], ["HGETALL", prefix + "ports"],
                                               ["GET", prefix + "routetable:generation"], ["GET", prefix + "routetable:hash"]])
        func pairs(_ value: RedisValue) -> [String: String] {
            let items = value.array?.compactMap(\.string) ?? []
            return Dictionary(uniqueKeysWithValues: stride(from: 0, to: items.count - 1, by: 2).map { (items[$0], items[$0 + 1]) })
        }
        inventory = pairs(replies[0]).mapValues { json in
            (try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?["spec_hash"] as? String ?? "?"
        }
        ports = pairs(replies[1])
        generation = replies[2].string
        tableHash = replies[3].string
    }

    var description: String { "inventory \(inventory.count) rows, ports \(ports), generation \(generation ?? "nil"), hash \(tableHash ?? "nil")" }
}

import Foundation
import Testing
import TestSupport

/// The package's executables (`berth`, `berth-proxy`), built next to the test bundle by
/// `swift build --build-tests`.
enum Executables {
    static func path(_ name: String) throws -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            if directory.lastPathComponent.hasPrefix(".build") { break }
            directory.deleteLastPathComponent()
        }
        throw TestSupportError("the \(name) executable is not built next to the tests (looked up from \(exe)); run `swift build --build-tests` first")
    }
}

/// YAML documents for the repositories the tests apply.
enum Manifest {
    static func domain(_ name: String, hosts: [String]) -> String {
        """
        apiVersion: berth/v1
        kind: Domain
        metadata: {name: \(name)}
        spec:
          hosts: [\(hosts.joined(separator: ", "))]
          tls: none

        """
    }

    static func route(_ name: String, domain: String, path: String = "/", url: String, pathType: String? = nil,
                      stripPrefix: Bool = false, methods: [String]? = nil, auth: String? = nil) -> String {
        var text = """
        apiVersion: berth/v1
        kind: Route
        metadata: {name: \(name)}
        spec:
          domain: \(domain)
          path: "\(path)"
          to: {url: "\(url)"}

        """
        if let pathType { text += "  pathType: \(pathType)\n" }
        if stripPrefix { text += "  stripPrefix: true\n" }
        if let methods { text += "  methods: [\(methods.joined(separator: ", "))]\n" }
        if let auth { text += "  auth: \(auth)\n" }
        return text
    }

    /// An AuthPolicy with one bearer token (its SHA-256 only).
    static func bearerPolicy(_ name: String) -> String {
        """
        apiVersion: berth/v1
        kind: AuthPolicy
        metadata: {name: \(name)}
        spec:
          bearer:
            tokens:
              - {name: ci, sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae}

        """
    }

    static func join(_ documents: [String]) -> String { documents.joined(separator: "---\n") }
}

/// Runs `berth apply` on a repository directory it writes.
struct Repository {
    let directory: TemporaryDirectory

    init() throws { directory = try TemporaryDirectory(prefix: "berth-dp-repo") }

    /// Replaces the repository's content with `documents` (one file) and applies it.
    @discardableResult
    func apply(_ documents: [String], redisURL: String) throws -> ProcessResult {
        let file = directory.appending("berth.yaml")
        try Manifest.join(documents).write(to: file, atomically: true, encoding: .utf8)
        let result = try runProcess(try Executables.path("berth"), ["apply", "--repo", directory.path, "--redis", redisURL],
                                    environment: ["NO_COLOR": "1", "BERTH_CACHE_DIR": NSTemporaryDirectory() + "berth-dp-test-cache"])
        guard result.succeeded else { throw TestSupportError("berth apply failed: \(result)") }
        return result
    }
}

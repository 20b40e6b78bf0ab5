import Foundation
import Testing
@testable import Reconciler

/// A Docker host that is not there fails at once with `docker-unreachable`: without a daemon the
/// HTTP client would retry its connection until the request's deadline, and every controller pass
/// (and `berth up` on a machine without Docker) would wait that long.
@Suite struct DockerUnreachableTests {
    static func directory() throws -> URL {
        let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("berth-docker-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func expectFastFailure(_ socketPath: String, mentioning reason: String) {
        let runtime: DockerRuntime
        do {
            runtime = try DockerRuntime(host: "unix://" + socketPath, namespace: "test")
        } catch {
            Issue.record("DockerRuntime(host:) threw \(error)")
            return
        }
        let started = Date()
        #expect {
            _ = try runtime.observe(portRange: 20000...20100)
        } throws: { error in
            guard let error = error as? RuntimeError else { return false }
            return error.code == "docker-unreachable" && error.message.contains(socketPath) && error.message.contains(reason)
                && (error.hint ?? "").contains("--no-docker")
        }
        #expect(Date().timeIntervalSince(started) < 2, "failed in \(Date().timeIntervalSince(started)) s")
    }

    @Test func aMissingSocketFailsAtOnce() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        expectFastFailure(directory.appendingPathComponent("docker.sock").path, mentioning: "No such file")
    }

    /// What a daemon that died leaves behind: the socket file, with nothing listening on it.
    @Test func aStaleSocketFailsAtOnce() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("docker.sock").path
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(descriptor >= 0)
        let bound = DockerRuntime.withUnixAddress(path) { bind(descriptor, $0, $1) }
        try #require(bound == 0)
        close(descriptor)  // bound, never listened on, now closed: the file stays
        #expect(FileManager.default.fileExists(atPath: path))
        expectFastFailure(path, mentioning: "refused")
    }
}

import Foundation

/// The Docker daemon the container tests run against: `$DOCKER_HOST`, else
/// `unix:///var/run/docker.sock`. `.ci/run` starts it (`dockerd --storage-driver=vfs`); a test
/// that needs it fails, with the command to fix it, when none answers. The test image is made here
/// from Debian's busybox-static with `docker import` (there is no registry to pull from).
public enum DockerDaemon {
    /// A busybox image: `sh`, `httpd` and friends, nothing else.
    public static let image = "berth-test/busybox:1"

    public static var host: String {
        ProcessInfo.processInfo.environment["DOCKER_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "unix:///var/run/docker.sock"
    }

    private static let ready = NSLock()
    nonisolated(unsafe) private static var checked = false

    /// Checks the daemon answers and the test image exists (importing it once if not).
    public static func require() throws {
        try ready.withLock {
            if checked { return }
            let ping = try docker(["version", "--format", "{{.Server.APIVersion}}"])
            guard ping.succeeded else {
                throw TestSupportError("no Docker daemon answers at \(host): start one with `dockerd --storage-driver=vfs &` (.ci/run does)\n\(ping)")
            }
            if try !docker(["image", "inspect", image]).succeeded { try importImage() }
            checked = true
        }
    }

    /// Runs the docker CLI against the test daemon (tests only; Berth itself speaks the API).
    @discardableResult
    public static func docker(_ arguments: [String]) throws -> ProcessResult {
        try runProcess("docker", ["-H", host] + arguments)
    }

    /// The rootfs: a static busybox, links for the applets the tests use, a /www with a health page.
    private static func importImage() throws {
        let busybox = ["/bin/busybox", "/usr/bin/busybox"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let busybox else { throw TestSupportError("busybox is missing: apt-get install busybox-static") }
        let root = NSTemporaryDirectory() + "berth-busybox-rootfs-\(getpid())"
        let fileManager = FileManager.default
        defer { try? fileManager.removeItem(atPath: root) }
        for directory in ["bin", "www", "tmp", "etc"] { try fileManager.createDirectory(atPath: "\(root)/\(directory)", withIntermediateDirectories: true) }
        try fileManager.copyItem(atPath: busybox, toPath: "\(root)/bin/busybox")
        for applet in ["sh", "httpd", "sleep", "echo", "cat", "mkdir", "kill", "env", "true", "false", "printf", "ls", "wget", "nc"] {
            try fileManager.createSymbolicLink(atPath: "\(root)/bin/\(applet)", withDestinationPath: "busybox")
        }
        try "ok\n".write(toFile: "\(root)/www/healthz", atomically: true, encoding: .utf8)
        try "root:x:0:0:root:/:/bin/sh\n".write(toFile: "\(root)/etc/passwd", atomically: true, encoding: .utf8)
        let tar = try runProcess("sh", ["-c", "tar -C '\(root)' -c . | docker -H '\(host)' import --change 'ENV PATH=/bin' - \(image)"])
        guard tar.succeeded else { throw TestSupportError("docker import of the busybox rootfs failed\n\(tar)") }
    }
}

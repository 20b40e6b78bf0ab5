import Foundation
import Testing
import TestSupport

/// README's main command, `berth up examples/quickstart`, as a user runs it.
@Suite struct UpE2ETests {
    static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    @Test("berth up runs a private Redis, the controller and a proxy; a quickstart host answers from a real upstream; Ctrl-C stops it all")
    func upServesTheQuickstart() throws {
        let state = try TemporaryDirectory(prefix: "berth-up")
        defer { state.remove() }
        let http = try freeLoopbackPort(), admin = try freeLoopbackPort()
        // The quickstart's status page is the controller's listener on 127.0.0.1:9000 (its default).
        let up = try BackgroundProcess(try BerthCLI().executable,
                                       ["up", "examples/quickstart", "--state-dir", state.path, "--http", "127.0.0.1:\(http)",
                                        "--admin", "127.0.0.1:\(admin)", "--listen", "127.0.0.1:9000"],
                                       name: "berth up", environment: ["NO_COLOR": "1", "REDIS_URL": ""], in: Self.packageRoot)
        try up.waitForOutput("Berth is up.", timeout: 60)
        #expect(up.stdout.contains("First pass: applied"), "\(up.output)")
        #expect(up.stdout.contains("redis       unix://\(state.path)/redis.sock"))

        let page = try SimpleHTTP.request(port: http, "GET", "/", host: "status.example.test")
        #expect(page.status == 200, "\(page)")
        #expect(page.body.contains("berth controller berth up"), "\(page)")
        #expect(page.body.contains("leading"))
        // The quickstart's files-token policy guards /files: no token, 401; the demo token passes and
        // reaches the `files` instance, a python3 process the controller started on a leased port.
        let guarded = try SimpleHTTP.request(port: http, "GET", "/files/", host: "shop.example.test")
        #expect(guarded.status == 401, "\(guarded)")
        #expect(guarded.header("www-authenticate")?.hasPrefix("Bearer") == true)
        let passed = try SimpleHTTP.request(port: http, "GET", "/files/", host: "shop.example.test", headers: [("Authorization", "Bearer demo-token")])
        #expect(passed.status == 200, "\(passed)")
        #expect(passed.body.contains("Directory listing"), "\(passed)")
        let unknown = try SimpleHTTP.request(port: http, "GET", "/", host: "nobody.example.test")
        #expect(unknown.status == 404)
        let metrics = try SimpleHTTP.request(port: admin, "GET", "/metrics")
        #expect(metrics.status == 200)

        var status = ProcessResult(status: -1, stdout: "", stderr: "")
        let live = try eventually(timeout: 15) {
            status = try runProcess(try BerthCLI().executable, ["status", "--redis", "unix://\(state.path)/redis.sock"], environment: ["NO_COLOR": "1"])
            return status.stdout.contains("live on 1/1 proxies")
        }
        #expect(live, "\(status)")
        #expect(status.stdout.contains("Instance/files"))

        #expect(up.signal(SIGINT, waitingUpTo: 30) == 0, "Ctrl-C must stop berth up cleanly\n\(up.output)")
        #expect(up.stdout.contains("Stopped: proxy, controller, private redis-server"))
        #expect(FileManager.default.fileExists(atPath: state.appending("berth.rdb").path), "the private Redis saved its data on the way out")
        #expect((try? SimpleHTTP.request(port: http, "GET", "/", host: "status.example.test", timeout: 2)) == nil, "the proxy is gone")
    }

    @Test("a SIGKILLed berth up takes its private redis-server with it, and the server saves its data on the way out")
    func killedUpLeavesNoRedisBehind() throws {
        let state = try TemporaryDirectory(prefix: "berth-up-kill")
        defer { state.remove() }
        let repo = try Workspace()
        try repo.write("domain.yaml", Repos.domain("site", hosts: ["site.example.test"]))
        try repo.write("route.yaml", Repos.route("site", domain: "site", url: "http://127.0.0.1:9"))
        let http = try freeLoopbackPort(), admin = try freeLoopbackPort(), listen = try freeLoopbackPort()
        let up = try BackgroundProcess(try BerthCLI().executable,
                                       ["up", repo.path, "--state-dir", state.path, "--http", "127.0.0.1:\(http)",
                                        "--admin", "127.0.0.1:\(admin)", "--listen", "127.0.0.1:\(listen)"],
                                       name: "berth up", environment: ["NO_COLOR": "1", "REDIS_URL": ""])
        try up.waitForOutput("Berth is up.", timeout: 60)
        let socket = state.appending("redis.sock").path
        let servers = Self.redisServers(using: socket)
        #expect(!servers.isEmpty, "berth up runs redis-server on \(socket)")

        up.kill()
        let gone = eventually(timeout: 20) { Self.redisServers(using: socket).isEmpty }
        #expect(gone, "redis-server outlived berth up: \(Self.redisServers(using: socket))")
        #expect(FileManager.default.fileExists(atPath: state.appending("berth.rdb").path), "it saved its data on SIGTERM")
    }

    /// Live processes (not zombies, whose command line is empty) running redis-server on `socket`.
    static func redisServers(using socket: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { return false }
            let command = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            return command.contains("redis-server") && command.contains(socket)
        }
    }
}

import Foundation
import RedisClient
import Spec
import Testing
import TestSupport

/// A `berth controller` process with a listener on a free port.
final class ControllerProcess {
    let process: BackgroundProcess
    let port: Int
    let holder: String

    init(repo: String, ref: String? = nil, redis: RedisServerProcess, holder: String, interval: String = "60s",
         leaseTTL: String = "3s", secretFile: String? = nil, extra: [String] = [], environment: [String: String] = [:]) throws {
        port = try freeLoopbackPort()
        self.holder = holder
        var arguments = ["controller", "--repo", repo, "--redis", redis.urlString, "--interval", interval,
                         "--listen", "127.0.0.1:\(port)", "--lease-ttl", leaseTTL, "--holder", holder]
        if let ref { arguments += ["--ref", ref] }
        if let secretFile { arguments += ["--webhook-secret-file", secretFile] }
        // Containers only where a test asks for them (CI's daemon is shared by every suite).
        if !extra.contains("--docker-host") && !extra.contains("--no-docker") { arguments.append("--no-docker") }
        var env = environment
        env["NO_COLOR"] = "1"
        env["BERTH_CACHE_DIR"] = NSTemporaryDirectory() + "berth-test-cache"
        process = try BackgroundProcess(try BerthCLI().executable, arguments + extra, name: holder, environment: env)
        try process.waitForOutput("listening on http://127.0.0.1:\(port)")
    }

    func get(_ path: String) throws -> SimpleHTTPResponse { try SimpleHTTP.request(port: port, "GET", path) }

    func status() throws -> JSONValue { try JSONValue.parse(try get("/status").body) }

    func webhook(body: String, headers: [(String, String)]) throws -> SimpleHTTPResponse {
        try SimpleHTTP.request(port: port, "POST", "/hooks/git", headers: [("Content-Type", "application/json")] + headers, body: Array(body.utf8))
    }
}

/// A `berth-proxy` process on free ports.
final class ProxyProcess {
    let process: BackgroundProcess
    let port: Int
    /// The HTTPS listener's port, when started with one.
    let httpsPort: Int?

    init(redis: RedisServerProcess, replica: String, https: Bool = false) throws {
        port = try freeLoopbackPort()
        let admin = try freeLoopbackPort()
        httpsPort = https ? try freeLoopbackPort() : nil
        process = try BackgroundProcess(try BerthCLI.path(of: "berth-proxy"),
                                        ["--redis", redis.urlString, "--http", "127.0.0.1:\(port)", "--admin", "127.0.0.1:\(admin)",
                                         "--threads", "1", "--replica-id", replica] + (httpsPort.map { ["--https", "127.0.0.1:\($0)"] } ?? []),
                                        name: "berth-proxy \(replica)")
        try process.waitForOutput("listening on")
    }

    /// curl over HTTPS to `host` (resolved to 127.0.0.1), trusting only `caFile`.
    func curlHTTPS(_ path: String, host: String, caFile: String) throws -> ProcessResult {
        guard let httpsPort else { throw TestSupportError("this proxy has no HTTPS listener") }
        return try runProcess("curl", ["--silent", "--show-error", "--include", "--max-time", "10", "--cacert", caFile,
                                       "--resolve", "\(host):\(httpsPort):127.0.0.1", "https://\(host):\(httpsPort)\(path)"])
    }

    func get(_ path: String, host: String) throws -> SimpleHTTPResponse { try SimpleHTTP.request(port: port, "GET", path, host: host) }

    /// Waits until `path` on `host` answers `status`; returns the time it took.
    func waitFor(_ path: String, host: String, status: Int = 200, timeout: Double = 20) throws -> Double {
        let started = Date()
        let ok = eventually(timeout: timeout) { (try? get(path, host: host).status) == status }
        guard ok else {
            let last = (try? get(path, host: host)).map(\.description) ?? "no answer"
            throw TestSupportError("\(host)\(path) did not answer \(status) within \(timeout)s; last answer:\n\(last)\n\(process.output)")
        }
        return Date().timeIntervalSince(started)
    }
}

/// `python3 -m http.server` over a directory of small files: a real upstream.
final class FileServer {
    let process: BackgroundProcess
    let directory: TemporaryDirectory
    let port: Int

    init(files: [String: String]) throws {
        directory = try TemporaryDirectory(prefix: "berth-upstream")
        for (name, text) in files { try text.write(to: directory.appending(name), atomically: true, encoding: .utf8) }
        port = try freeLoopbackPort()
        process = try BackgroundProcess("python3", ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", directory.path],
                                        name: "python3 http.server")
        guard eventually(timeout: 15, { (try? SimpleHTTP.request(port: port, "GET", "/")) != nil }) else {
            throw TestSupportError("python3 -m http.server did not start:\n\(process.output)")
        }
    }

    var url: String { "http://127.0.0.1:\(port)" }
}

/// A bare repository (what a git host holds) and a clone to commit and push from.
struct GitRemote {
    let root: TemporaryDirectory
    let work: Workspace
    var bare: String { root.appending("edge.git").path }
    var url: String { "file://" + bare }

    init() throws {
        let root = try TemporaryDirectory(prefix: "berth-remote")
        self.root = root
        let bare = root.appending("edge.git").path
        let result = try runProcess("git", ["init", "--bare", "--initial-branch=main", bare])
        guard result.succeeded else { throw TestSupportError("git init --bare failed: \(result)") }
        work = try Workspace()
        try work.git(["init"])
        try work.git(["remote", "add", "origin", bare])
    }

    /// Like `push`, returning what git printed (a hook's output arrives as `remote: …` lines).
    func pushCapturingOutput(_ files: [String: String], message: String, environment: [String: String] = [:]) throws -> String {
        try commit(files, message: message)
        let push = try runProcess("git", ["push", "origin", "HEAD:refs/heads/main"], in: work.path, environment: environment)
        guard push.succeeded else { throw TestSupportError("git push failed: \(push)") }
        return push.stdout + push.stderr
    }

    private func commit(_ files: [String: String], message: String) throws {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: work.path)) ?? [] where name.hasSuffix(".yaml") {
            try work.remove(name)
        }
        try Repos.write(files, to: work)
        try work.git(["add", "-A"])
        try work.git(["commit", "-q", "-m", message])
    }

    /// Writes `files` (replacing the tree), commits and pushes; returns the commit id.
    @discardableResult
    func push(_ files: [String: String], message: String, environment: [String: String] = [:]) throws -> String {
        try commit(files, message: message)
        let push = try runProcess("git", ["push", "-q", "origin", "HEAD:refs/heads/main"], in: work.path, environment: environment)
        guard push.succeeded else { throw TestSupportError("git push failed: \(push)") }
        return try work.git(["rev-parse", "HEAD"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// GitHub's signature header for `body` under `secret`.
func hubSignature(_ body: String, secret: String) -> String {
    "sha256=" + HMACSHA256.authenticationCode(key: Array(secret.utf8), message: Array(body.utf8)).hexString
}

func statusField(_ redis: RedisServerProcess, _ field: String) throws -> String? {
    let connection = try redis.connect()
    defer { connection.close() }
    return try connection.send(["HGET", "berth:status", field]).string
}

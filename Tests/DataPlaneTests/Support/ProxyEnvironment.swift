import Foundation
import NIOCore
import NIOPosix
import RedisClient
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A running `berth-proxy` process, stopped (SIGKILL) when released if still running.
final class BerthProxyProcess: @unchecked Sendable {
    let process: Process
    let directory: TemporaryDirectory
    let replicaID: String
    let httpPort: Int
    let adminPort: Int
    var pid: Int32 { process.processIdentifier }

    /// Starts `berth-proxy --redis URL --http 127.0.0.1:0 --admin 127.0.0.1:0 …` and reads the
    /// bound ports from its first line of output.
    init(redisURL: String, arguments extra: [String], replicaID: String) throws {
        directory = try TemporaryDirectory(prefix: "berth-proxy")
        self.replicaID = replicaID
        let stdoutPath = directory.appending("stdout").path, stderrPath = directory.appending("stderr").path
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Executables.path("berth-proxy"))
        process.arguments = ["--redis", redisURL, "--http", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--threads", "2",
                             "--replica-id", replicaID, "--shutdown-grace", "10"] + extra
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        try withUnblockedSignals { try process.run() }
        self.process = process

        var ports: (Int, Int)?
        let deadline = Date().addingTimeInterval(15)
        while ports == nil {
            let output = (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? ""
            ports = Self.ports(in: output)
            if ports != nil { break }
            if !process.isRunning || Date() >= deadline {
                let log = "stdout:\n\(output)\nstderr:\n\((try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "")"
                if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
                directory.remove()
                throw TestSupportError("berth-proxy did not report its listeners (running: \(process.isRunning)):\n\(log)")
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        (httpPort, adminPort) = ports!
    }

    deinit {
        kill()
        directory.remove()
    }

    /// "…: listening on http://127.0.0.1:PORT; admin on 127.0.0.1:PORT; redis …"
    static func ports(in output: String) -> (Int, Int)? {
        guard let listening = output.range(of: "listening on http://127.0.0.1:"),
              let admin = output.range(of: "admin on 127.0.0.1:") else { return nil }
        let http = output[listening.upperBound...].prefix { $0.isNumber }
        let adminPort = output[admin.upperBound...].prefix { $0.isNumber }
        guard let httpPort = Int(http), let adminPortNumber = Int(adminPort) else { return nil }
        return (httpPort, adminPortNumber)
    }

    var output: String {
        "stdout:\n" + ((try? String(contentsOfFile: directory.appending("stdout").path, encoding: .utf8)) ?? "")
            + "\nstderr:\n" + ((try? String(contentsOfFile: directory.appending("stderr").path, encoding: .utf8)) ?? "")
    }

    var isRunning: Bool { process.isRunning }

    func admin(_ path: String) throws -> TestResponse {
        try httpRequest(port: adminPort, path, host: "127.0.0.1", headers: [("Connection", "close")])
    }

    func metrics() throws -> String { try admin("/metrics").text }

    /// Polls `/readyz` until it answers 200.
    func waitUntilReady(timeout: Double = 10) throws {
        let ready = eventually(timeout: timeout) { (try? admin("/readyz").status) == 200 }
        if !ready { throw TestSupportError("berth-proxy is not ready after \(timeout) s: \((try? admin("/readyz").text) ?? "no answer")\n\(output)") }
    }

    /// Resident memory (VmRSS) in KiB.
    var residentKiB: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    }

    /// SIGTERM, then waits up to `timeout` for the exit; returns the exit status, nil if it had to be killed.
    func terminate(timeout: Double = 15) -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        Glibc.kill(pid, SIGTERM)
        if eventually(timeout: timeout, { !process.isRunning }) {
            process.waitUntilExit()
            return process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
        }
        kill()
        return nil
    }

    func kill() {
        guard process.isRunning else { return }
        Glibc.kill(pid, SIGKILL)
        process.waitUntilExit()
    }
}

/// Everything one end-to-end test runs: a private redis-server, upstream servers in this process,
/// a repository to apply, and berth-proxy processes. `close()` (also on release) stops them all.
final class ProxyEnvironment: @unchecked Sendable {
    let redis: RedisServerProcess
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    let repository: Repository
    private let lock = NSLock()
    private var proxies: [BerthProxyProcess] = []
    private var httpUpstreams: [HTTPUpstream] = []
    private var rawUpstreams: [RawUpstream] = []
    private var closed = false

    init() throws {
        redis = try RedisServerProcess.start()
        repository = try Repository()
    }

    deinit { close() }

    var redisURL: String { redis.urlString }

    func http(_ name: String) throws -> HTTPUpstream {
        let upstream = try HTTPUpstream(name: name, group: group)
        lock.withLock { httpUpstreams.append(upstream) }
        return upstream
    }

    func raw(_ kind: RawUpstream.Kind) throws -> RawUpstream {
        let upstream = try RawUpstream(kind: kind, group: group)
        lock.withLock { rawUpstreams.append(upstream) }
        return upstream
    }

    @discardableResult
    func apply(_ documents: [String]) throws -> ProcessResult {
        try repository.apply(documents, redisURL: redisURL)
    }

    /// Starts a replica (ready unless `waitReady` is false).
    func proxy(_ arguments: [String] = [], replicaID: String = "replica-\(UUID().uuidString.prefix(6).lowercased())",
               waitReady: Bool = true) throws -> BerthProxyProcess {
        let proxy = try BerthProxyProcess(redisURL: redisURL, arguments: arguments, replicaID: replicaID)
        lock.withLock { proxies.append(proxy) }
        if waitReady { try proxy.waitUntilReady() }
        return proxy
    }

    /// The common set-up: an HTTP upstream `name`, the Domain "shop" on `shopHost` with one
    /// catch-all route to it, and a ready replica started with `arguments`.
    func shop(upstream name: String, route: String, arguments: [String] = []) throws -> (HTTPUpstream, BerthProxyProcess) {
        let upstream = try http(name)
        try apply([Manifest.domain("shop", hosts: [shopHost]), Manifest.route(route, domain: "shop", url: upstream.url)])
        return (upstream, try proxy(arguments))
    }

    func redisConnection() throws -> RedisConnection { try redis.connect(commandTimeout: .seconds(5)) }

    func close() {
        let (proxies, http, raw, wasClosed) = lock.withLock {
            defer { closed = true; self.proxies = []; httpUpstreams = []; rawUpstreams = [] }
            return (self.proxies, httpUpstreams, rawUpstreams, closed)
        }
        guard !wasClosed else { return }
        for proxy in proxies { proxy.kill() }
        for upstream in http { upstream.close() }
        for upstream in raw { upstream.close() }
        try? group.syncShutdownGracefully()
        redis.stop()
        repository.directory.remove()
    }
}

/// Runs `body` over and over on its own thread until stopped, counting outcomes (a load loop).
final class LoadLoop: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    private var successes = 0
    private var failures: [String] = []
    private let done = DispatchSemaphore(value: 0)

    /// `body` returns nil for success or a description of the failure.
    init(_ body: @escaping @Sendable () -> String?) {
        let thread = Thread { [self] in
            while !lock.withLock({ stopped }) {
                let failure = body()
                lock.withLock {
                    if let failure { failures.append(failure) } else { successes += 1 }
                }
            }
            done.signal()
        }
        thread.start()
    }

    var successCount: Int { lock.withLock { successes } }
    var failureList: [String] { lock.withLock { failures } }

    /// Stops and waits for the current iteration to end.
    func stop() {
        let first = lock.withLock { () -> Bool in
            defer { stopped = true }
            return !stopped
        }
        if first { done.wait() }
    }

    deinit { stop() }
}

/// Samples a process's resident memory every 50 ms on its own thread; `stop()` returns the peak (KiB).
final class MemorySampler: @unchecked Sendable {
    private let lock = NSLock()
    private var peak = 0
    private var stopped = false
    private let done = DispatchSemaphore(value: 0)

    init(_ proxy: BerthProxyProcess) {
        let thread = Thread { [self] in
            while !lock.withLock({ stopped }) {
                if let kib = proxy.residentKiB { lock.withLock { peak = max(peak, kib) } }
                Thread.sleep(forTimeInterval: 0.05)
            }
            done.signal()
        }
        thread.start()
    }

    func stop() -> Int {
        let first = lock.withLock { () -> Bool in
            defer { stopped = true }
            return !stopped
        }
        if first { done.wait() }
        return lock.withLock { peak }
    }

    deinit { _ = stop() }
}

/// A keep-alive client connection shared with a load loop; reconnects only when asked.
final class KeepAliveClient: @unchecked Sendable {
    let port: Int
    private var socket: TestSocket?
    private(set) var connections = 0

    init(port: Int) { self.port = port }

    func request(_ target: String, host: String) throws -> TestResponse {
        if socket == nil {
            socket = try TestSocket(port: port)
            connections += 1
        }
        do {
            return try socket!.request("GET", target, host: host)
        } catch {
            socket = nil
            throw error
        }
    }
}

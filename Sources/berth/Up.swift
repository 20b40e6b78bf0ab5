import ArgumentParser
import DataPlane
import Foundation
import NIOCore
import Reconciler
import RedisClient
import Spec

struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the whole stack on this machine: a private Redis, a controller on REPO and a proxy.",
        discussion: """
            Without REDIS_URL (or --redis), starts a private redis-server (found on PATH) on a unix socket \
            in the state directory, with its data kept there, so the next `berth up` finds what this one \
            applied. Then runs a controller on REPO (a directory is re-read every --interval, so edits go \
            live within seconds; a git repository follows its ref) and one berth-proxy in this process, \
            prints the URLs to try, and stops everything cleanly on Ctrl-C (SIGINT) or SIGTERM.

            Examples:
              berth up                                   # examples/quickstart
              berth up ./edge --http 127.0.0.1:8000 --state-dir /var/lib/berth
            """)

    @Argument(help: ArgumentHelp("The repository: a directory, a local git repository or a git URL.", valueName: "repo"))
    var repo: String = "examples/quickstart"

    @Option(name: .customLong("state-dir"), help: ArgumentHelp("Where the private Redis keeps its socket, data and log.", valueName: "dir"))
    var stateDirectory: String = ".berth"

    @Option(name: .customLong("http"), help: ArgumentHelp("The proxy's HTTP listener.", valueName: "addr:port"))
    var http: String = "127.0.0.1:8080"

    @Option(help: ArgumentHelp("The proxy's admin listener (/metrics, /readyz).", valueName: "addr:port"))
    var admin: String = "127.0.0.1:9090"

    @Option(help: ArgumentHelp("The controller's listener (/status, /metrics, webhook).", valueName: "addr:port"))
    var listen: String = "127.0.0.1:9000"

    @Option(help: ArgumentHelp("How often the controller re-reads the repository.", valueName: "duration"))
    var interval: String = "2s"

    @OptionGroup var state: StateOptions
    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        _ = try parseInterval(interval, option: "--interval")
        for (option, value) in [("--http", http), ("--admin", admin), ("--listen", listen)] { _ = try parseListen(value, option: option) }
    }

    func run() async throws {
        var redisURL = state.redisURL
        var server: PrivateRedis?
        if state.redis == nil, (ProcessInfo.processInfo.environment["REDIS_URL"] ?? "").isEmpty {
            do { server = try PrivateRedis.start(in: stateDirectory) } catch { throw fail("\(error)", hint: "install redis-server (apt-get install redis-server) or set REDIS_URL") }
            redisURL = server!.url
        }
        defer { server?.stop() }

        let stack: ControllerStack
        let proxy: EmbeddedProxy
        do {
            var configuration = ControllerConfiguration(repository: repo, redisURL: redisURL, holder: "berth up \(ProcessInfo.processInfo.hostName) pid \(getpid())")
            configuration.prefix = state.prefix
            configuration.interval = try parseInterval(interval, option: "--interval")
            configuration.planner = try state.configuration()
            if runtime.processLogs == nil {
                configuration.processLogDirectory = URL(fileURLWithPath: stateDirectory).standardizedFileURL.path + "/logs"
            }
            var runtimeOptions = runtime
            if runtimeOptions.processLogs == nil { runtimeOptions.processLogs = configuration.processLogDirectory }
            try runtimeOptions.apply(to: &configuration)
            stack = try ControllerStack(configuration: configuration, listen: try parseListen(listen, option: "--listen"), verifier: nil)
            var options = EmbeddedProxy.Options(redisURL: try RedisURL(parsing: redisURL), replicaID: "up-\(ProcessInfo.processInfo.hostName)-\(getpid())",
                                                http: [try socketAddress(http, option: "--http")])
            options.prefix = state.prefix
            options.admin = try socketAddress(admin, option: "--admin")
            proxy = EmbeddedProxy(options: options)
            try stack.start()
            do { try proxy.start() } catch {
                stack.stop()
                throw fail("the proxy cannot listen: \(error)", hint: "choose free ports with --http and --admin")
            }
        } catch let error as ValidationError { throw error } catch let exit as ExitCode { throw exit } catch { throw printError(error) }

        // Wait for the first pass so the URLs printed are live.
        let deadline = Date().addingTimeInterval(30)
        while stack.controller.snapshot.lastPass == nil && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        let proxyURL = proxy.boundHTTP.first.map { "http://\($0.ipAddress ?? "127.0.0.1"):\($0.port ?? 0)" } ?? http
        writeStdout(banner(redisURL: redisURL, privateRedis: server != nil, proxyURL: proxyURL, adminURL: proxy.boundAdmin.map { "http://\($0.ipAddress ?? "127.0.0.1"):\($0.port ?? 0)" },
                           controllerURL: stack.boundListener, snapshot: stack.controller.snapshot))
        try await runUntilSignalled([
            BlockingService(start: {}, stop: { stack.stop() }),
            BlockingService(start: {}, stop: { proxy.stop(grace: .seconds(5)) }),
        ])
        writeStdout("Stopped: proxy, controller\(server == nil ? "" : ", private redis-server (data kept in \(stateDirectory)/)").\n")
    }

    private func socketAddress(_ text: String, option: String) throws -> SocketAddress {
        let (host, port) = try parseListen(text, option: option)
        do { return try SocketAddress(ipAddress: host, port: port) } catch { throw ValidationError("\(option) \(text): \(host) is not an IP address") }
    }

    private func banner(redisURL: String, privateRedis: Bool, proxyURL: String, adminURL: String?, controllerURL: String, snapshot: ControllerSnapshot) -> String {
        var lines = ["Berth is up.", ""]
        lines.append("  proxy       \(proxyURL)" + (adminURL.map { "   (admin \($0)/metrics)" } ?? ""))
        lines.append("  controller  \(controllerURL)/status   (re-reads \(repo) every \(interval))")
        lines.append("  redis       \(redisURL)" + (privateRedis ? "   (private, data in \(stateDirectory)/)" : ""))
        lines.append("")
        if let pass = snapshot.lastPass {
            lines.append("First pass: \(pass.outcome.rawValue)" + (snapshot.revision.map { ", revision \(PlanRenderer.shortRevision($0)), route table generation \(snapshot.generation)" } ?? "") + ".")
            if let error = pass.error { lines.append("  " + error) }
            if let invalid = snapshot.invalid { lines += invalid.diagnostics.map { "  " + $0 } }
        }
        let hosts = Set(snapshot.conditions.keys.filter { $0.kind == .domain }.map(\.name))
        if !hosts.isEmpty || snapshot.revision != nil {
            lines.append("")
            lines.append("Try (every host of the repository is served on the one listener; the Host header picks it):")
            lines.append("  curl -H 'Host: status.example.test' \(proxyURL)/")
            lines.append("  berth status --redis \(redisURL)")
            lines.append("Routes to url: upstreams that are not running answer 502 until something listens there")
            lines.append("(the quickstart's shop expects servers on 127.0.0.1:8081-8083, e.g. `python3 -m http.server 8081`).")
        }
        lines.append("")
        lines.append("Edit the YAML in \(repo): changes go live on the next pass. Ctrl-C stops everything.")
        return lines.joined(separator: "\n") + "\n"
    }
}

/// A redis-server owned by this process, on a unix socket in a state directory. It never outlives
/// this process: a SIGKILLed `berth up` that left it running would leave the next `berth up` to
/// start a second server on the same socket path and data file.
final class PrivateRedis {
    /// `/bin/sh`, parent of redis-server; see `lifelineScript`.
    let process: Process
    /// This process holds the only writing end of the shell's lifeline.
    private let lifeline: Pipe
    let socket: String
    var url: String { "unix://\(socket)" }

    private init(process: Process, lifeline: Pipe, socket: String) {
        self.process = process
        self.lifeline = lifeline
        self.socket = socket
    }

    /// Runs redis-server (`$0`, arguments `$@`) and, once the lifeline on standard input ends, stops
    /// it with SIGTERM (which saves its data) and waits for it. The lifeline ends when `stop()`
    /// closes it or when this process ends in any way, SIGKILL included: the kernel closes its
    /// descriptors. A background job's standard input is /dev/null, hence the copy on descriptor 3.
    /// When redis-server exits first, the watcher goes too, so it never signals a reused pid.
    static let lifelineScript = #"""
        exec 3<&0; "$0" "$@" & server=$!; (read _ <&3; kill -TERM $server 2>/dev/null) & watcher=$!
        wait $server; status=$?; kill $watcher 2>/dev/null; exit $status
        """#

    static func start(in directory: String) throws -> PrivateRedis {
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let absolute = URL(fileURLWithPath: directory).standardizedFileURL.path
        let socket = absolute + "/redis.sock"
        guard let executable = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .map({ "\($0)/redis-server" }).first(where: { fileManager.isExecutableFile(atPath: $0) }) else {
            throw SourceError("redis-server was not found on PATH")
        }
        try? fileManager.removeItem(atPath: socket)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", lifelineScript, executable,
                             "--port", "0", "--unixsocket", socket, "--unixsocketperm", "700", "--dir", absolute,
                             "--dbfilename", "berth.rdb", "--save", "60 1", "--appendonly", "no",
                             "--logfile", absolute + "/redis.log", "--daemonize", "no"]
        let lifeline = Pipe()
        process.standardInput = lifeline
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        // A child inherits the signal mask of the thread that spawns it, and async code runs on
        // threads that block signals: without this, redis-server would never see a SIGTERM.
        try withSignalsUnblocked { try process.run() }
        let redis = PrivateRedis(process: process, lifeline: lifeline, socket: socket)
        for _ in 0..<100 {
            if fileManager.fileExists(atPath: socket) { return redis }
            // The shell exits with redis-server (its watcher too), so a server that fails fails fast.
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        redis.stop()
        throw SourceError("redis-server did not start; see \(absolute)/redis.log")
    }

    /// Ends the lifeline: the shell sends redis-server SIGTERM, which makes it save its data and
    /// exit, and waits for it.
    func stop() {
        try? lifeline.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}

/// Runs `body` with no signal blocked on the calling thread, then restores the mask.
func withSignalsUnblocked<T>(_ body: () throws -> T) rethrows -> T {
    var none = sigset_t(), saved = sigset_t()
    sigemptyset(&none)
    pthread_sigmask(SIG_SETMASK, &none, &saved)
    defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
    return try body()
}

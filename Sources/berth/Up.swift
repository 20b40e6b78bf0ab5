import ArgumentParser
import Foundation
import Reconciler
import Spec

struct Up: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run Berth on this machine with an embedded default: a private Redis and a repository.",
        discussion: """
            Without REDIS_URL (or --redis), starts a private redis-server (found on PATH) listening on a
            unix socket in the state directory, with its data kept there, so a second `berth up` sees
            what the first applied. Then validates, plans and applies the repository and shows the plan,
            and stops the private Redis cleanly (saving its data).

            This release covers the control plane: state, port leases and the published route table.
            The proxy, the controller loop, certificates and instances join `berth up` as they land.

            Examples:
              berth up examples/quickstart
              berth up ./edge --state-dir /var/lib/berth
            """)

    @Argument(help: ArgumentHelp("The repository: a directory or a git URL.", valueName: "repo"))
    var repo: String = "examples/quickstart"

    @Option(name: .customLong("state-dir"), help: ArgumentHelp("Where the private Redis keeps its socket, data and log.", valueName: "dir"))
    var stateDirectory: String = ".berth"

    @OptionGroup var state: StateOptions

    func run() throws {
        var stateOptions = state
        var server: PrivateRedis?
        if state.redis == nil, (ProcessInfo.processInfo.environment["REDIS_URL"] ?? "").isEmpty {
            do { server = try PrivateRedis.start(in: stateDirectory) } catch { throw fail("\(error)", hint: "install redis-server (apt-get install redis-server) or set REDIS_URL") }
            stateOptions.redis = server!.url
            writeStdout("Started a private redis-server (\(server!.url), data in \(stateDirectory)/).\n")
        }
        defer { server?.stop() }
        do {
            let source = try SourceOptions.parse(["--repo", repo])
            let snapshot = try source.snapshot()
            let desired = try loadValid(snapshot)
            writeStdout("Validated \(snapshot.origin): \(desired.count) resources.\n\n")
            let store = try stateOptions.connect()
            let lease = try store.acquireLease(holder: "berth up (pid \(getpid()))", ttlMilliseconds: 30_000)
            defer { try? store.releaseLease(lease) }
            let configuration = try stateOptions.configuration()
            let plan = Planner.plan(desired: desired, revision: snapshot.revision, origin: snapshot.origin,
                                    observed: try store.observe(), configuration: configuration)
            writeStdout(PlanRenderer(color: try OutputOptions.parse([]).color, stateDescription: stateOptions.describe(store)).text(plan))
            if plan.hasChanges {
                let report = try Applier(store: store, configuration: configuration).apply(plan, lease: lease)
                writeStdout("\nApplied. Route table generation \(report.generation) is \(report.published ? "published" : "unchanged").\n")
            } else {
                writeStdout("\nNo changes: everything in \(snapshot.origin) is already applied.\n")
            }
            writeStdout("Inspect the state with: redis-cli -s \(stateDirectory)/redis.sock get berth:routetable\n")
        } catch let exit as ExitCode { throw exit } catch { throw printError(error) }
    }
}

/// A redis-server owned by this process, on a unix socket in a state directory.
final class PrivateRedis {
    let process: Process
    let socket: String
    var url: String { "unix://\(socket)" }

    private init(process: Process, socket: String) {
        self.process = process
        self.socket = socket
    }

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
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--port", "0", "--unixsocket", socket, "--unixsocketperm", "700", "--dir", absolute,
                             "--dbfilename", "berth.rdb", "--save", "60 1", "--appendonly", "no",
                             "--logfile", absolute + "/redis.log", "--daemonize", "no"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<100 {
            if fileManager.fileExists(atPath: socket) { return PrivateRedis(process: process, socket: socket) }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.terminate()
        throw SourceError("redis-server did not start; see \(absolute)/redis.log")
    }

    /// SIGTERM makes redis-server save its data and exit.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}

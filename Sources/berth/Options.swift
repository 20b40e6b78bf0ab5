import ArgumentParser
import Foundation
import Reconciler
import Spec

/// Where the desired state is read from.
struct SourceOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "A directory, a local git repository, or a git URL (file://, https://, ssh://).",
        discussion: "A directory is read as it is on disk (uncommitted edits included) unless --ref is given. Defaults to the current directory.",
        valueName: "path|url"))
    var repo: String?

    @Option(name: .long, help: ArgumentHelp("Branch, tag or commit to read through git (default: the remote's default branch).", valueName: "ref"))
    var ref: String?

    @Option(name: .customLong("path"), help: ArgumentHelp("Only read YAML under this subdirectory of the repository.", valueName: "subdir"))
    var subdirectory: String?

    func snapshot() throws -> SourceSnapshot {
        let source = try SourceResolver.source(repository: repo, ref: ref, subdirectory: subdirectory)
        return try source.snapshot()
    }
}

/// Where state lives.
struct StateOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Redis URL: redis://[:password@]host[:port][/db] or unix:///path/redis.sock.",
                                            discussion: "Defaults to $REDIS_URL, then redis://127.0.0.1:6379/0.", valueName: "url"))
    var redis: String?

    @Option(name: .long, help: ArgumentHelp("Prefix of every Redis key Berth uses.", valueName: "prefix"))
    var prefix: String = "berth:"

    @Option(name: .customLong("port-range"), help: ArgumentHelp("Host ports Berth may lease to instances.", valueName: "low-high"))
    var portRange: String = "20000-29999"

    var redisURL: String {
        redis ?? ProcessInfo.processInfo.environment["REDIS_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "redis://127.0.0.1:6379/0"
    }

    func validate() throws {
        _ = try parsedPortRange()
        if prefix.isEmpty { throw ValidationError("--prefix must not be empty (two deployments in one Redis need distinct prefixes)") }
    }

    func parsedPortRange() throws -> ClosedRange<Int> {
        let parts = portRange.split(separator: "-")
        guard parts.count == 2, let low = Int(parts[0]), let high = Int(parts[1]), 1 <= low, low <= high, high <= 65535 else {
            throw ValidationError("--port-range \"\(portRange)\" is not LOW-HIGH within 1-65535 (for example 20000-29999)")
        }
        return low...high
    }

    func configuration() throws -> PlannerConfiguration { PlannerConfiguration(portRange: try parsedPortRange()) }

    func connect() throws -> RedisStateStore { try RedisStateStore(url: redisURL, prefix: prefix) }

    func describe(_ store: RedisStateStore) -> String { "\(store.connection.url) (prefix \(prefix))" }
}

/// Which runtimes run instances, and how rollouts wait.
struct RuntimeOptions: ParsableArguments {
    @Option(name: .customLong("docker-host"), help: ArgumentHelp(
        "The Docker daemon that runs `runtime: docker` instances.",
        discussion: "unix:///path/docker.sock or tcp://host:port. Defaults to $DOCKER_HOST, else unix:///var/run/docker.sock when that socket exists; without one, docker instances stay pending (ports leased and routed, nothing started).",
        valueName: "addr"))
    var dockerHost: String?

    @Flag(name: .customLong("no-docker"), help: "Do not run docker instances here (they stay pending).")
    var noDocker = false

    @Flag(name: .customLong("no-processes"), help: "Do not run `runtime: process` instances here (they stay pending).")
    var noProcesses = false

    @Option(name: .customLong("process-logs"), help: ArgumentHelp(
        "Directory for the output of process replicas (<replica>.log).", discussion: "Default: $TMPDIR/berth-<namespace>/logs.", valueName: "dir"))
    var processLogs: String?

    @Option(help: ArgumentHelp("After a rollout's new route table is live, how long old replicas keep serving in-flight requests before they are stopped.", valueName: "duration"))
    var drain: String = "2s"

    @Option(name: .customLong("proxy-wait"), help: ArgumentHelp("Longest wait for every live berth-proxy to take a new route table before old replicas are stopped anyway.", valueName: "duration"))
    var proxyWait: String = "15s"

    @Option(name: .customLong("stop-grace"), help: ArgumentHelp("Time between SIGTERM and SIGKILL when a replica is stopped.", valueName: "duration"))
    var stopGrace: String = "10s"

    func validate() throws {
        _ = try parseInterval(drain, option: "--drain")
        _ = try parseInterval(proxyWait, option: "--proxy-wait")
        _ = try parseInterval(stopGrace, option: "--stop-grace")
        if noDocker && dockerHost != nil { throw ValidationError("--docker-host and --no-docker contradict each other") }
    }

    func apply(to configuration: inout ControllerConfiguration) throws {
        if !noDocker {
            if let dockerHost {
                configuration.dockerHost = dockerHost
            } else if let fromEnvironment = ProcessInfo.processInfo.environment["DOCKER_HOST"], !fromEnvironment.isEmpty {
                configuration.dockerHost = fromEnvironment
            } else if FileManager.default.fileExists(atPath: "/var/run/docker.sock") {
                configuration.dockerHost = "unix:///var/run/docker.sock"
            }
        }
        if !noProcesses {
            let temporary = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
            configuration.processLogDirectory = processLogs ?? "\(temporary)/berth-\(configuration.namespace)/logs"
        }
        configuration.rollout.drainSeconds = try parseInterval(drain, option: "--drain")
        configuration.rollout.proxyWaitSeconds = try parseInterval(proxyWait, option: "--proxy-wait")
        configuration.rollout.stopGraceSeconds = Int(try parseInterval(stopGrace, option: "--stop-grace").rounded(.up))
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

struct OutputOptions: ParsableArguments {
    @Option(name: .long, help: "Output format: text for people, json for tools.")
    var format: OutputFormat = .text

    @Flag(name: .customLong("no-color"), help: "Never colour the output (NO_COLOR is also honoured; colour is only used on a terminal).")
    var noColor = false

    var color: Bool {
        !noColor && format == .text && ProcessInfo.processInfo.environment["NO_COLOR"] == nil && isatty(STDOUT_FILENO) == 1
    }
}

/// Prints to standard error and exits with `code`, the way every command reports a failure.
func fail(_ message: String, hint: String? = nil, code: Int32 = 1) -> ExitCode {
    var text = "error: \(message)\n"
    if let hint { text += "  hint: \(hint)\n" }
    FileHandle.standardError.write(text.data(using: .utf8)!)
    return ExitCode(code)
}

func printError(_ error: Error) -> ExitCode {
    switch error {
    case let error as StateError: return fail(error.message, hint: error.hint)
    case let error as SourceError: return fail(error.message, hint: error.hint)
    case let error as LeaseHeldError: return fail(error.description, hint: "wait for it to finish, or if that process is gone, for the lease to expire")
    default: return fail(String(describing: error))
    }
}

/// Loads and validates the source; prints diagnostics and throws exit 1 when invalid.
func loadValid(_ snapshot: SourceSnapshot) throws -> DesiredState {
    let result = SpecLoader.load(files: snapshot.files.map { (path: $0.path, contents: $0.contents) })
    if !result.diagnostics.isEmpty {
        FileHandle.standardError.write((result.diagnostics.map(\.rendered).joined(separator: "\n") + "\n").data(using: .utf8)!)
    }
    if !result.isValid {
        let errors = result.diagnostics.filter { $0.severity == .error }.count
        throw fail("\(snapshot.origin) is not valid (\(errors) error\(errors == 1 ? "" : "s")); nothing was planned or applied",
                   hint: "run `berth validate` for the full report")
    }
    return result.state
}

func writeStdout(_ text: String) {
    FileHandle.standardOutput.write(text.data(using: .utf8)!)
}

import ArgumentParser
import Foundation
import Reconciler

struct ControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "Keep Redis (and so every berth-proxy) converged on a git repository, continuously.",
        discussion: """
            Each pass fetches the ref, validates every file, observes Redis, plans and applies, and records \
            status. A pass runs on a push webhook (POST /hooks/git), on `berth sync`, and every --interval \
            even when nothing moved, which also corrects drift (a lease deleted by hand, a route table \
            overwritten by hand).

            An invalid revision is never applied, not even partly: the last good revision stays live and \
            `berth status` shows the errors with file:line:col and the commit that broke it. A resource \
            that fails on its own (no free port for it) is retried with exponential backoff while the \
            others converge.

            Run as many controllers as you like against one Redis: only the holder of the apply lease \
            (<prefix>lock:apply) writes; the others wait and take over within the lease time when it \
            dies. SIGTERM finishes the pass in progress, releases the lease and exits 0.

            The listener (--listen, localhost by default) serves /healthz, /readyz, /status (JSON), \
            /metrics (Prometheus) and POST /hooks/git, which needs --webhook-secret-file: GitHub-style \
            X-Hub-Signature-256, X-Gitea-Signature and X-Gitlab-Token are accepted; anything unsigned or \
            mis-signed gets 401 and triggers nothing.

            Certificates: the leader issues one per TLS Domain (all its hosts in one certificate), renews it \
            when a third of its lifetime is left and re-issues it when the hosts change. `tls: acme` orders \
            from --acme-directory (or the Domain's spec.acme.directory) over HTTP-01, answered by every \
            berth-proxy from Redis; `tls: self-signed` is signed by the internal CA (`berth ca export`). \
            A Domain whose order fails shows the ACME problem in status and is retried with backoff.

            Instances: `runtime: docker` ones run as containers through the Docker Engine API (--docker-host), \
            `runtime: process` ones as children of the controller (they stop with it). A changed instance is \
            replaced: new replicas start on new ports, must pass their health check, the route table moves to \
            them, the proxies take it, the old replicas drain (--drain) and stop. New replicas that never get \
            healthy are removed again and the old ones keep serving; status shows the last health answer. A \
            replica that exits or is removed by hand is started again by the next pass; a running one that \
            fails 3 health checks in a row leaves the route table until it passes, and one that fails \
            health.restartAfter in a row (when set) is restarted.

            Examples:
              berth controller --repo https://git.example.com/edge.git --ref main \\
                --redis redis://10.0.0.5:6379/0 \\
                --webhook-secret-file /etc/berth/webhook-secret
              berth controller --repo ./edge --interval 2s   # a directory, read every 2 s
            """)

    @OptionGroup var source: SourceOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var certificates: CertificateOptions
    @OptionGroup var runtime: RuntimeOptions

    @Option(help: ArgumentHelp("Run a full pass at least this often, even when nothing moved.", valueName: "duration"))
    var interval: String = "30s"

    @Option(help: ArgumentHelp("Address of the status, metrics and webhook listener.", valueName: "addr:port"))
    var listen: String = "127.0.0.1:9000"

    @Option(name: .customLong("webhook-secret-file"), help: ArgumentHelp("File holding the push webhook's shared secret (enables POST /hooks/git).", valueName: "file"))
    var webhookSecretFile: String?

    @Option(name: .customLong("lease-ttl"), help: ArgumentHelp("Lifetime of the apply lease; renewed every third of it. A standby takes over this long after the leader dies.", valueName: "duration"))
    var leaseTTL: String = "15s"

    @Option(name: .customLong("holder"), help: ArgumentHelp("Name of this controller in the lease and status (default: host and pid).", valueName: "name"))
    var holder: String?

    func validate() throws {
        _ = try parseInterval(interval, option: "--interval")
        if try parseInterval(leaseTTL, option: "--lease-ttl") < 1 { throw ValidationError("--lease-ttl must be at least 1s") }
        _ = try parseListen(listen, option: "--listen")
    }

    func run() async throws {
        let stack: ControllerStack
        do {
            stack = try ControllerStack(configuration: try makeConfiguration(), listen: try parseListen(listen, option: "--listen"),
                                        verifier: try readWebhookSecret(webhookSecretFile))
            try stack.start()
        } catch let error as ValidationError { throw error } catch { throw printError(error) }
        let configuration = stack.controller.configuration
        writeStdout("berth controller \(configuration.holder): repository \(configuration.repository)\(configuration.ref.map { " @ \($0)" } ?? ""), redis \(state.redisURL) (prefix \(configuration.prefix)), every \(interval); listening on \(stack.boundListener)\(webhookSecretFile == nil ? " (webhook disabled: no --webhook-secret-file)" : "")\n")
        let ledAtStop = LockedBox(false)
        try await runUntilSignalled([BlockingService(start: {}, stop: {
            _ = ledAtStop.exchange(stack.controller.snapshot.leader)
            stack.stop()
        })])
        writeStdout("berth controller \(configuration.holder): stopped\(ledAtStop.current ? "; apply lease released" : " (was standby)").\n")
    }

    func makeConfiguration() throws -> ControllerConfiguration {
        var configuration = ControllerConfiguration(
            repository: source.repo ?? FileManager.default.currentDirectoryPath, ref: source.ref, subdirectory: source.subdirectory,
            redisURL: state.redisURL, holder: holder ?? "controller \(ProcessInfo.processInfo.hostName) pid \(getpid())")
        configuration.prefix = state.prefix
        configuration.interval = try parseInterval(interval, option: "--interval")
        configuration.leaseTTLMilliseconds = Int(try parseInterval(leaseTTL, option: "--lease-ttl") * 1000)
        configuration.planner = try state.configuration()
        certificates.apply(to: &configuration.planner)
        configuration.acmeCAFile = certificates.acmeCAFile
        try runtime.apply(to: &configuration)
        return configuration
    }
}

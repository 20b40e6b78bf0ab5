import ArgumentParser
import Foundation
import Reconciler
import RedisClient

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what is live: the revision applied, the last pass, each resource's condition and every proxy.",
        discussion: """
            Reads Redis only. Resources are Ready, Progressing (recorded, waiting for something such as a \
            runtime) or Failed (with the reason and when the next retry is). Each berth-proxy replica is \
            listed with the route table generation it serves; replicas behind the live generation are \
            marked STALE. An invalid revision that was not applied is shown with its errors.

            Exit status: 0, or 1 when Redis cannot be read.

            Examples:
              berth status
              berth status --redis redis://10.0.0.5:6379/0 --format json
            """)

    @OptionGroup var redis: RedisOptions
    @OptionGroup var output: OutputOptions

    @Flag(help: "List every resource in text output, Ready ones included (by default they are only counted when there are more than 50).")
    var all = false

    func run() throws {
        do {
            let connection = try RedisConnection(redis.redisURL)
            defer { connection.close() }
            let report = try StatusReport.read(connection, prefix: redis.prefix)
            switch output.format {
            case .text: writeStdout(report.text(allResources: all))
            case .json: writeStdout(report.json().prettyString + "\n")
            }
        } catch let error as RedisError {
            throw fail("cannot read status from \(redis.redisURL): \(error)", hint: "check --redis or REDIS_URL")
        } catch { throw printError(error) }
    }
}

struct Sync: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask the controllers to run a pass now (through Redis, so it works from any host).",
        discussion: """
            Publishes on <prefix>control; every controller subscribed there starts a pass (only the \
            lease holder applies). With --wait, waits for the pass to finish and prints its outcome; \
            exit status 1 when it was invalid or failed.

            Examples:
              berth sync
              berth sync --wait --timeout 60s          # in a post-receive hook or CI job
            """)

    @OptionGroup var redis: RedisOptions

    @Flag(help: "Wait until a pass that started after the request has finished, and print its outcome.")
    var wait = false

    @Option(help: ArgumentHelp("How long --wait waits.", valueName: "duration"))
    var timeout: String = "60s"

    func validate() throws { _ = try parseInterval(timeout, option: "--timeout") }

    func run() throws {
        do {
            let connection = try RedisConnection(redis.redisURL)
            defer { connection.close() }
            let statusKey = RedisKeys(prefix: redis.prefix).status
            let before = try connection.send(["HGET", statusKey, "pass_sequence"]).string.flatMap { Int($0) } ?? 0
            let requestedAt = Date()
            let receivers = try connection.send(["PUBLISH", SyncListener.channel(prefix: redis.prefix), "sync (berth sync from \(ProcessInfo.processInfo.hostName))"]).integer ?? 0
            guard receivers > 0 else {
                throw fail("no controller is listening on \(redis.prefix)control at \(redis.redisURL)", hint: "start `berth controller` (or `berth up`) against this Redis and prefix")
            }
            writeStdout("Sync requested; \(receivers) controller\(receivers == 1 ? "" : "s") notified.\n")
            guard wait else { return }
            let deadline = requestedAt.addingTimeInterval(try parseInterval(timeout, option: "--timeout"))
            while Date() < deadline {
                let values = try connection.send(["HMGET", statusKey, "pass_sequence", "pass_at", "pass_outcome", "pass_revision", "pass_error"]).array ?? []
                let strings = values.map { $0.string ?? "" }
                if let sequence = Int(strings[0]), sequence > before, let at = Timestamps.date(strings[1]), at >= requestedAt.addingTimeInterval(-0.001) {
                    writeStdout("Pass #\(sequence): \(strings[2]) (revision \(PlanRenderer.shortRevision(strings[3])))\(strings[4].isEmpty ? "" : ": \(strings[4])")\n")
                    if ["invalid", "failed", "fetch-failed"].contains(strings[2]) { throw ExitCode(1) }
                    return
                }
                Thread.sleep(forTimeInterval: 0.1)
            }
            throw fail("no pass finished within \(timeout)", hint: "see `berth status` and the controller's log")
        } catch let exit as ExitCode { throw exit } catch { throw printError(error) }
    }
}

/// Just where Redis is (for commands that read or signal, and plan nothing).
struct RedisOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Redis URL (default: $REDIS_URL, then redis://127.0.0.1:6379/0).", valueName: "url"))
    var redis: String?

    @Option(name: .long, help: ArgumentHelp("Prefix of every Redis key Berth uses.", valueName: "prefix"))
    var prefix: String = "berth:"

    var redisURL: String {
        redis ?? ProcessInfo.processInfo.environment["REDIS_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "redis://127.0.0.1:6379/0"
    }
}

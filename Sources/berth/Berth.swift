import ArgumentParser

@main
struct Berth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "berth",
        abstract: "GitOps edge platform: domains, routes, auth policies and instances from YAML in git.",
        discussion: """
            Berth reads the desired state of your edge from YAML files (a git repository or a directory), \
            shows exactly what would change against the state kept in Redis, and applies it: port leases, \
            an inventory of what it applied, and the compiled route table that berth-proxy replicas serve.

            Typical flow:
              berth validate --repo ./edge              # every mistake, at file:line:col
              berth plan --repo ./edge --out plan.json  # what would change
              berth apply plan.json                     # exactly that plan, or refused
              berth controller --repo URL --ref main    # or converge on every push
              berth status                              # what is live, on how many proxies
              berth up                                  # all of it on this machine

            Redis is taken from --redis, else $REDIS_URL, else redis://127.0.0.1:6379/0.
            """,
        version: BerthVersion.current,
        subcommands: [Validate.self, Plan.self, Apply.self, ControllerCommand.self, Status.self, Sync.self, Up.self, CA.self]
    )
}

enum BerthVersion {
    static let current = "0.1.0"
}

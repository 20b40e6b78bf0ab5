import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// berth reading a repository over ssh from a real OpenSSH server on loopback (openssh-server;
/// the test fails when sshd, ssh-keygen, ssh-agent or ssh-add is missing). libgit2 checks the
/// server's host key against `$HOME/.ssh/known_hosts` and berth offers ssh-agent's keys only: an
/// unknown host key, a changed one, no agent and an agent without the deploy key are each refused
/// with a hint naming the fix, and only the recorded key with the deploy key in the agent reads.
@Suite struct GitSourceSSHTests {
    @Test func sshRemotesNeedTheRecordedHostKeyAndTheDeployKeyInTheAgent() throws {
        let cli = try BerthCLI()
        let server = try SSHServer.start()
        let agent = try SSHAgent.start()
        defer {
            server.process.stopDaemon()
            agent.process.stopDaemon()
            server.directory.remove()
            agent.directory.remove()
        }
        let stranger = try SSHServer.keyPair(named: "stranger", in: server.directory)

        let remote = try Workspace()
        try remote.git(["init", "--bare", "-q", "edge.git"])
        let work = try Workspace()
        try work.git(["init", "-q"])
        for (name, text) in Repos.shop() { try work.write("edge/\(name)", text) }
        try work.git(["add", "-A"])
        try work.git(["commit", "-q", "-m", "first"])
        try work.git(["push", "-q", "\(remote.path)/edge.git", "HEAD:refs/heads/main"])
        let url = "ssh://\(server.user)@127.0.0.1:\(server.port)\(remote.path)/edge.git"

        let home = try TemporaryDirectory(prefix: "berth-ssh-home")
        let knownHosts = home.path + "/.ssh/known_hosts"
        try FileManager.default.createDirectory(atPath: home.path + "/.ssh", withIntermediateDirectories: true)
        let cache = try TemporaryDirectory(prefix: "berth-ssh-cache")
        defer { home.remove(); cache.remove() }
        func validate(agentSocket: String) throws -> ProcessResult {
            try cli.run(["validate", "--repo", url, "--path", "edge"],
                        environment: ["HOME": home.path, "SSH_AUTH_SOCK": agentSocket, "BERTH_CACHE_DIR": cache.path])
        }

        // No known_hosts: the key is unknown, so nothing is read, whatever the agent holds.
        try agent.add(server.clientKey)
        let unknown = try validate(agentSocket: agent.socket)
        #expect(unknown.status == 1, "\(unknown)")
        #expect(unknown.stderr.contains("invalid or unknown remote ssh hostkey"), "\(unknown)")
        #expect(unknown.stderr.contains("hint: the host key of [127.0.0.1]:\(server.port) is not in \(knownHosts)"), "\(unknown)")
        #expect(unknown.stderr.contains("ssh-keyscan -p \(server.port) 127.0.0.1 >> \(knownHosts)"), "\(unknown)")

        // Another key recorded for the host (what a man in the middle presents looks like this): refused.
        try "[127.0.0.1]:\(server.port) \(stranger.publicKey)\n".write(toFile: knownHosts, atomically: true, encoding: .utf8)
        let changed = try validate(agentSocket: agent.socket)
        #expect(changed.status == 1, "\(changed)")
        #expect(changed.stderr.contains("invalid or unknown remote ssh hostkey"), "\(changed)")

        // The server's own key recorded: the host is trusted, but authentication still needs the agent.
        try "[127.0.0.1]:\(server.port) \(server.hostPublicKey)\n".write(toFile: knownHosts, atomically: true, encoding: .utf8)
        let noAgent = try validate(agentSocket: server.directory.path + "/no-agent.sock")
        #expect(noAgent.status == 1, "\(noAgent)")
        #expect(noAgent.stderr.contains("hint: berth authenticates over ssh with ssh-agent's keys only"), "\(noAgent)")

        let otherAgent = try SSHAgent.start()
        defer {
            otherAgent.process.stopDaemon()
            otherAgent.directory.remove()
        }
        try otherAgent.add(stranger.privateKeyPath)
        let wrongKey = try validate(agentSocket: otherAgent.socket)
        #expect(wrongKey.status == 1, "\(wrongKey)")
        #expect(wrongKey.stderr.contains("offered no key [127.0.0.1]:\(server.port) accepted for user \"\(server.user)\""), "\(wrongKey)")

        let read = try validate(agentSocket: agent.socket)
        #expect(read.status == 0, "\(read)\n\(server.process.output)")
        #expect(read.stdout.contains("valid"), "\(read)")
    }
}

/// An OpenSSH server on a free loopback port that lets the current user in with one key pair,
/// made for the test along with the host key.
struct SSHServer {
    let process: BackgroundProcess
    let directory: TemporaryDirectory
    let port: Int
    let user: String
    /// `ssh-ed25519 AAAA…`, as known_hosts records it.
    let hostPublicKey: String
    /// The private key the server accepts.
    let clientKey: String

    struct KeyPair {
        let privateKeyPath: String
        let publicKey: String
    }

    static func keyPair(named name: String, in directory: TemporaryDirectory) throws -> KeyPair {
        let path = directory.path + "/" + name
        let made = try runProcess("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path])
        guard made.succeeded else { throw TestSupportError("ssh-keygen failed: \(made)") }
        let text = try String(contentsOfFile: path + ".pub", encoding: .utf8)
        return KeyPair(privateKeyPath: path, publicKey: text.split(separator: " ").prefix(2).joined(separator: " "))
    }

    static func start() throws -> SSHServer {
        let sshd = "/usr/sbin/sshd"
        guard FileManager.default.isExecutableFile(atPath: sshd) else {
            throw TestSupportError("\(sshd) is missing: apt-get install openssh-server")
        }
        let directory = try TemporaryDirectory(prefix: "berth-sshd")
        let host = try keyPair(named: "host", in: directory)
        let client = try keyPair(named: "client", in: directory)
        try (client.publicKey + "\n").write(toFile: directory.path + "/authorized_keys", atomically: true, encoding: .utf8)
        guard let entry = getpwuid(getuid()), let name = entry.pointee.pw_name else { throw TestSupportError("no passwd entry for uid \(getuid())") }
        let user = String(cString: name)
        // sshd running as root wants its privilege-separation directory.
        if getuid() == 0 { try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true) }
        let port = try freeLoopbackPort()
        let config = """
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(host.privateKeyPath)
            AuthorizedKeysFile \(directory.path)/authorized_keys
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            StrictModes no
            PermitRootLogin prohibit-password
            PidFile \(directory.path)/sshd.pid

            """
        try config.write(toFile: directory.path + "/sshd_config", atomically: true, encoding: .utf8)
        let process = try BackgroundProcess(daemon: [sshd, "-D", "-e", "-f", directory.path + "/sshd_config"], name: "sshd")
        guard eventually(timeout: 10, { process.stderr.contains("Server listening") || !process.isRunning }), process.isRunning else {
            throw TestSupportError("sshd did not start listening:\n\(process.output)")
        }
        return SSHServer(process: process, directory: directory, port: port, user: user,
                         hostPublicKey: host.publicKey, clientKey: client.privateKeyPath)
    }
}

/// An ssh-agent listening on a socket of its own, for one test.
struct SSHAgent {
    let process: BackgroundProcess
    let directory: TemporaryDirectory
    var socket: String { directory.path + "/agent.sock" }

    static func start() throws -> SSHAgent {
        let directory = try TemporaryDirectory(prefix: "berth-agent")
        let process = try BackgroundProcess(daemon: ["ssh-agent", "-D", "-a", directory.path + "/agent.sock"], name: "ssh-agent")
        let agent = SSHAgent(process: process, directory: directory)
        guard eventually(timeout: 10, { FileManager.default.fileExists(atPath: agent.socket) || !process.isRunning }), process.isRunning else {
            throw TestSupportError("ssh-agent did not start:\n\(process.output)")
        }
        return agent
    }

    func add(_ privateKey: String) throws {
        let added = try runProcess("ssh-add", ["-q", privateKey], environment: ["SSH_AUTH_SOCK": socket])
        guard added.succeeded else { throw TestSupportError("ssh-add \(privateKey) failed: \(added)") }
    }
}

extension BackgroundProcess {
    /// Runs `command` under a shell that stays its parent and, on SIGTERM, stops it and waits for
    /// it. OpenSSH's programs do not suit `Process` alone: sshd closes every inherited descriptor as
    /// it starts, and `Process` takes its end of a socket pair closing for the child's exit, then
    /// waits for the still-running child, blocking the thread that reaps every process of the test
    /// run; ssh-agent keeps that descriptor but clears the parent-death signal, so it outlives a
    /// killed parent and the descriptor never closes. Stop these with `stopDaemon()`.
    convenience init(daemon command: [String], name: String) throws {
        let script = "\"$0\" \"$@\" & child=$!; trap 'kill $child 2>/dev/null; wait $child; exit 0' TERM; wait $child"
        try self.init("/bin/sh", ["-c", script] + command, name: name)
    }

    /// SIGTERM to the shell, which stops the command and waits for it.
    func stopDaemon() {
        if signal(SIGTERM, waitingUpTo: 10) == nil { kill() }
    }
}

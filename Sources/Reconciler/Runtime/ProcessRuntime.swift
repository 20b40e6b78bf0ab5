import Foundation
import Spec

/// Replicas as child processes of the controller (`runtime: process`). Each runs in its own
/// process group (so SIGTERM reaches what a shell started), with stdin from /dev/null and its
/// output appended to `<logDirectory>/<replica name>.log`.
///
/// Berth's marker is in the environment: `BERTH_NAMESPACE`, `BERTH_REPLICA` and friends. A
/// controller that died leaves its children running; the next one finds them in /proc by that
/// marker, keeps the ones it still wants (checking them each pass) and removes the rest.
public final class ProcessRuntime: ContainerRuntime, @unchecked Sendable {
    public let kind: Instance.Runtime = .process
    public let namespace: String
    public let logDirectory: String
    /// Called (on a supervisor thread) when a child exits, so the controller can run a pass.
    public var onExit: (@Sendable (String) -> Void)?

    private struct Child {
        var pid: pid_t
        var instance: String
        var templateHash: String
        var replica: Int
        var ports: [Int]
        var state: ObservedReplica.State
        /// Not our child (found in /proc after a controller restart): checked with kill(pid, 0).
        var adopted: Bool
        var startedAt = Date()
        var restartNotBefore: Date?
    }

    /// A replica that exits within this long of starting counts as crashing: its restarts back off.
    public static let quickExitSeconds: TimeInterval = 30
    /// Consecutive quick exits, by replica name (kept across restarts, reset by a long run).
    private var quickExits: [String: Int] = [:]

    private let lock = NSCondition()
    private var children: [String: Child] = [:]
    /// Replicas being removed on purpose: their exit is not news for the controller.
    private var removing: Set<String> = []

    /// Environment variables of the controller a process inherits; the rest (Redis URLs, secrets)
    /// stays out of it. The spec's `env` comes on top.
    public static let inherited = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME", "TMPDIR", "PYTHONPATH"]

    public init(namespace: String, logDirectory: String) throws {
        self.namespace = namespace
        self.logDirectory = logDirectory
        do {
            try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        } catch {
            throw RuntimeError(code: "log-directory", message: "cannot create the process log directory \(logDirectory): \(error)")
        }
    }

    deinit {
        for name in lock.withLock({ Array(children.keys) }) { try? remove(name: name, graceSeconds: 2) }
    }

    // MARK: ContainerRuntime

    public func observe(portRange: ClosedRange<Int>) throws -> RuntimeObservation {
        adoptLeftovers()
        return lock.withLock {
            var result = RuntimeObservation()
            for (name, child) in children {
                var state = child.state
                if child.adopted, state == .running, kill(child.pid, 0) != 0 { state = .exited(status: -1, at: nil) }
                var replica = ObservedReplica(name: name, instance: child.instance, templateHash: child.templateHash,
                                              replica: child.replica, runtime: .process, state: state,
                                              handle: String(child.pid), hostPorts: child.ports)
                replica.restartNotBefore = child.restartNotBefore
                result.replicas.append(replica)
            }
            return result
        }
    }

    public func start(_ spec: ReplicaSpec) throws {
        try remove(name: spec.name, graceSeconds: 5)
        guard let program = spec.command.first else { throw RuntimeError(code: "no-command", message: "instance \(spec.instance) has no command") }
        var environment: [String: String] = [:]
        let own = ProcessInfo.processInfo.environment
        for key in Self.inherited { if let value = own[key] { environment[key] = value } }
        environment.merge(spec.environment) { _, declared in declared }
        environment["BERTH_NAMESPACE"] = namespace
        environment["BERTH_REPLICA"] = spec.name
        environment["BERTH_INSTANCE"] = spec.instance
        environment["BERTH_TEMPLATE"] = spec.templateHash
        environment["BERTH_REPLICA_INDEX"] = String(spec.replica)
        environment["BERTH_PORTS"] = spec.ports.map { String($0.hostPort) }.joined(separator: ",")

        let log = logDirectory + "/" + spec.name + ".log"
        var attributes = posix_spawnattr_t()
        var actions = posix_spawn_file_actions_t()
        posix_spawnattr_init(&attributes)
        posix_spawn_file_actions_init(&actions)
        defer {
            posix_spawnattr_destroy(&attributes)
            posix_spawn_file_actions_destroy(&actions)
        }
        // Own process group; no blocked or ignored signals inherited from the controller's threads.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o640)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of the controller's leaks into the child: sockets, Redis connections, and the
        // pipes a parent may watch to learn that the controller exited (a child holding them would
        // keep the controller "alive" to its own parent).
        _ = spawnCloseFrom(&actions, 3)

        let argv = spec.command.map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, program, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw RuntimeError(code: "spawn-failed", message: "cannot start `\(spec.command.joined(separator: " "))`: \(String(cString: strerror(result)))",
                               hint: result == ENOENT ? "\(program) is not on the controller's PATH" : nil)
        }
        lock.withLock {
            children[spec.name] = Child(pid: pid, instance: spec.instance, templateHash: spec.templateHash, replica: spec.replica,
                                        ports: spec.ports.map(\.hostPort), state: .running, adopted: false)
        }
        let spawned = pid, name = spec.name
        let thread = Thread { [weak self] in self?.supervise(name: name, pid: spawned) }
        thread.name = "berth-process-\(spec.name)"
        thread.start()
    }

    public func remove(name: String, graceSeconds: Int) throws {
        guard let child = lock.withLock({ children[name] }) else { return }
        lock.withLock { _ = removing.insert(name) }
        defer { lock.withLock { _ = removing.remove(name) } }
        if child.state == .running {
            kill(-child.pid, SIGTERM)
            let deadline = Date().addingTimeInterval(Double(graceSeconds))
            var exited = false
            while Date() < deadline {
                if exitedNow(name: name, child: child) { exited = true; break }
                Thread.sleep(forTimeInterval: 0.02)
            }
            if !exited { kill(-child.pid, SIGKILL) }
            while !exitedNow(name: name, child: child) && Date() < deadline.addingTimeInterval(5) { Thread.sleep(forTimeInterval: 0.02) }
        }
        lock.withLock { _ = children.removeValue(forKey: name) }
    }

    public func state(of name: String) throws -> ObservedReplica.State? {
        lock.withLock {
            guard let child = children[name] else { return nil }
            if child.adopted, child.state == .running, kill(child.pid, 0) != 0 { return .exited(status: -1, at: nil) }
            return child.state
        }
    }

    public func logTail(of name: String, lines: Int) -> String? {
        guard let data = FileManager.default.contents(atPath: logDirectory + "/" + name + ".log") else { return nil }
        let text = String(decoding: data.suffix(16_384), as: UTF8.self)
        let tail = text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines + 1).joined(separator: "\n")
        let trimmed = tail.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }

    /// Stops every replica (the controller is shutting down).
    public func stopAll(graceSeconds: Int) {
        for name in lock.withLock({ Array(children.keys) }) { try? remove(name: name, graceSeconds: graceSeconds) }
    }

    // MARK: Supervision

    private func supervise(name: String, pid: pid_t) {
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, 0) } while result == -1 && errno == EINTR
        // Exit code, or 128 + signal as a shell reports it.
        let code: Int = (status & 0x7f) == 0 ? Int((status >> 8) & 0xff) : 128 + Int(status & 0x7f)
        let (current, delay) = lock.withLock { () -> (Bool, TimeInterval) in
            guard var child = children[name], child.pid == pid else { return (false, 0) }
            let now = Date()
            child.state = .exited(status: code, at: now)
            // A crash loop is restarted 1, 2, 4 … 60 s apart, not as fast as it can die.
            let quick = now.timeIntervalSince(child.startedAt) < Self.quickExitSeconds
            let count = quick ? (quickExits[name] ?? 0) + 1 : 0
            quickExits[name] = count
            let delay = count == 0 ? 0 : min(60, pow(2, Double(count - 1)))
            child.restartNotBefore = delay > 0 ? now.addingTimeInterval(delay) : nil
            children[name] = child
            lock.broadcast()
            return (!removing.contains(name), delay)
        }
        guard current, let onExit else { return }
        if delay > 0 {
            DispatchQueue.global().asyncAfter(deadline: .now() + delay) { onExit(name) }
        } else {
            onExit(name)
        }
    }

    private func exitedNow(name: String, child: Child) -> Bool {
        if child.adopted { return kill(child.pid, 0) != 0 }
        return lock.withLock { children[name].map { $0.pid != child.pid || $0.state != .running } ?? true }
    }

    /// Finds processes of this namespace that are not (or no longer) our children: left by a
    /// controller that was killed. They are taken over so a pass can keep or remove them.
    private func adoptLeftovers() {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return }
        let known = lock.withLock { Set(children.values.map(\.pid)) }
        let marker = Array("BERTH_NAMESPACE=\(namespace)".utf8)
        for entry in entries {
            guard let pid = pid_t(entry), pid != getpid(), !known.contains(pid),
                  let data = FileManager.default.contents(atPath: "/proc/\(entry)/environ") else { continue }
            let variables = data.split(separator: 0)
            guard variables.contains(where: { Array($0) == marker }) else { continue }
            var values: [String: String] = [:]
            for variable in variables {
                let text = String(decoding: variable, as: UTF8.self)
                guard text.hasPrefix("BERTH_"), let equals = text.firstIndex(of: "=") else { continue }
                values[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            // Only the group leader (the process Berth spawned) stands for the replica.
            guard getpgid(pid) == pid, let name = values["BERTH_REPLICA"], let instance = values["BERTH_INSTANCE"],
                  let hash = values["BERTH_TEMPLATE"], let replica = values["BERTH_REPLICA_INDEX"].flatMap({ Int($0) }) else { continue }
            let ports = (values["BERTH_PORTS"] ?? "").split(separator: ",").compactMap { Int($0) }
            lock.withLock {
                if children[name] == nil {
                    children[name] = Child(pid: pid, instance: instance, templateHash: hash, replica: replica, ports: ports,
                                           state: .running, adopted: true)
                }
            }
        }
    }
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which Swift's Glibc module does not
/// export: the child closes every descriptor from `from` on before it runs the program.
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func spawnCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32

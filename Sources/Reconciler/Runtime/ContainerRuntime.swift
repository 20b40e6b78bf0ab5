import Foundation
import Spec

/// One replica as a runtime is asked to run it: everything decided (ports, environment, name), so
/// starting the same spec twice gives the same thing.
public struct ReplicaSpec: Sendable, Equatable {
    public struct PortBinding: Sendable, Equatable {
        public var name: String
        public var hostPort: Int
        /// The port inside the container (docker); nil for a process, which listens on `hostPort`.
        public var containerPort: Int?
    }

    public var instance: String
    public var templateHash: String
    public var replica: Int
    public var runtime: Instance.Runtime
    public var image: String?
    public var command: [String]
    /// The declared environment plus `PORT` (first port) and `PORT_<NAME>` for each port.
    public var environment: [String: String]
    public var ports: [PortBinding]
    public var bindAddress: String
    public var restart: Instance.RestartPolicy
    public var resources: Instance.Resources?
    public var security: Instance.Security
    public var health: Instance.Health?
    public var revision: String

    /// `berth-<instance>-<template hash>-<replica>`.
    public var name: String { "berth-\(instance)-\(templateHash)-\(replica)" }

    /// The replica `replica` of `instance`, on the host ports leased for it (`owner` → port).
    public init(instance: Instance, replica: Int, leased: [String: Int], revision: String) {
        self.instance = instance.name
        self.templateHash = instance.templateHash
        self.replica = replica
        self.runtime = instance.runtime
        self.image = instance.image
        self.command = instance.command
        var environment = instance.env
        var ports: [PortBinding] = []
        for port in instance.ports {
            let owner = PortOwner(instance: instance.name, templateHash: templateHash, replica: replica, port: port.name)
            guard let hostPort = leased[owner.description] else { continue }
            ports.append(PortBinding(name: port.name, hostPort: hostPort, containerPort: port.containerPort))
            // Inside a container the program listens on its containerPort; a process on the host port.
            let visible = port.containerPort ?? hostPort
            environment["PORT_" + port.name.uppercased().replacingOccurrences(of: "-", with: "_")] = String(visible)
            if environment["PORT"] == nil { environment["PORT"] = String(visible) }
        }
        self.environment = environment
        self.ports = ports
        self.bindAddress = instance.bindAddress
        self.restart = instance.restart
        self.resources = instance.resources
        self.security = instance.security
        self.health = instance.health
        self.revision = revision
    }

    /// The host port health checks and the first route use: the first declared port.
    public var primaryPort: Int? { ports.first?.hostPort }
}

/// A replica as the runtime reports it: found by Berth's labels (containers) or by the marker in
/// its environment (processes).
public struct ObservedReplica: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case running
        /// Exited, with its status and when (if known).
        case exited(status: Int, at: Date?)
        /// Created but never started, paused, being restarted by Docker…: not serving.
        case other(String)
    }

    public var name: String
    public var instance: String
    public var templateHash: String
    public var replica: Int
    public var runtime: Instance.Runtime
    public var state: State
    /// Container id or process id.
    public var handle: String
    /// Host ports it publishes (containers) or was given (processes).
    public var hostPorts: [Int]
    /// For a replica that keeps exiting soon after it starts: not restarted before this time.
    public var restartNotBefore: Date?

    public init(name: String, instance: String, templateHash: String, replica: Int, runtime: Instance.Runtime, state: State,
                handle: String, hostPorts: [Int] = []) {
        self.name = name
        self.instance = instance
        self.templateHash = templateHash
        self.replica = replica
        self.runtime = runtime
        self.state = state
        self.handle = handle
        self.hostPorts = hostPorts
    }

    public var isRunning: Bool { state == .running }

    public var stateDescription: String {
        switch state {
        case .running: "running"
        case .exited(let status, _): "exited with status \(status)"
        case .other(let text): text
        }
    }
}

/// Something on the host that Berth does not own but that publishes a host port in its range (an
/// unlabelled container): never touched, reported as a conflict.
public struct ForeignPortHolder: Sendable, Equatable {
    public var port: Int
    /// `container 3f2a… (name)`.
    public var holder: String
}

/// What the runtimes see, for the planner.
public struct RuntimeObservation: Sendable, Equatable {
    public var replicas: [ObservedReplica] = []
    public var foreign: [ForeignPortHolder] = []
    /// Runtimes that could not be read this pass (their replicas are left alone, not re-created).
    public var unavailable: [Instance.Runtime: String] = [:]
    /// Running replicas failing their health checks (name → what the checks saw): not routed.
    public var unready: [String: String] = [:]
    /// Failed checks in a row of those replicas (name → count), against `health.restartAfter`.
    public var failedChecks: [String: Int] = [:]
    public init(replicas: [ObservedReplica] = [], foreign: [ForeignPortHolder] = [], unavailable: [Instance.Runtime: String] = [:],
                unready: [String: String] = [:], failedChecks: [String: Int] = [:]) {
        self.replicas = replicas
        self.foreign = foreign
        self.unavailable = unavailable
        self.unready = unready
        self.failedChecks = failedChecks
    }
}

/// A failure of a runtime, with what the operator can do about it.
public struct RuntimeError: Error, CustomStringConvertible, Sendable, Equatable {
    public var code: String
    public var message: String
    public var hint: String?
    public init(code: String, message: String, hint: String? = nil) {
        self.code = code
        self.message = message
        self.hint = hint
    }
    public var description: String { message + (hint.map { " (\($0))" } ?? "") }
}

/// Runs replicas of one kind (containers or processes). Every call blocks; the controller calls
/// them from its pass thread. Implementations touch only what carries Berth's marker.
public protocol ContainerRuntime: AnyObject, Sendable {
    var kind: Instance.Runtime { get }
    /// Every replica carrying Berth's marker, and (docker) unlabelled holders of host ports in `portRange`.
    func observe(portRange: ClosedRange<Int>) throws -> RuntimeObservation
    /// Creates and starts the replica. Anything of Berth's already under its name is removed first.
    func start(_ spec: ReplicaSpec) throws
    /// Stops (SIGTERM, then SIGKILL after `graceSeconds`) and removes the replica. Gone already is fine.
    func remove(name: String, graceSeconds: Int) throws
    /// The replica's state right now (nil when it does not exist).
    func state(of name: String) throws -> ObservedReplica.State?
    /// The last lines the replica wrote, for error messages.
    func logTail(of name: String, lines: Int) -> String?
}

/// The runtimes a controller has, by kind.
public struct RuntimeSet: Sendable {
    public var docker: ContainerRuntime?
    public var process: ContainerRuntime?

    public init(docker: ContainerRuntime? = nil, process: ContainerRuntime? = nil) {
        self.docker = docker
        self.process = process
    }

    public func runtime(_ kind: Instance.Runtime) -> ContainerRuntime? {
        switch kind {
        case .docker: docker
        case .process: process
        }
    }

    public var kinds: Set<Instance.Runtime> {
        var kinds: Set<Instance.Runtime> = []
        if docker != nil { kinds.insert(.docker) }
        if process != nil { kinds.insert(.process) }
        return kinds
    }

    /// Observes every runtime; one that cannot be read is reported, not fatal.
    public func observe(portRange: ClosedRange<Int>) -> RuntimeObservation {
        var result = RuntimeObservation()
        for runtime in [docker, process].compactMap({ $0 }) {
            do {
                let seen = try runtime.observe(portRange: portRange)
                result.replicas += seen.replicas
                result.foreign += seen.foreign
            } catch {
                result.unavailable[runtime.kind] = "\(error)"
            }
        }
        result.replicas.sort { $0.name < $1.name }
        result.foreign.sort { ($0.port, $0.holder) < ($1.port, $1.holder) }
        return result
    }
}

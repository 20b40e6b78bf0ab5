/// Something Berth runs: containers (Docker) or supervised processes, each replica on its own
/// allocated host ports.
public struct Instance: Sendable, Hashable {
    public enum Runtime: String, Sendable, Hashable, CaseIterable {
        case docker
        case process
    }

    public struct Port: Sendable, Hashable {
        public var name: String
        /// The port inside the container (docker); nil for the process runtime, whose program
        /// listens on the allocated host port it is given in `PORT_<NAME>`.
        public var containerPort: Int?
        public init(name: String, containerPort: Int?) { self.name = name; self.containerPort = containerPort }
    }

    public struct Health: Sendable, Hashable {
        public static let defaultSuccesses = 1
        public static let defaultStartTimeoutMilliseconds = 60_000

        public var path: String
        /// Milliseconds.
        public var intervalMilliseconds: Int
        public var timeoutMilliseconds: Int
        /// Consecutive passing checks before a new replica takes traffic.
        public var successes: Int
        /// How long a new replica has to pass them; past that the rollout is rolled back.
        public var startTimeoutMilliseconds: Int
        /// Failed checks in a row after which a running replica is restarted; nil: never (it only
        /// leaves the route table after 3, and comes back when it passes again).
        public var restartAfter: Int?
        public init(path: String, intervalMilliseconds: Int = 10_000, timeoutMilliseconds: Int = 2_000,
                    successes: Int = Health.defaultSuccesses, startTimeoutMilliseconds: Int = Health.defaultStartTimeoutMilliseconds,
                    restartAfter: Int? = nil) {
            self.path = path
            self.intervalMilliseconds = intervalMilliseconds
            self.timeoutMilliseconds = timeoutMilliseconds
            self.successes = successes
            self.startTimeoutMilliseconds = startTimeoutMilliseconds
            self.restartAfter = restartAfter
        }
    }

    /// Docker's restart policy for the containers (the process runtime restarts through the controller).
    public enum RestartPolicy: String, Sendable, Hashable, CaseIterable {
        case no
        case onFailure = "on-failure"
        case unlessStopped = "unless-stopped"
        case always
    }

    /// How a container is confined (docker only). Defaults change nothing.
    public struct Security: Sendable, Hashable {
        public var readOnlyRootFilesystem: Bool
        /// Capability names without `CAP_`, upper-case (`ALL`, `NET_RAW`).
        public var dropCapabilities: [String]
        public init(readOnlyRootFilesystem: Bool = false, dropCapabilities: [String] = []) {
            self.readOnlyRootFilesystem = readOnlyRootFilesystem
            self.dropCapabilities = dropCapabilities
        }
        public var isDefault: Bool { !readOnlyRootFilesystem && dropCapabilities.isEmpty }
    }

    public static let defaultBindAddress = "127.0.0.1"

    public struct Resources: Sendable, Hashable {
        /// Bytes.
        public var memoryBytes: Int?
        /// Thousandths of a CPU (0.5 → 500), so equality and hashing are exact.
        public var milliCPUs: Int?
        public init(memoryBytes: Int? = nil, milliCPUs: Int? = nil) {
            self.memoryBytes = memoryBytes
            self.milliCPUs = milliCPUs
        }
    }

    public var name: String
    public var runtime: Runtime
    public var image: String?
    public var command: [String]
    public var env: [String: String]
    public var ports: [Port]
    public var replicas: Int
    public var health: Health?
    public var resources: Resources?
    /// Host address the allocated ports are published on (docker). Loopback unless the spec says otherwise.
    public var bindAddress: String
    public var restart: RestartPolicy
    public var security: Security

    public init(name: String, runtime: Runtime = .docker, image: String? = nil, command: [String] = [],
                env: [String: String] = [:], ports: [Port] = [], replicas: Int = 1, health: Health? = nil,
                resources: Resources? = nil, bindAddress: String = Instance.defaultBindAddress,
                restart: RestartPolicy = .unlessStopped, security: Security = .init()) {
        self.name = name
        self.runtime = runtime
        self.image = image
        self.command = command
        self.env = env
        self.ports = ports
        self.replicas = replicas
        self.health = health
        self.resources = resources
        self.bindAddress = bindAddress
        self.restart = restart
        self.security = security
    }

    /// `berth-<instance>-<template hash>-<replica>`: the container (or process) name of one replica.
    public func replicaName(_ replica: Int) -> String { "berth-\(name)-\(templateHash)-\(replica)" }

    public var id: ResourceID { ResourceID(.instance, name) }
}

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
        public var path: String
        /// Milliseconds.
        public var intervalMilliseconds: Int
        public var timeoutMilliseconds: Int
        public init(path: String, intervalMilliseconds: Int = 10_000, timeoutMilliseconds: Int = 2_000) {
            self.path = path
            self.intervalMilliseconds = intervalMilliseconds
            self.timeoutMilliseconds = timeoutMilliseconds
        }
    }

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

    public init(name: String, runtime: Runtime = .docker, image: String? = nil, command: [String] = [],
                env: [String: String] = [:], ports: [Port] = [], replicas: Int = 1, health: Health? = nil,
                resources: Resources? = nil) {
        self.name = name
        self.runtime = runtime
        self.image = image
        self.command = command
        self.env = env
        self.ports = ports
        self.replicas = replicas
        self.health = health
        self.resources = resources
    }

    public var id: ResourceID { ResourceID(.instance, name) }
}

import Synchronization
/// Where a resource was declared: its document and the location of each field, so that rules
/// running after loading can point at the exact field.
public struct ResourceSource: Sendable, Hashable {
    public var file: String
    /// The `metadata.name` value (or the document start when there is none).
    public var location: SourceLocation
    public var fields: [String: SourceLocation]

    public init(file: String, location: SourceLocation, fields: [String: SourceLocation] = [:]) {
        self.file = file
        self.location = location
        self.fields = fields
    }

    /// The location of `field` (`spec.to.instance`), else of the nearest enclosing field that was
    /// recorded, else of the document.
    public func location(of field: String) -> SourceLocation {
        var path = field
        while true {
            if let location = fields[path] { return location }
            if let bracket = path.lastIndex(of: "["), path.hasSuffix("]") { path = String(path[..<bracket]); continue }
            guard let dot = path.lastIndex(of: ".") else { return location }
            path = String(path[..<dot])
        }
    }
}

/// Everything a repository declares, after loading. Resources are sorted by name within each kind;
/// `declarationOrder` keeps the order they appear in (files by path, then documents in file order),
/// which is the tie-breaker for regex routes.
public struct DesiredState: Sendable {
    public private(set) var domains: [Domain] = []
    public private(set) var routes: [Route] = []
    public private(set) var authPolicies: [AuthPolicy] = []
    public private(set) var instances: [Instance] = []
    public private(set) var declarationOrder: [ResourceID: Int] = [:]
    public private(set) var sources: [ResourceID: ResourceSource] = [:]
    private var domainIndex: [String: Int] = [:]
    private var instanceIndex: [String: Int] = [:]
    private var authPolicyIndex: [String: Int] = [:]
    /// Spec hashes, computed once per state and shared by its copies: a controller reconciles the
    /// same revision pass after pass, and hashing 20,000 canonical specs each time was a fifth of a pass.
    private let hashes = SpecHashCache()

    public init() {}

    /// Builds a state from resources (tests, and the "before" side rebuilt from the inventory).
    public init(resources: [Resource]) {
        for resource in resources { insert(resource, source: nil) }
        sortByName()
    }

    mutating func insert(_ resource: Resource, source: ResourceSource?) {
        declarationOrder[resource.id] = declarationOrder.count
        if let source { sources[resource.id] = source }
        switch resource {
        case .domain(let value): domains.append(value)
        case .route(let value): routes.append(value)
        case .authPolicy(let value): authPolicies.append(value)
        case .instance(let value): instances.append(value)
        }
    }

    mutating func sortByName() {
        domains.sort { $0.name < $1.name }
        routes.sort { $0.name < $1.name }
        authPolicies.sort { $0.name < $1.name }
        instances.sort { $0.name < $1.name }
        domainIndex = Dictionary(domains.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        instanceIndex = Dictionary(instances.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        authPolicyIndex = Dictionary(authPolicies.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// All resources in apply order (kind, then name).
    public var resources: [Resource] {
        domains.map(Resource.domain) + authPolicies.map(Resource.authPolicy)
            + instances.map(Resource.instance) + routes.map(Resource.route)
    }

    public var count: Int { domains.count + routes.count + authPolicies.count + instances.count }

    public func domain(named name: String) -> Domain? { domainIndex[name].map { domains[$0] } }
    public func instance(named name: String) -> Instance? { instanceIndex[name].map { instances[$0] } }
    public func authPolicy(named name: String) -> AuthPolicy? { authPolicyIndex[name].map { authPolicies[$0] } }

    /// The route table compiled from this state for one set of endpoints, with its content hash,
    /// remembered (the last one only) so that a controller re-planning an unchanged revision does
    /// not recompile and rehash 10,000 hosts each pass. `key` must determine the endpoints.
    public func memoizedRouteTable(key: String, _ build: () -> (table: RouteTableDocument, contentHash: String))
        -> (table: RouteTableDocument, contentHash: String) {
        if let hit = hashes.lastTable.withLock({ $0?.key == key ? $0 : nil }) { return (hit.table, hit.contentHash) }
        let built = build()
        hashes.lastTable.withLock { $0 = (key, built.table, built.contentHash) }
        return built
    }

    /// `resource.specHash`, remembered for this state (`resource` must belong to it).
    public func specHash(of resource: Resource) -> String {
        hashes.hash(of: resource)
    }
}

/// A lock-protected memo of spec hashes. Mutations of a `DesiredState` happen only while it is
/// built (before any hash is asked for), so entries never go stale.
final class SpecHashCache: Sendable {
    private let values = Mutex<[ResourceID: String]>([:])
    let lastTable = Mutex<(key: String, table: RouteTableDocument, contentHash: String)?>(nil)

    func hash(of resource: Resource) -> String {
        if let known = values.withLock({ $0[resource.id] }) { return known }
        let hash = resource.specHash
        values.withLock { $0[resource.id] = hash }
        return hash
    }
}

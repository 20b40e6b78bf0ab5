/// The compiled route table: the one contract between the control plane (which publishes it to
/// Redis) and the data plane (which serves it). Hosts and their routes are already in match
/// order, upstreams are resolved to endpoints, auth policies are compiled (hashes only).
///
/// `contentHash` covers everything but `revision` and `generation`, so republishing an unchanged
/// table is recognisable and the generation moves only when what is served changes.
public struct RouteTableDocument: Sendable, Equatable {
    public static let formatVersion = 1

    public struct Endpoint: Sendable, Hashable {
        public var address: String
        public var port: Int
        /// The instance replica serving here; nil for url upstreams.
        public var replica: Int?
        public init(address: String, port: Int, replica: Int? = nil) {
            self.address = address
            self.port = port
            self.replica = replica
        }
    }

    public enum Upstream: Sendable, Hashable {
        case instance(name: String, port: String, endpoints: [Endpoint])
        case url(String)
    }

    public struct RouteEntry: Sendable, Hashable {
        public var route: String
        public var path: String
        public var pathType: Route.PathType
        public var methods: [String]
        public var priority: Int
        public var stripPrefix: Bool
        public var auth: String?
        public var upstream: Upstream

        public init(route: String, path: String, pathType: Route.PathType, methods: [String], priority: Int,
                    stripPrefix: Bool, auth: String?, upstream: Upstream) {
            self.route = route
            self.path = path
            self.pathType = pathType
            self.methods = methods
            self.priority = priority
            self.stripPrefix = stripPrefix
            self.auth = auth
            self.upstream = upstream
        }
    }

    public struct HostEntry: Sendable, Hashable {
        public var host: String
        /// The Domain that declares this host, if any.
        public var domain: String?
        public var tls: Domain.TLSMode
        public var redirectHTTP: Bool
        /// Name of the certificate (`cert:<name>` in Redis) the host is served with, when TLS is on.
        public var certificate: String?
        /// The `Strict-Transport-Security` header value for HTTPS answers, nil for none.
        public var hsts: String?
        /// In match order: priority (high first), then exact, prefix (longest first), regex (declaration order).
        public var routes: [RouteEntry]
        public var isWildcard: Bool { host.hasPrefix("*.") }

        public init(host: String, domain: String?, tls: Domain.TLSMode, redirectHTTP: Bool, certificate: String?, routes: [RouteEntry],
                    hsts: String? = nil) {
            self.host = host
            self.domain = domain
            self.tls = tls
            self.redirectHTTP = redirectHTTP
            self.certificate = certificate
            self.routes = routes
            self.hsts = hsts
        }
    }

    public var revision: String
    public var generation: Int
    /// Exact hosts (sorted) then wildcard hosts (sorted).
    public var hosts: [HostEntry]
    /// Policy name → canonical spec (the same JSON as the repository form; secrets only as hashes).
    public var authPolicies: [String: JSONValue]
    /// Certificate name (`cert:<name>` in Redis, the Domain's name) → lower-case hex SHA-256 of the
    /// leaf certificate's DER, for every certificate present for a Domain of this table. Part of the
    /// content: issuing or renewing a certificate changes the hash and so publishes a new generation,
    /// which is what makes every proxy reload its certificates. Never carries key material.
    public var certificates: [String: String]

    public init(revision: String, generation: Int, hosts: [HostEntry], authPolicies: [String: JSONValue],
                certificates: [String: String] = [:]) {
        self.revision = revision
        self.generation = generation
        self.hosts = hosts
        self.authPolicies = authPolicies
        self.certificates = certificates
    }

    public func host(_ name: String) -> HostEntry? { hosts.first { $0.host == name } }

    // MARK: JSON

    /// `certificates` is present only when non-empty, so tables published before it existed keep
    /// their content hash (and still decode).
    var contentJSON: JSONValue {
        var object: [String: JSONValue] = [
            "format_version": .int(Self.formatVersion),
            "hosts": .array(hosts.map(\.json)),
            "auth_policies": .object(authPolicies),
        ]
        if !certificates.isEmpty { object["certificates"] = .object(certificates.mapValues(JSONValue.string)) }
        return .object(object)
    }

    /// SHA-256 of the canonical content (everything but revision and generation).
    public var contentHash: String { SHA256.hex(contentJSON.canonicalBytes) }

    /// The published form.
    public var json: JSONValue {
        guard case .object(var object) = contentJSON else { return contentJSON }
        object["revision"] = .string(revision)
        object["generation"] = .int(generation)
        object["content_hash"] = .string(contentHash)
        return .object(object)
    }

    /// Decodes a published table. Anything malformed throws, so a replica can reject the whole
    /// table and keep serving its last good one.
    public init(json: JSONValue) throws {
        func fail(_ what: String) -> RouteTableDecodingError { RouteTableDecodingError(reason: what) }
        guard json["format_version"]?.intValue == Self.formatVersion else {
            throw fail("format_version \(json["format_version"].map { $0.canonicalString } ?? "missing") is not \(Self.formatVersion)")
        }
        guard let revision = json["revision"]?.stringValue, let generation = json["generation"]?.intValue,
              let hosts = json["hosts"]?.arrayValue, let policies = json["auth_policies"]?.objectValue else {
            throw fail("revision, generation, hosts or auth_policies is missing")
        }
        self.revision = revision
        self.generation = generation
        self.authPolicies = policies
        self.hosts = try hosts.map { try HostEntry(json: $0) }
        var certificates: [String: String] = [:]
        if let value = json["certificates"] {
            guard let object = value.objectValue else { throw fail("certificates is not an object") }
            for (name, fingerprint) in object {
                guard let text = fingerprint.stringValue, text.utf8.count == 64,
                      text.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
                    throw fail("certificate \"\(name)\": fingerprint is not 64 lower-case hex digits")
                }
                certificates[name] = text
            }
        }
        self.certificates = certificates
        guard let hash = json["content_hash"]?.stringValue else { throw fail("content_hash is missing") }
        if hash != contentHash {
            throw fail("content_hash does not match the content (the table was altered or truncated)")
        }
        for host in self.hosts {
            for route in host.routes {
                if let auth = route.auth, policies[auth] == nil {
                    throw fail("route \"\(route.route)\" on \(host.host) names auth policy \"\(auth)\" which the table does not carry")
                }
            }
        }
    }
}

public struct RouteTableDecodingError: Error, CustomStringConvertible, Sendable {
    public var reason: String
    public var description: String { "invalid route table: \(reason)" }
}

extension RouteTableDocument.HostEntry {
    var json: JSONValue {
        var object: [String: JSONValue] = [
            "host": .string(host), "tls": .string(tls.rawValue), "redirect_http": .bool(redirectHTTP),
            "routes": .array(routes.map(\.json)),
        ]
        if let domain { object["domain"] = .string(domain) }
        if let certificate { object["certificate"] = .string(certificate) }
        if let hsts { object["hsts"] = .string(hsts) }
        return .object(object)
    }

    init(json: JSONValue) throws {
        guard let host = json["host"]?.stringValue, Formats.checkHostname(host, allowWildcard: true) == nil,
              let tls = json["tls"]?.stringValue.flatMap(Domain.TLSMode.init(rawValue:)),
              let redirect = json["redirect_http"]?.boolValue, let routes = json["routes"]?.arrayValue else {
            throw RouteTableDecodingError(reason: "a host entry is malformed")
        }
        self.host = host
        for key in ["domain", "certificate", "hsts"] {
            if let value = json[key], value.stringValue == nil { throw RouteTableDecodingError(reason: "host \(host): \(key) is not a string") }
        }
        self.domain = json["domain"]?.stringValue
        self.tls = tls
        self.redirectHTTP = redirect
        self.certificate = json["certificate"]?.stringValue
        self.hsts = json["hsts"]?.stringValue
        if let hsts, hsts.isEmpty || hsts.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }) {
            throw RouteTableDecodingError(reason: "host \(host): hsts is not a valid header value")
        }
        self.routes = try routes.map { try RouteTableDocument.RouteEntry(json: $0, host: host) }
    }
}

extension RouteTableDocument.RouteEntry {
    var json: JSONValue {
        var object: [String: JSONValue] = [
            "route": .string(route), "path": .string(path), "path_type": .string(pathType.rawValue),
            "methods": .array(methods.map(JSONValue.string)), "priority": .int(priority),
            "strip_prefix": .bool(stripPrefix),
        ]
        if let auth { object["auth"] = .string(auth) }
        switch upstream {
        case .instance(let name, let port, let endpoints):
            object["upstream"] = .object([
                "instance": .string(name), "port": .string(port),
                "endpoints": .array(endpoints.map { endpoint in
                    var value: [String: JSONValue] = ["address": .string(endpoint.address), "port": .int(endpoint.port)]
                    if let replica = endpoint.replica { value["replica"] = .int(replica) }
                    return .object(value)
                }),
            ])
        case .url(let url):
            object["upstream"] = .object(["url": .string(url)])
        }
        return .object(object)
    }

    init(json: JSONValue, host: String) throws {
        func fail(_ what: String) -> RouteTableDecodingError { RouteTableDecodingError(reason: "route on \(host): \(what)") }
        guard let route = json["route"]?.stringValue, let path = json["path"]?.stringValue,
              let pathType = json["path_type"]?.stringValue.flatMap(Route.PathType.init(rawValue:)),
              let priority = json["priority"]?.intValue, let upstream = json["upstream"] else { throw fail("malformed") }
        if pathType == .regex { if Formats.checkRegex(path) != nil { throw fail("invalid regex \(path)") } }
        else if !path.hasPrefix("/") { throw fail("path \(path) is not absolute") }
        self.route = route
        self.path = path
        self.pathType = pathType
        // Strict types: a field of the wrong type must fail the table, never fall back to a default
        // (an `auth` that silently became nil would serve a guarded route unguarded).
        guard let methods = json["methods"]?.arrayValue, methods.allSatisfy({ $0.stringValue != nil }),
              let strip = json["strip_prefix"]?.boolValue else { throw fail("methods or strip_prefix is malformed") }
        if let auth = json["auth"], auth.stringValue == nil, auth != .null { throw fail("auth is not a string") }
        self.methods = methods.compactMap(\.stringValue)
        self.priority = priority
        self.stripPrefix = strip
        self.auth = json["auth"]?.stringValue
        if let url = upstream["url"]?.stringValue {
            guard Formats.checkHTTPURL(url) == nil else { throw fail("invalid upstream url") }
            self.upstream = .url(url)
        } else if let instance = upstream["instance"]?.stringValue, let port = upstream["port"]?.stringValue,
                  let endpoints = upstream["endpoints"]?.arrayValue {
            self.upstream = .instance(name: instance, port: port, endpoints: try endpoints.map { endpoint in
                guard let address = endpoint["address"]?.stringValue, let port = endpoint["port"]?.intValue, (1...65535).contains(port) else {
                    throw fail("malformed endpoint")
                }
                return RouteTableDocument.Endpoint(address: address, port: port, replica: endpoint["replica"]?.intValue)
            })
        } else {
            throw fail("upstream has neither url nor instance")
        }
    }
}

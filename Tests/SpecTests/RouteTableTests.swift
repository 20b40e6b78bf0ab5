import Foundation
import Testing
@testable import Spec

/// Shared inputs for the route-table tests.
enum RouteTableFixtures {
    static let url = Route.Target.url("http://127.0.0.1:9000")

    static func route(_ name: String, host: String = "shop.example.com", _ path: String = "/", _ type: Route.PathType = .prefix,
                      methods: [String] = [], priority: Int = 0) -> Resource {
        .route(Route(name: name, hosts: [host], path: path, pathType: type, methods: methods, priority: priority, to: url))
    }

    /// One endpoint per replica, on a port derived from the instance and port names.
    static func endpoints(_ instance: Instance, _ port: String) -> [RouteTableDocument.Endpoint] {
        let base = 20_000 + (instance.name.utf8.count * 100) + port.utf8.count
        return (0..<instance.replicas).map { RouteTableDocument.Endpoint(address: "127.0.0.1", port: base + $0, replica: $0) }
    }

    /// A small but complete repository: every upstream kind, an auth policy, a regex route.
    static let resources: [Resource] = [
        .domain(Domain(name: "shop", hosts: ["shop.example.com"])),
        .authPolicy(AuthPolicy(name: "staff", mechanism: .basic([.init(name: "alice", bcrypt: "$2b$12$" + String(repeating: "a", count: 53))]))),
        .instance(Instance(name: "web", image: "nginx", ports: [.init(name: "http", containerPort: 80)], replicas: 2)),
        .route(Route(name: "ext", domain: "shop", path: "/ext", pathType: .exact, to: .url("https://ext.example.com/base"))),
        .route(Route(name: "api", domain: "shop", path: "/api", methods: ["POST", "GET"], to: .instance(name: "web", port: "http"), auth: "staff",
                     stripPrefix: true)),
        .route(Route(name: "assets", domain: "shop", path: "^/assets/.*\\.css$", pathType: .regex, to: .instance(name: "web", port: nil))),
    ]

    static func document(_ resources: [Resource] = resources, revision: String = "abc123", generation: Int = 7) -> RouteTableDocument {
        RouteTableCompiler.compile(DesiredState(resources: resources), revision: revision, generation: generation, endpoints: endpoints)
    }
}

@Suite struct RouteTableCompilerTests {
    @Test func routesAreInMatchOrder() throws {
        let h = "shop.example.com"
        // Declared in this order; regex routes keep it, whatever their names.
        let resources: [Resource] = [
            RouteTableFixtures.route("z-regex-first", "^/z", .regex),
            RouteTableFixtures.route("a-regex-second", "^/a", .regex),
            RouteTableFixtures.route("catch-all", "/"),
            RouteTableFixtures.route("api", "/api"),
            RouteTableFixtures.route("api-writes", "/api", methods: ["POST", "GET"]),
            RouteTableFixtures.route("api-v1", "/api/v1"),
            RouteTableFixtures.route("ab", "/ab"),
            RouteTableFixtures.route("aa", "/aa"),
            RouteTableFixtures.route("exact-api", "/api", .exact),
            RouteTableFixtures.route("exact-api-get", "/api", .exact, methods: ["GET"]),
            RouteTableFixtures.route("high", "/", priority: 10),
            RouteTableFixtures.route("low", "/x", .exact, priority: -1),
            RouteTableFixtures.route("regex-high", "^/r", .regex, priority: 5),
        ]
        let document = RouteTableCompiler.compile(DesiredState(resources: resources), revision: "r", endpoints: RouteTableFixtures.endpoints)
        let entry = try #require(document.host(h))
        #expect(entry.routes.map(\.route) == [
            "high",  // priority 10
            "regex-high",  // priority 5
            "exact-api-get", "exact-api",  // exact; limited to methods first
            "api-v1",  // longest prefix
            "api-writes", "api",  // same prefix: limited to methods first
            "aa", "ab",  // same length: by path
            "catch-all",
            "z-regex-first", "a-regex-second",  // regex: declaration order
            "low",  // priority -1
        ])
        #expect(entry.routes.first { $0.route == "api-writes" }?.methods == ["GET", "POST"])
    }

    @Test func regexOrderFollowsDeclarationOrderNotNames() throws {
        let forward = [RouteTableFixtures.route("b", "^/b", .regex), RouteTableFixtures.route("a", "^/a", .regex)]
        let first = RouteTableCompiler.compile(DesiredState(resources: forward), revision: "r", endpoints: RouteTableFixtures.endpoints)
        let second = RouteTableCompiler.compile(DesiredState(resources: forward.reversed()), revision: "r", endpoints: RouteTableFixtures.endpoints)
        #expect(first.hosts.first?.routes.map(\.route) == ["b", "a"])
        #expect(second.hosts.first?.routes.map(\.route) == ["a", "b"])
    }

    static let domainsAndRoutes: [Resource] = [
        .domain(Domain(name: "shop", hosts: ["shop.example.com", "www.shop.example.com"])),
        .domain(Domain(name: "api", hosts: ["api.example.com", "*.api.example.com"], tls: .selfSigned, redirectHTTP: false)),
        .domain(Domain(name: "plain", hosts: ["plain.example.com"], tls: .none)),
        .domain(Domain(name: "status", hosts: ["status.example.com"])),
        .route(Route(name: "storefront", domain: "shop", to: RouteTableFixtures.url)),
        .route(Route(name: "direct", hosts: ["direct.example.com", "*.example.com"], to: RouteTableFixtures.url)),
        .route(Route(name: "api", domain: "api", path: "/v1", to: RouteTableFixtures.url)),
    ]

    @Test func exactHostsComeBeforeWildcardsAndDomainsWithoutRoutesArePresent() {
        let document = RouteTableCompiler.compile(DesiredState(resources: Self.domainsAndRoutes), revision: "r", endpoints: RouteTableFixtures.endpoints)
        #expect(document.hosts.map(\.host) == [
            "api.example.com", "direct.example.com", "plain.example.com", "shop.example.com", "status.example.com",
            "www.shop.example.com", "*.api.example.com", "*.example.com",
        ])
        #expect(document.hosts.map(\.isWildcard) == [false, false, false, false, false, false, true, true])
        #expect(document.host("status.example.com")?.routes == [])
        #expect(document.host("plain.example.com")?.routes == [])
        #expect(document.host("www.shop.example.com")?.routes.map(\.route) == ["storefront"])
        #expect(document.host("*.api.example.com")?.routes.map(\.route) == ["api"])
        #expect(document.host("*.example.com")?.routes.map(\.route) == ["direct"])
        #expect(document.host("nowhere.example.com") == nil)
    }

    @Test(arguments: [
        // host, domain, tls, redirect, certificate
        ("shop.example.com", "shop", Domain.TLSMode.acme, true, "shop"),
        ("www.shop.example.com", "shop", .acme, true, "shop"),
        ("api.example.com", "api", .selfSigned, false, "api"),
        ("*.api.example.com", "api", .selfSigned, false, "api"),
        ("plain.example.com", "plain", Domain.TLSMode.none, false, nil),
        ("status.example.com", "status", .acme, true, "status"),
        // Hosts listed by a route, outside any Domain: plain HTTP, no certificate.
        ("direct.example.com", nil, Domain.TLSMode.none, false, nil),
        ("*.example.com", nil, Domain.TLSMode.none, false, nil),
    ] as [(String, String?, Domain.TLSMode, Bool, String?)])
    func hostEntryCarriesTLSAndCertificate(_ host: String, domain: String?, tls: Domain.TLSMode, redirect: Bool, certificate: String?) throws {
        let document = RouteTableCompiler.compile(DesiredState(resources: Self.domainsAndRoutes), revision: "r", endpoints: RouteTableFixtures.endpoints)
        let entry = try #require(document.host(host))
        #expect(entry.domain == domain)
        #expect(entry.tls == tls)
        #expect(entry.redirectHTTP == redirect)
        #expect(entry.certificate == certificate)
    }

    @Test func instanceUpstreamsCarryEndpointsFromTheClosure() throws {
        let resources: [Resource] = [
            .instance(Instance(name: "web", image: "nginx",
                               ports: [.init(name: "http", containerPort: 80), .init(name: "admin", containerPort: 9000)], replicas: 3)),
            .instance(Instance(name: "idle", image: "nginx", ports: [.init(name: "http", containerPort: 80)], replicas: 0)),
            .route(Route(name: "default-port", hosts: ["a.example.com"], to: .instance(name: "web", port: nil))),
            .route(Route(name: "admin", hosts: ["a.example.com"], path: "/admin", to: .instance(name: "web", port: "admin"))),
            .route(Route(name: "idle", hosts: ["a.example.com"], path: "/idle", to: .instance(name: "idle", port: "http"))),
            .route(Route(name: "external", hosts: ["a.example.com"], path: "/ext", to: .url("https://ext.example.com"))),
            .route(Route(name: "dangling", hosts: ["a.example.com"], path: "/gone", to: .instance(name: "missing", port: nil))),
        ]
        var calls: [String] = []
        let document = RouteTableCompiler.compile(DesiredState(resources: resources), revision: "r") { instance, port in
            calls.append("\(instance.name)/\(port)")
            return [RouteTableDocument.Endpoint(address: "10.0.0.\(instance.replicas)", port: port == "admin" ? 9000 : 8080, replica: 0)]
        }
        #expect(calls.sorted() == ["idle/http", "web/admin", "web/http"])
        let routes = try #require(document.host("a.example.com")).routes
        let byName = Dictionary(uniqueKeysWithValues: routes.map { ($0.route, $0) })
        #expect(byName["default-port"]?.upstream == .instance(name: "web", port: "http",
                                                             endpoints: [.init(address: "10.0.0.3", port: 8080, replica: 0)]))
        #expect(byName["admin"]?.upstream == .instance(name: "web", port: "admin", endpoints: [.init(address: "10.0.0.3", port: 9000, replica: 0)]))
        #expect(byName["external"]?.upstream == .url("https://ext.example.com"))
        // A route whose instance is not in the state cannot be served and is left out.
        #expect(byName["dangling"] == nil)
        #expect(routes.count == 4)
    }

    @Test func routeEntryCopiesTheRoute() throws {
        let document = RouteTableFixtures.document()
        let api = try #require(document.host("shop.example.com")?.routes.first { $0.route == "api" })
        #expect(api == RouteTableDocument.RouteEntry(
            route: "api", path: "/api", pathType: .prefix, methods: ["GET", "POST"], priority: 0, stripPrefix: true, auth: "staff",
            upstream: .instance(name: "web", port: "http", endpoints: [
                .init(address: "127.0.0.1", port: 20_304, replica: 0), .init(address: "127.0.0.1", port: 20_305, replica: 1),
            ])))
        #expect(document.host("shop.example.com")?.routes.map(\.route) == ["ext", "api", "assets"])
    }

    @Test func authPoliciesAreTheirCanonicalSpecs() {
        let policy = AuthPolicy(name: "office", mechanism: nil, ipAllow: ["10.0.0.0/8"])
        let document = RouteTableFixtures.document(RouteTableFixtures.resources + [.authPolicy(policy)])
        #expect(document.authPolicies.keys.sorted() == ["office", "staff"])
        #expect(document.authPolicies["office"] == policy.canonicalSpec)
        #expect(document.revision == "abc123")
        #expect(document.generation == 7)
    }

    @Test func compilingIsDeterministic() {
        let first = RouteTableFixtures.document(), second = RouteTableFixtures.document()
        #expect(first == second)
        #expect(first.json.canonicalString == second.json.canonicalString)
        // Without regex routes the declaration order does not matter at all.
        let noRegex = RouteTableFixtures.resources.filter { $0.name != "assets" }
        #expect(RouteTableFixtures.document(noRegex).contentHash == RouteTableFixtures.document(noRegex.reversed()).contentHash)
    }

    @Test func validRepositoryCompilesEveryRouteOnEveryHost() throws {
        let state = try SpecFixtures.load(SpecFixtures.validRoot).state
        let document = RouteTableCompiler.compile(state, revision: "fixture", endpoints: RouteTableFixtures.endpoints)
        for route in state.routes {
            for host in route.effectiveHosts(in: state) {
                #expect(document.host(host)?.routes.contains { $0.route == route.name } == true, "\(route.name) on \(host)")
            }
        }
        #expect(document.host("status.example.com")?.routes == [])
        #expect(document.host("intranet.corp.example")?.certificate == nil)
        #expect(document.hosts.last?.host == "*.dev.example.com")
        #expect(try RouteTableDocument(json: document.json) == document)
    }
}

@Suite struct RouteTableContentHashTests {
    @Test func contentHashIgnoresRevisionAndGeneration() {
        let a = RouteTableFixtures.document(revision: "aaa", generation: 1)
        let b = RouteTableFixtures.document(revision: "bbb", generation: 2)
        #expect(a.contentHash == b.contentHash)
        #expect(a.json != b.json)
        #expect(a.json["content_hash"] == .string(a.contentHash))
        #expect(a.json["revision"] == .string("aaa"))
        #expect(a.json["generation"] == .int(1))
        #expect(a.json["format_version"] == .int(RouteTableDocument.formatVersion))
        #expect(a.contentHash.count == 64)
    }

    typealias Change = @Sendable ([Resource]) -> [Resource]

    static func changingRoute(_ name: String, _ change: @escaping @Sendable (inout Route) -> Void) -> Change {
        { resources in
            resources.map { resource in
                guard case .route(var route) = resource, route.name == name else { return resource }
                change(&route)
                return .route(route)
            }
        }
    }

    static let changes: [(String, Change)] = [
        ("path", changingRoute("api") { $0.path = "/api/v2" }),
        ("pathType", changingRoute("ext") { $0.pathType = .prefix }),
        ("methods", changingRoute("api") { $0.methods = ["GET"] }),
        ("priority", changingRoute("api") { $0.priority = 1 }),
        ("stripPrefix", changingRoute("api") { $0.stripPrefix = false }),
        ("auth removed", changingRoute("api") { $0.auth = nil }),
        ("upstream url", changingRoute("ext") { $0.to = .url("https://ext.example.com/other") }),
        ("upstream port", changingRoute("assets") { $0.to = .instance(name: "web", port: "admin") }),
        ("route name", changingRoute("ext") { $0.name = "ext2" }),
        ("regex", changingRoute("assets") { $0.path = "^/assets/.*\\.js$" }),
        ("route removed", { $0.filter { $0.name != "ext" || $0.kind != .route } }),
        ("route added", { $0 + [RouteTableFixtures.route("new", "/new")] }),
        ("replicas (endpoints)", { resources in
            resources.map { resource in
                guard case .instance(var instance) = resource else { return resource }
                instance.replicas = 3
                return .instance(instance)
            }
        }),
        ("domain tls", { resources in
            resources.map { resource in
                guard case .domain(let domain) = resource else { return resource }
                return .domain(Domain(name: domain.name, hosts: domain.hosts, tls: .selfSigned))
            }
        }),
        ("policy", { resources in
            resources.map { resource in
                guard case .authPolicy(let policy) = resource else { return resource }
                return .authPolicy(AuthPolicy(name: policy.name, mechanism: policy.mechanism, ipAllow: ["10.0.0.0/8"]))
            }
        }),
    ]

    @Test(arguments: changes)
    func anyChangeChangesTheContentHash(_ name: String, _ change: Change) {
        var resources = RouteTableFixtures.resources
        if name == "upstream port" {
            resources = resources.map { resource in
                guard case .instance(var instance) = resource else { return resource }
                instance.ports.append(.init(name: "admin", containerPort: 9000))
                return .instance(instance)
            }
        }
        let before = RouteTableFixtures.document(resources), after = RouteTableFixtures.document(change(resources))
        #expect(before != after)
        #expect(before.contentHash != after.contentHash)
    }
}

@Suite struct RouteTableDocumentDecodingTests {
    @Test func roundTripsThroughJSON() throws {
        let document = RouteTableFixtures.document()
        #expect(try RouteTableDocument(json: document.json) == document)
        #expect(try RouteTableDocument(json: JSONValue.parse(document.json.canonicalString)) == document)
        #expect(try RouteTableDocument(json: JSONValue.parse(document.json.prettyString)) == document)
        let wide = RouteTableCompiler.compile(DesiredState(resources: RouteTableCompilerTests.domainsAndRoutes), revision: "r",
                                              generation: 0, endpoints: RouteTableFixtures.endpoints)
        #expect(try RouteTableDocument(json: wide.json) == wide)
    }

    @Test func theFixtureHasTheShapeTheRejectionCasesEdit() throws {
        let json = RouteTableFixtures.document().json
        let routes = try #require(json["hosts"]?.arrayValue?.first?["routes"]?.arrayValue)
        #expect(routes.map { $0["route"]?.stringValue } == ["ext", "api", "assets"])
        #expect(routes[1]["auth"] == .string("staff"))
        #expect(routes[1]["upstream"]?["endpoints"]?.arrayValue?.count == 2)
        #expect(routes[2]["path_type"] == .string("regex"))
    }

    struct RejectCase: Sendable, CustomTestStringConvertible {
        var name: String
        /// Seal the edited table with a matching content_hash, so the decoder has to find the fault itself.
        var reseal: Bool
        /// Part of the error's reason, when the reason matters.
        var reason: String?
        var edit: @Sendable (inout JSONValue) -> Void
        var testDescription: String { name }
    }

    static func route(_ index: Int, _ key: String, _ value: JSONValue?) -> @Sendable (inout JSONValue) -> Void {
        { json in json.update(["hosts", 0, "routes", index, key], to: value) }
    }

    static let rejections: [RejectCase] = [
        RejectCase(name: "format_version 2", reseal: false, reason: "format_version 2 is not 1") { $0.update(["format_version"], to: .int(2)) },
        RejectCase(name: "format_version missing", reseal: false, reason: "format_version missing") { $0.update(["format_version"], to: nil) },
        RejectCase(name: "format_version as text", reseal: false, reason: "format_version \"1\"") { $0.update(["format_version"], to: .string("1")) },
        RejectCase(name: "tampered content_hash", reseal: false, reason: "content_hash does not match") { json in
            let hash = json["content_hash"]?.stringValue ?? ""
            json.update(["content_hash"], to: .string((hash.hasPrefix("0") ? "1" : "0") + hash.dropFirst()))
        },
        RejectCase(name: "content changed, hash kept", reseal: false, reason: "content_hash does not match",
                   edit: route(1, "path", .string("/admin"))),
        RejectCase(name: "policy dropped, hash kept", reseal: false, reason: nil) { $0.update(["auth_policies", "staff"], to: nil) },
        RejectCase(name: "route names a policy the table lacks", reseal: true, reason: "names auth policy \"staff\"") {
            $0.update(["auth_policies", "staff"], to: nil)
        },
        RejectCase(name: "invalid regex", reseal: true, reason: "invalid regex", edit: route(2, "path", .string("^/assets/(css"))),
        RejectCase(name: "endpoint port 0", reseal: true, reason: "malformed endpoint") {
            $0.update(["hosts", 0, "routes", 1, "upstream", "endpoints", 0, "port"], to: .int(0))
        },
        RejectCase(name: "endpoint port 65536", reseal: true, reason: "malformed endpoint") {
            $0.update(["hosts", 0, "routes", 1, "upstream", "endpoints", 1, "port"], to: .int(65_536))
        },
        RejectCase(name: "endpoint port as text", reseal: true, reason: "malformed endpoint") {
            $0.update(["hosts", 0, "routes", 1, "upstream", "endpoints", 0, "port"], to: .string("8080"))
        },
        RejectCase(name: "endpoint without address", reseal: true, reason: "malformed endpoint") {
            $0.update(["hosts", 0, "routes", 1, "upstream", "endpoints", 0, "address"], to: nil)
        },
        RejectCase(name: "relative path", reseal: true, reason: "is not absolute", edit: route(1, "path", .string("api"))),
        RejectCase(name: "unknown path_type", reseal: true, reason: "malformed", edit: route(1, "path_type", .string("glob"))),
        RejectCase(name: "priority as text", reseal: true, reason: "malformed", edit: route(1, "priority", .string("high"))),
        RejectCase(name: "ftp upstream", reseal: true, reason: "invalid upstream url",
                   edit: route(0, "upstream", .object(["url": .string("ftp://ext.example.com/")]))),
        RejectCase(name: "upstream with neither url nor instance", reseal: true, reason: "neither url nor instance",
                   edit: route(0, "upstream", .object([:]))),
        RejectCase(name: "invalid host name", reseal: true, reason: "host entry is malformed") {
            $0.update(["hosts", 0, "host"], to: .string("shop_1.example.com"))
        },
        RejectCase(name: "unknown tls mode", reseal: true, reason: "host entry is malformed") {
            $0.update(["hosts", 0, "tls"], to: .string("letsencrypt"))
        },
        RejectCase(name: "certificate fingerprint not hex", reseal: true, reason: "fingerprint is not 64 lower-case hex digits") {
            $0.update(["certificates"], to: .object(["shop": .string(String(repeating: "z", count: 64))]))
        },
        RejectCase(name: "certificate fingerprint in upper case", reseal: true, reason: "fingerprint is not 64 lower-case hex digits") {
            $0.update(["certificates"], to: .object(["shop": .string(String(repeating: "AB", count: 32))]))
        },
        RejectCase(name: "certificates not an object", reseal: true, reason: "certificates is not an object") {
            $0.update(["certificates"], to: .array([]))
        },
        RejectCase(name: "hsts not a string", reseal: true, reason: "hsts is not a string") { $0.update(["hosts", 0, "hsts"], to: .int(300)) },
        RejectCase(name: "hsts with a control character", reseal: true, reason: "hsts is not a valid header value") {
            $0.update(["hosts", 0, "hsts"], to: .string("max-age=1\r\nX-Evil: 1"))
        },
        RejectCase(name: "revision missing", reseal: true, reason: "is missing") { $0.update(["revision"], to: nil) },
        RejectCase(name: "hosts not a list", reseal: true, reason: "is missing") { $0.update(["hosts"], to: .object([:])) },
        RejectCase(name: "not an object", reseal: false, reason: "format_version") { $0 = .array([]) },
        RejectCase(name: "non-string method, sealed over the raw content", reseal: true, reason: nil,
                   edit: route(1, "methods", .array([.int(1)]))),
        // Without content_hash nothing vouches for the content; a table that lost it is truncated.
        RejectCase(name: "content_hash missing", reseal: false, reason: nil) { $0.update(["content_hash"], to: nil) },
        RejectCase(name: "auth that is not a string, without content_hash", reseal: false, reason: nil) { json in
            json.update(["hosts", 0, "routes", 1, "auth"], to: .int(1))
            json.update(["content_hash"], to: nil)
        },
    ]

    @Test(arguments: rejections)
    func rejectsMalformedTable(_ rejection: RejectCase) {
        var json = RouteTableFixtures.document().json
        rejection.edit(&json)
        if rejection.reseal { json = Self.sealed(json) }
        let error = #expect(throws: RouteTableDecodingError.self) { try RouteTableDocument(json: json) }
        if let reason = rejection.reason, let error {
            #expect(error.reason.contains(reason), "\(error.reason)")
        }
    }

    /// `content_hash` recomputed over the edited content, as a publisher would have written it.
    static func sealed(_ json: JSONValue) -> JSONValue {
        guard case .object(var object) = json else { return json }
        var content = object
        for key in ["revision", "generation", "content_hash"] { content.removeValue(forKey: key) }
        object["content_hash"] = .string(SHA256.hex(JSONValue.object(content).canonicalBytes))
        return .object(object)
    }

    @Test func resealingAnUnchangedTableKeepsItsHash() throws {
        let json = RouteTableFixtures.document().json
        #expect(Self.sealed(json) == json)
        #expect(try RouteTableDocument(json: Self.sealed(json)) == RouteTableFixtures.document())
    }

    @Test func decodingErrorDescribesTheTable() {
        #expect(RouteTableDecodingError(reason: "x").description == "invalid route table: x")
    }
}

/// A path into a JSON value: object keys and array indexes.
protocol JSONPathComponent: Sendable {}
extension String: JSONPathComponent {}
extension Int: JSONPathComponent {}

extension JSONValue {
    /// Sets (or, with nil, removes) the value at `path`; a path that does not exist is left alone.
    mutating func update(_ path: [any JSONPathComponent], to value: JSONValue?) {
        guard let head = path.first else {
            self = value ?? .null
            return
        }
        let rest = Array(path.dropFirst())
        switch (self, head) {
        case (.object(var members), let key as String):
            if rest.isEmpty {
                members[key] = value
            } else if var child = members[key] {
                child.update(rest, to: value)
                members[key] = child
            }
            self = .object(members)
        case (.array(var items), let index as Int) where items.indices.contains(index):
            if rest.isEmpty {
                if let value { items[index] = value } else { items.remove(at: index) }
            } else {
                items[index].update(rest, to: value)
            }
            self = .array(items)
        default:
            break
        }
    }
}

@Suite struct RouteTableCertificateTests {
    static let fingerprint = String(repeating: "0f", count: 32)

    static func document(certificates: [String: String]) -> RouteTableDocument {
        let resources: [Resource] = [
            .domain(Domain(name: "shop", hosts: ["shop.example.com", "www.shop.example.com"], hsts: .init(maxAge: 31_536_000, includeSubdomains: true))),
            .domain(Domain(name: "plain", hosts: ["plain.example.com"], tls: .none)),
            .domain(Domain(name: "internal", hosts: ["internal.example.com"], tls: .selfSigned, hsts: .init(maxAge: 60, includeSubdomains: true, preload: true))),
        ]
        return RouteTableCompiler.compile(DesiredState(resources: resources), revision: "r", generation: 3, certificates: certificates) { _, _ in [] }
    }

    @Test func certificatesOfTheTablesTLSDomainsAreCarriedAndRoundTrip() throws {
        let table = Self.document(certificates: ["shop": Self.fingerprint, "plain": Self.fingerprint, "elsewhere": Self.fingerprint])
        #expect(table.certificates == ["shop": Self.fingerprint], "only certificates of TLS Domains in this table")
        #expect(table.host("shop.example.com")?.hsts == "max-age=31536000; includeSubDomains")
        #expect(table.host("internal.example.com")?.hsts == "max-age=60; includeSubDomains; preload")
        #expect(table.host("plain.example.com")?.hsts == nil)
        #expect(table.json["certificates"] == .object(["shop": .string(Self.fingerprint)]))
        #expect(try RouteTableDocument(json: table.json) == table)
        #expect(try RouteTableDocument(json: JSONValue.parse(table.json.canonicalString)) == table)
    }

    @Test func aNewFingerprintChangesTheContentHashSoANewGenerationIsPublished() {
        let none = Self.document(certificates: [:])
        let issued = Self.document(certificates: ["shop": Self.fingerprint])
        let renewed = Self.document(certificates: ["shop": String(repeating: "1e", count: 32)])
        #expect(Set([none.contentHash, issued.contentHash, renewed.contentHash]).count == 3)
        #expect(Self.document(certificates: ["shop": Self.fingerprint]).contentHash == issued.contentHash)
    }

    @Test func tablesWithoutCertificatesOrHSTSKeepTheirFormAndHash() throws {
        let table = RouteTableFixtures.document()
        #expect(table.json["certificates"] == nil, "absent, not empty, so tables published before the field existed keep their hash")
        #expect(table.json["hosts"]?.arrayValue?.allSatisfy { $0["hsts"] == nil } == true)
        let decoded = try RouteTableDocument(json: table.json)
        #expect(decoded.certificates.isEmpty)
        #expect(decoded.contentHash == table.contentHash)
    }
}

@Suite struct DomainTLSFieldsTests {
    @Test func acmeAndHSTSRoundTripThroughTheCanonicalSpec() throws {
        let domain = Domain(name: "shop", hosts: ["shop.example.com"], acme: .init(directory: "https://ca.example.com/dir", email: "ops@example.com"),
                            hsts: .init(maxAge: 600, includeSubdomains: true))
        let resource = Resource.domain(domain)
        #expect(try Resource(id: resource.id, canonicalSpec: resource.canonicalSpec) == resource)
        #expect(resource.canonicalSpec["hsts"] == .object(["maxAge": .int(600), "includeSubdomains": .bool(true), "preload": .bool(false)]))
    }

    @Test func domainsWithoutTheNewFieldsKeepTheirCanonicalSpec() {
        let spec = Resource.domain(Domain(name: "shop", hosts: ["shop.example.com"])).canonicalSpec
        #expect(spec.objectValue?.keys.sorted() == ["hosts", "redirectHTTP", "tls"])
    }

    @Test func theLoaderReadsTheFields() throws {
        let yaml = """
            apiVersion: berth/v1
            kind: Domain
            metadata: {name: shop}
            spec:
              hosts: [shop.example.com]
              acme: {directory: "https://acme-staging-v02.api.letsencrypt.org/directory", email: ops@example.com}
              hsts: {maxAge: 31536000, includeSubdomains: true, preload: true}
            """
        let result = SpecLoader.load(files: [(path: "d.yaml", contents: Array(yaml.utf8))])
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics.map(\.rendered))")
        let domain = try #require(result.state.domain(named: "shop"))
        #expect(domain.acme == .init(directory: "https://acme-staging-v02.api.letsencrypt.org/directory", email: "ops@example.com"))
        #expect(domain.hsts?.headerValue == "max-age=31536000; includeSubDomains; preload")
    }

    @Test(arguments: [("ops@example.com", true), ("ops", false), ("@example.com", false), ("a b@example.com", false),
                      ("Ops <ops@example.com>", false), ("ops@exa_mple.com", false), ("a@b@example.com", false)])
    func emailFormat(_ text: String, _ valid: Bool) {
        #expect((Formats.checkEmail(text) == nil) == valid)
    }
}

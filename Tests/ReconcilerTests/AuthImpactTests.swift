import Testing
@testable import Reconciler
import Spec

/// `AuthImpact(before:after:)` on tables the compiler makes from small repositories: which paths
/// it reports, of which kind, and which of them are exposures.
@Suite struct AuthImpactTests {
    static let hashA = String(repeating: "a", count: 64)
    static let hashB = String(repeating: "b", count: 64)
    static let bcrypt = "$2b$12$C6UzMDM.H6dfI/f/IKxGhuYzvo6i1lNYVxy7fMvtaGUY8sDKt3m7W"
    static let bcrypt2 = "$2y$10$abcdefghijklmnopqrstuu5Rw2t5x3dYB1j2x9uQm6v4zq0V1WcmG"

    static func bearer(_ name: String = "admins", tokens: [(String, String)] = [("ci", hashA)], ipAllow: [String] = ["10.0.0.0/8"]) -> Resource {
        .authPolicy(AuthPolicy(name: name, mechanism: .bearer(tokens.map { .init(name: $0.0, sha256: $0.1) }), ipAllow: ipAllow))
    }

    static func route(_ name: String, _ path: String = "/", auth: String? = nil, priority: Int = 0, pathType: Route.PathType = .prefix,
                      methods: [String] = [], hosts: [String] = ["shop.example.test"]) -> Resource {
        .route(Route(name: name, hosts: hosts, path: path, pathType: pathType, methods: methods, priority: priority,
                     to: .url("http://127.0.0.1:8081"), auth: auth))
    }

    static func table(_ resources: [Resource]) -> RouteTableDocument {
        RouteTableCompiler.compile(DesiredState(resources: resources), revision: "r") { _, _ in [] }
    }

    static func impact(_ before: [Resource], _ after: [Resource]) -> AuthImpact {
        AuthImpact(before: table(before), after: table(after))
    }

    /// One expected line: host, path, kind (exposure follows from the kind).
    struct Expected: Equatable, CustomStringConvertible {
        var host: String = "shop.example.test"
        var path: String
        var kind: AuthImpact.Kind
        var description: String { "\(host) \(path) \(kind.rawValue)" }
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var before: [Resource]
        var after: [Resource]
        var expected: [Expected]
        /// A phrase the first reported path's reason must contain.
        var reason: String? = nil
        var testDescription: String { name }
    }

    static let storefront = route("storefront")
    static let admin = route("admin", "/admin", auth: "admins")

    static let routeCases: [Case] = [
        Case(name: "a route loses its policy", before: [bearer(), storefront, admin], after: [bearer(), storefront, route("admin", "/admin")],
             expected: [Expected(path: "/admin", kind: .becamePublic)], reason: "route admin no longer names an auth policy"),
        Case(name: "a policy is deleted with the references to it", before: [bearer(), admin], after: [route("admin", "/admin")],
             expected: [Expected(path: "/admin", kind: .becamePublic)], reason: "policy admins was deleted"),
        Case(name: "a new public route with a higher priority shadows a guarded one", before: [bearer(), storefront, admin],
             after: [bearer(), storefront, admin, route("peek", "/admin", priority: 10)],
             expected: [Expected(path: "/admin", kind: .becamePublic)], reason: "public route peek now takes it before route admin"),
        Case(name: "a new public route under a guarded prefix", before: [bearer(), storefront, admin],
             after: [bearer(), storefront, admin, route("status", "/admin/status", pathType: .exact)],
             expected: [Expected(path: "/admin/status", kind: .becamePublic)]),
        Case(name: "a guarded route removed falls through to a public catch-all", before: [bearer(), storefront, admin],
             after: [bearer(), storefront], expected: [Expected(path: "/admin", kind: .becamePublic)],
             reason: "route admin was removed; public route storefront serves it now"),
        Case(name: "a guarded route removed with nothing behind it is not served (not an exposure)", before: [bearer(), admin],
             after: [bearer(), route("other", "/other")], expected: [Expected(path: "/admin", kind: .unserved)]),
        Case(name: "an exact host takes over from a guarded wildcard",
             before: [bearer(), route("tenants", auth: "admins", hosts: ["*.shop.example.test"])],
             after: [bearer(), route("tenants", auth: "admins", hosts: ["*.shop.example.test"]), route("a-site", hosts: ["a.shop.example.test"])],
             expected: [Expected(host: "a.shop.example.test", path: "/", kind: .becamePublic)],
             reason: "route tenants no longer serves this host; public route a-site does"),
        Case(name: "a regex route loses its policy", before: [bearer(), route("feed", "/feeds/[0-9]+", auth: "admins", pathType: .regex)],
             after: [bearer(), route("feed", "/feeds/[0-9]+", pathType: .regex)],
             expected: [Expected(path: "/feeds/[0-9]+", kind: .becamePublic)]),
        Case(name: "a new public route for other methods leaves the guarded path alone",
             before: [bearer(), route("admin", "/admin", auth: "admins", methods: ["GET"])],
             after: [bearer(), route("admin", "/admin", auth: "admins", methods: ["GET"]), route("hook", "/admin", methods: ["DELETE"])],
             expected: []),
        Case(name: "a new guarded route under a public prefix guards what was public", before: [bearer(), storefront],
             after: [bearer(), storefront, admin], expected: [Expected(path: "/admin", kind: .guarded)],
             reason: "now served by route admin, guarded by admins"),
        Case(name: "adding a policy to a public route", before: [bearer(), storefront, route("admin", "/admin")],
             after: [bearer(), storefront, admin], expected: [Expected(path: "/admin", kind: .guarded)], reason: "route admin now requires admins"),
        Case(name: "switching to another policy that is not weaker",
             before: [bearer(), admin], after: [bearer(), bearer("strict", ipAllow: ["10.1.0.0/16"]), route("admin", "/admin", auth: "strict")],
             expected: [Expected(path: "/admin", kind: .changed)], reason: "route admin now names strict instead of admins"),
        Case(name: "switching to a policy with another mechanism",
             before: [bearer(), admin],
             after: [bearer(), .authPolicy(AuthPolicy(name: "staff", mechanism: .basic([.init(name: "alice", bcrypt: bcrypt)]), ipAllow: ["10.0.0.0/8"])),
                     route("admin", "/admin", auth: "staff")],
             expected: [Expected(path: "/admin", kind: .weakened)], reason: "mechanism changed from bearer to basic"),
        Case(name: "routes and policies unchanged, other routes added", before: [bearer(), admin], after: [bearer(), admin, route("web", "/web")],
             expected: []),
        Case(name: "a guarded route moves to another path: the old path is unserved, the new one new",
             before: [bearer(), admin], after: [bearer(), route("admin", "/manage", auth: "admins")],
             expected: [Expected(path: "/admin", kind: .unserved)]),
    ]

    @Test(arguments: routeCases)
    func routeLevel(_ testCase: Case) throws {
        let impact = Self.impact(testCase.before, testCase.after)
        #expect(impact.paths.map { Expected(host: $0.host, path: $0.path, kind: $0.kind) } == testCase.expected)
        #expect(impact.hasExposure == testCase.expected.contains { $0.kind == .becamePublic || $0.kind == .weakened })
        if let reason = testCase.reason {
            let first = try #require(impact.paths.first)
            #expect(first.reasons.joined(separator: "; ").contains(reason), "\(first.reasons)")
        }
    }

    // MARK: A policy changed in place

    struct PolicyCase: CustomTestStringConvertible, Sendable {
        var name: String
        var before: AuthPolicy
        var after: AuthPolicy
        /// nil: not a weakening (nothing is reported); else a phrase of the reason.
        var weakening: String?
        var testDescription: String { name }
    }

    static func policy(_ mechanism: AuthPolicy.Mechanism?, ipAllow: [String] = [], identityHeaders: AuthPolicy.IdentityHeaders? = nil) -> AuthPolicy {
        AuthPolicy(name: "p", mechanism: mechanism, ipAllow: ipAllow, identityHeaders: identityHeaders)
    }

    static let ci = AuthPolicy.BearerToken(name: "ci", sha256: hashA)
    static let ops = AuthPolicy.BearerToken(name: "ops", sha256: hashB)
    static let alice = AuthPolicy.BasicUser(name: "alice", bcrypt: bcrypt)
    static let bob = AuthPolicy.BasicUser(name: "bob", bcrypt: bcrypt2)
    static func jwt(scopes: [String] = ["orders:read"], audiences: [String] = ["shop"], issuer: String = "https://id.example.test/",
                    jwks: String = "https://id.example.test/jwks.json") -> AuthPolicy.Mechanism {
        .jwt(.init(issuer: issuer, audiences: audiences, jwksURL: jwks, requiredScopes: scopes))
    }

    static let policyCases: [PolicyCase] = [
        PolicyCase(name: "ipAllow widened", before: policy(.bearer([ci]), ipAllow: ["10.0.0.0/8"]),
                   after: policy(.bearer([ci]), ipAllow: ["10.0.0.0/8", "192.168.0.0/16"]), weakening: "ipAllow widened: 192.168.0.0/16"),
        PolicyCase(name: "ipAllow replaced by a wider network", before: policy(nil, ipAllow: ["10.1.0.0/16"]),
                   after: policy(nil, ipAllow: ["10.0.0.0/8"]), weakening: "ipAllow widened: 10.0.0.0/8"),
        PolicyCase(name: "ipAllow removed", before: policy(.bearer([ci]), ipAllow: ["10.0.0.0/8"]), after: policy(.bearer([ci])),
                   weakening: "ipAllow removed"),
        PolicyCase(name: "ipAllow narrowed", before: policy(.bearer([ci]), ipAllow: ["10.0.0.0/8"]),
                   after: policy(.bearer([ci]), ipAllow: ["10.1.0.0/16"]), weakening: nil),
        PolicyCase(name: "ipAllow added", before: policy(.bearer([ci])), after: policy(.bearer([ci]), ipAllow: ["10.0.0.0/8"]), weakening: nil),
        PolicyCase(name: "ipAllow halves merged into the same network", before: policy(nil, ipAllow: ["10.0.0.0/9", "10.128.0.0/9"]),
                   after: policy(nil, ipAllow: ["10.0.0.0/8"]), weakening: nil),
        PolicyCase(name: "ipAllow IPv6 network added", before: policy(nil, ipAllow: ["10.0.0.0/8"]),
                   after: policy(nil, ipAllow: ["10.0.0.0/8", "2001:db8::/32"]), weakening: "2001:db8::/32"),
        PolicyCase(name: "bearer token added", before: policy(.bearer([ci])), after: policy(.bearer([ci, ops])), weakening: "bearer token added: ops"),
        PolicyCase(name: "bearer token rotated (new hash, same name)", before: policy(.bearer([ci])),
                   after: policy(.bearer([.init(name: "ci", sha256: hashB)])), weakening: "bearer token added: ci"),
        PolicyCase(name: "bearer token removed", before: policy(.bearer([ci, ops])), after: policy(.bearer([ci])), weakening: nil),
        PolicyCase(name: "bearer token renamed", before: policy(.bearer([ci])), after: policy(.bearer([.init(name: "deploy", sha256: hashA)])),
                   weakening: nil),
        PolicyCase(name: "mechanism removed, ipAllow alone", before: policy(.bearer([ci]), ipAllow: ["10.0.0.0/8"]),
                   after: policy(nil, ipAllow: ["10.0.0.0/8"]), weakening: "bearer removed"),
        PolicyCase(name: "mechanism changed", before: policy(.bearer([ci])), after: policy(.basic([alice])),
                   weakening: "mechanism changed from bearer to basic"),
        PolicyCase(name: "mechanism added to an ipAllow list", before: policy(nil, ipAllow: ["10.0.0.0/8"]),
                   after: policy(.bearer([ci]), ipAllow: ["10.0.0.0/8"]), weakening: nil),
        PolicyCase(name: "basic user added", before: policy(.basic([alice])), after: policy(.basic([alice, bob])), weakening: "basic user added: bob"),
        PolicyCase(name: "basic user removed", before: policy(.basic([alice, bob])), after: policy(.basic([alice])), weakening: nil),
        PolicyCase(name: "basic password changed", before: policy(.basic([alice])),
                   after: policy(.basic([.init(name: "alice", bcrypt: bcrypt2)])), weakening: "basic password changed: alice"),
        PolicyCase(name: "jwt required scope dropped", before: policy(jwt(scopes: ["orders:read", "orders:write"])),
                   after: policy(jwt(scopes: ["orders:read"])), weakening: "no longer requires orders:write"),
        PolicyCase(name: "jwt required scope added", before: policy(jwt()), after: policy(jwt(scopes: ["orders:read", "admin"])), weakening: nil),
        PolicyCase(name: "jwt audience added", before: policy(jwt()), after: policy(jwt(audiences: ["shop", "mobile"])),
                   weakening: "jwt.audiences added: mobile"),
        PolicyCase(name: "jwt audience removed", before: policy(jwt(audiences: ["shop", "mobile"])), after: policy(jwt()), weakening: nil),
        PolicyCase(name: "jwt issuer changed", before: policy(jwt()), after: policy(jwt(issuer: "https://other.example.test/")),
                   weakening: "jwt.issuer changed"),
        PolicyCase(name: "jwt key set URL changed", before: policy(jwt()), after: policy(jwt(jwks: "https://keys.example.test/jwks.json")),
                   weakening: "jwt.jwksURL changed"),
        PolicyCase(name: "forward url changed", before: policy(.forward(.init(url: "http://auth.internal/check"))),
                   after: policy(.forward(.init(url: "http://other.internal/check"))), weakening: "forward.url changed"),
        PolicyCase(name: "forward copyHeaders changed", before: policy(.forward(.init(url: "http://auth.internal/check"))),
                   after: policy(.forward(.init(url: "http://auth.internal/check", copyHeaders: ["X-Auth-Request-User"]))), weakening: nil),
        PolicyCase(name: "identity headers renamed", before: policy(.bearer([ci])),
                   after: policy(.bearer([ci]), identityHeaders: .init(user: "X-Remote-User")), weakening: nil),
    ]

    @Test(arguments: policyCases)
    func policyChangedInPlace(_ testCase: PolicyCase) throws {
        var before = testCase.before, after = testCase.after
        before.name = "p"
        after.name = "p"
        let routes = [Self.route("api", "/api", auth: "p"), Self.route("admin", "/admin", auth: "p"), Self.storefront]
        let impact = Self.impact([.authPolicy(before)] + routes, [.authPolicy(after)] + routes)
        guard let phrase = testCase.weakening else {
            #expect(impact.paths.isEmpty, "\(impact.paths)")
            #expect(impact.weakenedPolicies.isEmpty)
            return
        }
        #expect(impact.paths.map(\.path) == ["/admin", "/api"])
        #expect(impact.paths.allSatisfy { $0.kind == .weakened && $0.exposure && $0.before?.auth == "p" && $0.after?.auth == "p" })
        let weakened = try #require(impact.weakenedPolicies.first)
        #expect(impact.weakenedPolicies.count == 1)
        #expect(weakened.name == "p" && weakened.paths == 2)
        #expect(weakened.reasons.joined(separator: "; ").contains(phrase), "\(weakened.reasons)")
    }

    // MARK: Whole-table properties

    @Test func nothingWasPublishedBefore() {
        let impact = AuthImpact(before: nil, after: Self.table([Self.bearer(), Self.route("web")]))
        #expect(impact == .none)
    }

    @Test func identicalTablesHaveNoImpact() {
        let resources = [Self.bearer(), Self.admin, Self.storefront, Self.route("feed", "^/f/.*$", auth: "admins", pathType: .regex)]
        #expect(Self.impact(resources, resources) == .none)
    }

    @Test func orderAndDeterminism() {
        let before = [Self.bearer(), Self.storefront, Self.admin, Self.route("api", "/api", auth: "admins", hosts: ["api.example.test", "*.example.test"])]
        let after = [Self.bearer(tokens: [("ci", Self.hashA), ("ops", Self.hashB)]), Self.storefront, Self.route("admin", "/admin"),
                     Self.route("api", "/api", auth: "admins", hosts: ["api.example.test", "*.example.test"])]
        let impact = Self.impact(before, after)
        #expect(impact.paths.map { "\($0.host) \($0.path) \($0.kind.rawValue)" } == [
            "api.example.test /api weakened", "shop.example.test /admin public", "*.example.test /api weakened",
        ])
        #expect(impact.weakenedPolicies == [.init(name: "admins", reasons: ["bearer token added: ops"], paths: 2)])
        #expect(Self.impact(before.reversed(), after.reversed()) == impact)
    }

    /// A token added to a policy that guards 10,000 paths: every path is in the impact (the JSON
    /// plan lists them all), but the text shows a few and counts the rest.
    @Test func tenThousandPathsBehindOneWeakenedPolicyStayReadable() {
        let routes = (0..<10_000).map { Self.route("r\($0)", "/p\($0)", auth: "p", hosts: ["h\($0 % 100).example.test"]) }
        let impact = Self.impact([Self.bearer("p")] + routes, [Self.bearer("p", tokens: [("ci", Self.hashA), ("ops", Self.hashB)])] + routes)
        #expect(impact.paths.count == 10_000)
        #expect(impact.exposures.count == 10_000)
        #expect(impact.weakenedPolicies == [.init(name: "p", reasons: ["bearer token added: ops"], paths: 10_000)])
        let lines = PlanRenderer().authImpactText(impact)
        #expect(lines.filter { $0.contains("⚠ exposure") }.count == PlanRenderer.weakenedPathsShown)
        #expect(lines.count < 20, "\(lines.joined(separator: "\n"))")
        #expect(lines.contains { $0.contains("it guards 10000 paths, 9995 not shown above") }, "\(lines)")
    }

    @Test(arguments: [
        ("/", ["/"]), ("/a", ["/a", "/"]), ("/a/b", ["/a/b", "/", "/a", "/a/"]), ("/a/", ["/a/", "/", "/a"]),
    ])
    func prefixesOnSegmentBoundaries(_ path: String, _ expected: [String]) {
        #expect(RouteIndex.prefixes(of: path) == expected)
    }

    @Test(arguments: [
        ("10.0.0.0/8", ["10.0.0.0/8"], true), ("10.1.0.0/16", ["10.0.0.0/8"], true), ("10.0.0.0/8", ["10.1.0.0/16"], false),
        ("10.0.0.0/8", ["10.0.0.0/9", "10.128.0.0/9"], true), ("10.0.0.0/8", ["10.0.0.0/9", "10.128.0.0/10"], false),
        ("0.0.0.0/0", ["0.0.0.0/1", "128.0.0.0/1"], true), ("2001:db8::/32", ["10.0.0.0/8"], false), ("192.0.2.7/32", ["192.0.2.0/24"], true),
    ])
    func networkCoverage(_ network: String, _ list: [String], _ expected: Bool) throws {
        func cidr(_ text: String) throws -> CIDR { try CIDR.parse(text).get() }
        #expect(PolicyComparison.covered(try cidr(network), by: try list.map(cidr)) == expected)
    }
}

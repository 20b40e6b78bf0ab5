import Foundation
import Testing
@testable import Spec

/// Every directory under `Tests/Fixtures/spec/invalid/` is one case: its files are loaded together
/// (paths relative to the case directory) and the error diagnostics must match the `# ERROR:`
/// markers line for line (see `SpecFixtures`).
@Suite struct ValidationFixtureTests {
    @Test(arguments: SpecFixtures.invalidCases)
    func invalidCase(_ name: String) throws {
        let directory = SpecFixtures.invalidRoot.appendingPathComponent(name, isDirectory: true)
        let files = try SpecFixtures.files(in: directory)
        try #require(!files.isEmpty, "case \(name) has no .yaml files")
        let markers = SpecFixtures.markers(in: files)
        try #require(!markers.isEmpty, "case \(name) has no # ERROR: markers")
        let result = SpecLoader.load(files: files)
        #expect(!result.isValid)
        let mismatches = SpecFixtures.mismatches(markers: markers, diagnostics: result.diagnostics)
        #expect(mismatches.isEmpty, "\(name):\n\(mismatches.joined(separator: "\n"))")
    }

    /// The case list is read from disk; make sure it did not silently come back empty or short.
    @Test func everyRuleHasACase() {
        let cases = Set(SpecFixtures.invalidCases)
        let expected: Set<String> = [
            "yaml-syntax", "duplicate-key", "encoding", "document-header", "metadata-name", "duplicate-name",
            "unknown-fields", "missing-fields", "wrong-types", "enums", "duplicate-hosts", "duplicate-host-in-one-domain",
            "references", "hostnames", "paths", "cidrs", "urls", "durations", "quantities",
            "hashes", "env", "ports", "instance-runtime", "ambiguous-routes", "auth-mechanisms", "domain-conflicts",
            "route-conflicts", "domain-tls-fields", "identity-headers", "forward-copy-headers",
        ]
        #expect(expected.subtracting(cases).isEmpty, "missing cases: \(expected.subtracting(cases).sorted())")
    }

    /// Every diagnostic code the loader can emit is produced by at least one invalid case.
    @Test func invalidCasesCoverEveryDiagnosticCode() throws {
        var codes = Set<String>()
        for name in SpecFixtures.invalidCases {
            let result = try SpecFixtures.load(SpecFixtures.invalidRoot.appendingPathComponent(name, isDirectory: true))
            codes.formUnion(result.diagnostics.map(\.code))
        }
        let expected: Set<String> = [
            "yaml-syntax", "duplicate-key", "encoding", "missing-field", "unknown-field", "wrong-type", "invalid-value",
            "unknown-kind", "invalid-name", "duplicate-name", "out-of-range", "invalid-hostname", "empty-list",
            "duplicate-host", "conflict", "invalid-regex", "invalid-path", "invalid-url", "invalid-cidr", "invalid-hash",
            "duplicate-value", "several-mechanisms", "no-mechanism", "reserved-name", "invalid-duration",
            "undeclared-reference", "no-port", "ambiguous-port", "ambiguous-route", "invalid-email",
        ]
        #expect(expected.subtracting(codes).isEmpty, "codes no case produces: \(expected.subtracting(codes).sorted())")
    }

    // MARK: Diagnostic details the markers do not express

    @Test func duplicateNameNotePointsAtFirstDeclaration() throws {
        let result = try SpecFixtures.load(SpecFixtures.invalidRoot.appendingPathComponent("duplicate-name"))
        let duplicates = result.diagnostics.filter { $0.code == "duplicate-name" }
        #expect(duplicates.count == 2)
        for diagnostic in duplicates {
            #expect(diagnostic.location.file == "b-routes.yaml")
            #expect(diagnostic.notes.map(\.location) == [Spec.SourceLocation(file: "a-routes.yaml", line: 4, column: 9)])
            #expect(diagnostic.notes.first?.message == "first declared here")
        }
        // The first declaration is loaded; the duplicates are not.
        let route = try #require(result.state.routes.first)
        #expect(result.state.routes.count == 1)
        #expect(route.hosts == ["a.example.com"])
        #expect(result.state.instances.map(\.name) == ["web"])
    }

    @Test func diagnosticsAreSortedAndRenderFileLineColumn() throws {
        let result = try SpecFixtures.load(SpecFixtures.invalidRoot.appendingPathComponent("unknown-fields"))
        #expect(result.diagnostics == result.diagnostics.sorted())
        let first = try #require(result.diagnostics.first)
        #expect(first.rendered == """
            fields.yaml:7:3: error: Route "web": unknown field "spec.priorty"
                hint: did you mean "priority"?
            """)
        #expect(first.json == .object([
            "severity": .string("error"), "code": .string("unknown-field"), "file": .string("fields.yaml"),
            "line": .int(7), "column": .int(3), "message": .string("Route \"web\": unknown field \"spec.priorty\""),
            "hint": .string("did you mean \"priority\"?"),
        ]))
    }

    @Test func noteIsRenderedAfterTheHint() throws {
        let result = try SpecFixtures.load(SpecFixtures.invalidRoot.appendingPathComponent("duplicate-name"))
        let diagnostic = try #require(result.diagnostics.first { $0.code == "duplicate-name" })
        #expect(diagnostic.rendered == """
            b-routes.yaml:4:9: error: Route "web" is declared more than once
                hint: names are unique per kind; rename one of them
                a-routes.yaml:4:9: note: first declared here
            """)
    }

    /// A broken resource is declared but not loaded: routes naming it get no second diagnostic.
    @Test func referenceToInvalidResourceIsNotReportedTwice() {
        let yaml = """
            apiVersion: berth/v1
            kind: Instance
            metadata:
              name: web
            spec:
              image: nginx:1.27
              replicas: many
            ---
            apiVersion: berth/v1
            kind: Route
            metadata:
              name: web
            spec:
              hosts: [shop.example.com]
              to: {instance: web}
            """
        let result = SpecLoader.load(files: [(path: "repo.yaml", contents: Array(yaml.utf8))])
        #expect(result.diagnostics.map(\.code) == ["wrong-type"])
        #expect(result.diagnostics.first?.location.line == 7)
        #expect(result.state.instances.isEmpty)
        #expect(result.state.routes.map(\.name) == ["web"])
    }

    /// A syntax error stops its file there; earlier documents of that file and other files still load.
    @Test func syntaxErrorKeepsEarlierDocuments() throws {
        let result = try SpecFixtures.load(SpecFixtures.invalidRoot.appendingPathComponent("yaml-syntax"))
        #expect(result.state.domains.map(\.name) == ["first"])
        #expect(result.diagnostics.allSatisfy { $0.code == "yaml-syntax" })
        #expect(Set(result.diagnostics.map(\.location.file)).count == 4)
    }

    @Test func emptyRepositoryIsValid() {
        let result = SpecLoader.load(files: [(path: "empty.yaml", contents: Array("# nothing yet\n---\n".utf8))])
        #expect(result.isValid)
        #expect(result.diagnostics.isEmpty)
        #expect(result.state.count == 0)
    }

    // MARK: The valid repository

    @Test func validRepositoryLoadsWithoutDiagnostics() throws {
        let result = try SpecFixtures.load(SpecFixtures.validRoot)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics.map(\.rendered).joined(separator: "\n"))")
        #expect(result.isValid)
        #expect(result.state.domains.map(\.name) == ["api", "intranet", "shop", "status"])
        #expect(result.state.authPolicies.map(\.name) == ["ci-tokens", "customers", "dev-tokens", "office-only", "sso", "staff"])
        #expect(result.state.instances.map(\.name) == ["docs", "mailer", "orders-api", "static", "storefront"])
        #expect(result.state.routes.map(\.name) == [
            "admin", "checkout", "deploy-hook", "dev-api", "docs", "metrics", "orders", "orders-by-id",
            "static-assets", "storefront", "wiki",
        ])
        #expect(result.state.count == 26)
        #expect(result.state.resources.map(\.kind) == [Kind](repeating: .domain, count: 4)
            + [Kind](repeating: .authPolicy, count: 6) + [Kind](repeating: .instance, count: 5) + [Kind](repeating: .route, count: 11))
    }

    @Test func validRepositoryDomainsHaveDefaultsAndNormalizedHosts() throws {
        let state = try SpecFixtures.load(SpecFixtures.validRoot).state
        #expect(state.domain(named: "shop") == Domain(name: "shop", hosts: ["shop.example.com", "www.shop.example.com"],
                                                       tls: .acme, redirectHTTP: true))
        #expect(state.domain(named: "api") == Domain(name: "api", hosts: ["api.example.com", "*.api.example.com"],
                                                      tls: .selfSigned, redirectHTTP: false))
        // tls none: redirectHTTP defaults to false.
        #expect(state.domain(named: "intranet")?.redirectHTTP == false)
        #expect(state.domain(named: "intranet")?.tls == Domain.TLSMode.none)
        #expect(state.domain(named: "status")?.redirectHTTP == true)
    }

    @Test func validRepositoryRoutesHaveDefaults() throws {
        let state = try SpecFixtures.load(SpecFixtures.validRoot).state
        let routes = Dictionary(uniqueKeysWithValues: state.routes.map { ($0.name, $0) })
        #expect(routes["storefront"] == Route(name: "storefront", domain: "shop", path: "/", pathType: .prefix, methods: [],
                                              priority: 0, to: .instance(name: "storefront", port: "http"), auth: nil, stripPrefix: false))
        #expect(routes["static-assets"] == Route(name: "static-assets", domain: "shop", path: "/static",
                                                 to: .instance(name: "static", port: nil), stripPrefix: true))
        #expect(routes["checkout"]?.methods == ["GET", "POST"], "methods are sorted: their order carries no meaning")
        #expect(routes["checkout"]?.pathType == .exact)
        #expect(routes["checkout"]?.priority == 10)
        #expect(routes["checkout"]?.auth == "customers")
        #expect(routes["metrics"]?.hosts == ["metrics.internal.example"])
        #expect(routes["metrics"]?.domain == nil)
        #expect(routes["orders-by-id"]?.pathType == .regex)
        #expect(routes["orders-by-id"]?.path == "^/v1/orders/[0-9]+$")
        #expect(routes["deploy-hook"]?.to == .url("https://deploy.internal.example:8443/hook"))
        #expect(routes["dev-api"]?.hosts == ["*.dev.example.com"])
        #expect(routes["dev-api"]?.priority == -5)
        #expect(routes["wiki"]?.effectiveHosts(in: state) == ["intranet.corp.example"])
        #expect(routes["admin"]?.effectiveHosts(in: state) == ["shop.example.com", "www.shop.example.com"])
    }

    @Test func validRepositoryInstancesHaveDefaults() throws {
        let state = try SpecFixtures.load(SpecFixtures.validRoot).state
        #expect(state.instance(named: "storefront") == Instance(
            name: "storefront", runtime: .docker, image: "ghcr.io/example/storefront:1.4.2", command: [],
            env: ["LOG_LEVEL": "info", "FEATURE_FLAGS": "checkout-v2,search", "WORKERS": "4"],
            ports: [.init(name: "http", containerPort: 8080), .init(name: "metrics", containerPort: 9090)],
            replicas: 3, health: .init(path: "/healthz", intervalMilliseconds: 5_000, timeoutMilliseconds: 1_500),
            resources: .init(memoryBytes: 512 << 20, milliCPUs: 500)))
        let orders = try #require(state.instance(named: "orders-api"))
        #expect(orders.replicas == 1)
        #expect(orders.command == ["/app/orders", "--listen", "0.0.0.0:8000"])
        #expect(orders.health == Instance.Health(path: "/ready", intervalMilliseconds: 10_000, timeoutMilliseconds: 2_000))
        #expect(orders.resources == nil)
        #expect(orders.env.isEmpty)
        let docs = try #require(state.instance(named: "docs"))
        #expect(docs.runtime == .process)
        #expect(docs.image == nil)
        #expect(docs.ports == [.init(name: "http", containerPort: nil)])
        #expect(docs.resources == Instance.Resources(memoryBytes: 1_000_000_000, milliCPUs: 2_000))
        // Without a timeout, the default (2s) is clamped to a shorter interval.
        #expect(state.instance(named: "static")?.health == Instance.Health(path: "/", intervalMilliseconds: 1_000, timeoutMilliseconds: 1_000))
        #expect(state.instance(named: "mailer")?.replicas == 0)
        #expect(state.instance(named: "mailer")?.ports == [])
    }

    @Test func validRepositoryAuthPolicies() throws {
        let state = try SpecFixtures.load(SpecFixtures.validRoot).state
        let ci = try #require(state.authPolicy(named: "ci-tokens"))
        // Hashes are lower-cased; CIDRs are written in canonical form.
        #expect(ci.mechanism == .bearer([
            .init(name: "github-actions", sha256: "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"),
            .init(name: "deploy-bot", sha256: "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"),
        ]))
        #expect(ci.ipAllow == ["10.0.0.0/8", "2001:db8::/64", "192.0.2.7/32"])
        #expect(state.authPolicy(named: "office-only") == AuthPolicy(name: "office-only", mechanism: nil,
                                                                      ipAllow: ["198.51.100.0/24", "::1/128"]))
        #expect(state.authPolicy(named: "customers")?.mechanism == .jwt(.init(
            issuer: "https://id.example.com/", audiences: ["shop-api", "mobile"],
            jwksURL: "https://id.example.com/.well-known/jwks.json", requiredScopes: ["orders:read"])))
        #expect(state.authPolicy(named: "dev-tokens")?.mechanism?.name == "jwt")
        #expect(state.authPolicy(named: "sso")?.mechanism == .forward(.init(
            url: "http://oauth2-proxy.internal:4180/oauth2/auth", copyHeaders: ["X-Auth-Request-User", "X-Auth-Request-Email"])))
        guard case .basic(let users)? = state.authPolicy(named: "staff")?.mechanism else {
            Issue.record("staff is not a basic policy")
            return
        }
        #expect(users.map(\.name) == ["alice", "bob"])
    }

    @Test func validRepositoryRecordsSourceLocations() throws {
        let state = try SpecFixtures.load(SpecFixtures.validRoot).state
        let checkout = try #require(state.sources[ResourceID(.route, "checkout")])
        #expect(checkout.file == "routes/shop.yaml")
        #expect(checkout.location == Spec.SourceLocation(file: "routes/shop.yaml", line: 24, column: 9))
        #expect(checkout.location(of: "spec.auth") == Spec.SourceLocation(file: "routes/shop.yaml", line: 31, column: 9))
        #expect(checkout.location(of: "spec.methods[1]") == Spec.SourceLocation(file: "routes/shop.yaml", line: 29, column: 19))
        // An unrecorded field falls back to the nearest recorded parent.
        #expect(checkout.location(of: "spec.to.port.extra") == Spec.SourceLocation(file: "routes/shop.yaml", line: 32, column: 36))
        #expect(state.sources[ResourceID(.instance, "docs")]?.file == "instances/workers.yml")
        // Declaration order: files by path, then documents in file order.
        #expect(state.declarationOrder[ResourceID(.authPolicy, "ci-tokens")] == 0)
        #expect(state.declarationOrder[ResourceID(.route, "orders")]! < state.declarationOrder[ResourceID(.route, "orders-by-id")]!)
        #expect(state.declarationOrder[ResourceID(.route, "wiki")]! < state.declarationOrder[ResourceID(.route, "storefront")]!)
    }

    /// File order must not matter: the loader sorts by path.
    @Test func loadingIsIndependentOfFileOrder() throws {
        let files = try SpecFixtures.files(in: SpecFixtures.validRoot)
        let forward = SpecLoader.load(files: files)
        let backward = SpecLoader.load(files: files.reversed())
        #expect(forward.state.resources == backward.state.resources)
        #expect(forward.state.declarationOrder == backward.state.declarationOrder)
    }
}

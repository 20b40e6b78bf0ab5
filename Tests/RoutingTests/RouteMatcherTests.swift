import Testing
@testable import Routing
import Spec

@Suite struct RequestPathTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var target: String
        var path: String?
        var query: String? = nil
        var problem: RequestPath.Problem? = nil
        var testDescription: String { target }
    }

    static let cases: [Case] = [
        Case(target: "/", path: "/"),
        Case(target: "/api/users?id=3&x", path: "/api/users", query: "id=3&x"),
        Case(target: "/%61dmin", path: "/admin"),
        Case(target: "/%7euser/%2Fetc", path: "/~user/%2Fetc"),
        Case(target: "/a%2fb", path: "/a%2Fb"),
        Case(target: "/admin/../public", path: "/public"),
        Case(target: "/admin/%2e%2e/public", path: "/public"),
        Case(target: "/a/./b/.", path: "/a/b/"),
        Case(target: "/a/b/..", path: "/a/"),
        Case(target: "/../../etc/passwd", path: "/etc/passwd"),
        Case(target: "/api/", path: "/api/"),
        Case(target: "/a//b", path: "/a//b"),
        Case(target: "/x#frag", path: "/x"),
        Case(target: "/public/..;/admin", path: nil, problem: .ambiguousDotSegment),
        Case(target: "/admin/..;/", path: nil, problem: .ambiguousDotSegment),
        Case(target: "/a;jsessionid=1/b", path: "/a;jsessionid=1/b"),
        Case(target: "/bad%zz", path: nil, problem: .badPercentEncoding),
        Case(target: "/trunc%4", path: nil, problem: .badPercentEncoding),
        Case(target: "/nul%00byte", path: nil, problem: .forbiddenCharacter),
        Case(target: "/sp%20ace", path: nil, problem: .forbiddenCharacter),
        Case(target: "*", path: nil, problem: .notOriginForm),
        Case(target: "http://evil.example/", path: nil, problem: .notOriginForm),
    ]

    @Test(arguments: cases)
    func normalizes(_ example: Case) {
        switch RequestPath.normalize(target: example.target) {
        case .success(let result):
            #expect(result.path == example.path)
            #expect(result.query == example.query)
        case .failure(let problem):
            #expect(problem == example.problem)
            #expect(example.path == nil)
        }
    }

    @Test(arguments: [("Shop.Example.COM", "shop.example.com"), ("shop.example.com.", "shop.example.com"),
                      ("shop.example.com:8443", "shop.example.com"), ("[::1]:80", "[::1]"), ("127.0.0.1:80", "127.0.0.1")])
    func normalizesHosts(_ raw: String, _ expected: String) {
        #expect(RequestHost.normalize(raw) == expected)
    }

    @Test(arguments: [("Shop.Example.COM.:8080", "shop.example.com"), (".", "."), ("A", "a"), ("[::1", "[::1"), (":80", ""),
                      ("[::1].", "[::1]"), ("X.:", "x"), ("a..", "a."), ("[FE80::1]:8443", "[fe80::1]")])
    func normalizesHostEdges(_ raw: String, _ expected: String) {
        #expect(RequestHost.normalize(raw) == expected)
    }

    /// The fast path of target normalization agrees with the general one on targets made of the
    /// characters that decide which path is taken.
    @Test func targetFastPathMatchesTheGeneralPath() {
        let alphabet = Array("/a.%2F;?#~ A")
        var generator = SystemRandomNumberGenerator()
        var fast = 0
        for _ in 0..<20_000 {
            let target = String((0..<Int.random(in: 1...10, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
            let quick = RequestPath.normalize(target: target)
            let general = RequestPath.normalizeInGeneral(target: target)
            switch (quick, general) {
            case (.success(let a), .success(let b)): #expect(a.path == b.path && a.query == b.query, "\(target)")
            case (.failure(let a), .failure(let b)): #expect(a == b, "\(target)")
            default: Issue.record("\(target): \(quick) vs \(general)")
            }
            if case .success(let result) = quick, result.query == nil, result.path == target { fast += 1 }
        }
        #expect(fast > 100, "the generated targets reach the fast path")
    }

    /// The byte-level normalization agrees with the plain String one it replaced, on hosts made of
    /// the characters that matter (letters of both cases, digits, dots, colons, brackets).
    /// How a host is normalized, written with String operations: the model the byte code is held to.
    static func hostModel(_ raw: String) -> String {
        if raw.utf8.allSatisfy({ !(0x41...0x5a).contains($0) && $0 != UInt8(ascii: ":") }), raw.utf8.last != UInt8(ascii: ".") {
            return raw
        }
        var host = Substring(raw)
        if host.hasPrefix("[") {
            if let close = host.firstIndex(of: "]") { host = host[...close] }
        } else if let colon = host.lastIndex(of: ":") {
            host = host[..<colon]
        }
        var value = host.lowercased()
        if value.hasSuffix("."), value.count > 1 { value.removeLast() }
        return value
    }

    @Test func hostNormalizationMatchesTheStringModel() {
        let alphabet = Array("aZ9.:[]-")
        var generator = SystemRandomNumberGenerator()
        var checked = 0
        for _ in 0..<20_000 {
            let raw = String((0..<Int.random(in: 1...9, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
            #expect(RequestHost.normalize(raw) == Self.hostModel(raw), "\(raw)")
            checked += 1
        }
        #expect(checked == 20_000)
    }

    /// The proxy's one-pass `parse` over the header bytes agrees with `isValid` then the String model.
    @Test func hostParsingFromBytesMatchesValidateThenNormalize() {
        let alphabet = Array("aZ9.:[]-/@ \u{7f}é")
        var generator = SystemRandomNumberGenerator()
        var refused = 0
        for _ in 0..<20_000 {
            let raw = String((0..<Int.random(in: 0...9, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
            let parsed = Array(raw.utf8).withUnsafeBytes { RequestHost.parse($0) }
            #expect(parsed == (RequestHost.isValid(raw) ? Self.hostModel(raw) : nil), "\(raw)")
            if parsed == nil { refused += 1 }
        }
        #expect(refused > 0 && refused < 20_000, "both outcomes exercised")
        let long = String(repeating: "a", count: 256)
        #expect(Array(long.utf8).withUnsafeBytes { RequestHost.parse($0) } == nil)
        #expect(Array(long.dropLast().utf8).withUnsafeBytes { RequestHost.parse($0) } == String(long.dropLast()))
    }
}

@Suite struct RouteMatcherTests {
    static func route(_ name: String, _ path: String, _ type: Route.PathType = .prefix, methods: [String] = [], priority: Int = 0,
                      hosts: [String] = ["shop.example.test"]) -> Resource {
        .route(Route(name: name, hosts: hosts, path: path, pathType: type, methods: methods, priority: priority, to: .url("http://127.0.0.1:1")))
    }

    static let matcher: RouteMatcher = {
        let state = DesiredState(resources: [
            route("root", "/"),
            route("api", "/api"),
            route("api-v2", "/api/v2"),
            route("api-slash", "/apidocs/"),
            route("login", "/login", .exact),
            route("login-post", "/login", .exact, methods: ["POST"], priority: 5),
            // Regexes come after prefixes at equal priority, so these need a higher one to beat `/`.
            route("invoices", "/orders/[0-9]+/invoice\\.pdf", .regex, priority: 1),
            route("anything-pdf", "/.*\\.pdf", .regex, priority: 1),
            route("shadowed-regex", "/shadow/.*", .regex),
            route("admin", "/admin", .exact, priority: 100),
            route("wild", "/", hosts: ["*.cdn.example.test"]),
            route("exact-over-wild", "/special", hosts: ["a.cdn.example.test"]),
        ])
        return try! RouteMatcher(document: RouteTableCompiler.compile(state, revision: "r") { _, _ in [] })
    }()

    struct Case: Sendable, CustomTestStringConvertible {
        var host: String
        var path: String
        var method = "GET"
        var route: String?
        var testDescription: String { "\(method) \(host)\(path) → \(route ?? "none")" }
    }

    static let cases: [Case] = [
        Case(host: "shop.example.test", path: "/", route: "root"),
        Case(host: "shop.example.test", path: "/api", route: "api"),
        Case(host: "shop.example.test", path: "/api/", route: "api"),
        Case(host: "shop.example.test", path: "/api/x", route: "api"),
        Case(host: "shop.example.test", path: "/apix", route: "root"),
        Case(host: "shop.example.test", path: "/api/v2", route: "api-v2"),
        Case(host: "shop.example.test", path: "/api/v2/users", route: "api-v2"),
        Case(host: "shop.example.test", path: "/api/v22", route: "api"),
        Case(host: "shop.example.test", path: "/apidocs/", route: "api-slash"),
        Case(host: "shop.example.test", path: "/apidocs", route: "root"),
        Case(host: "shop.example.test", path: "/login", route: "login"),
        Case(host: "shop.example.test", path: "/login", method: "POST", route: "login-post"),
        Case(host: "shop.example.test", path: "/login/", route: "root"),
        Case(host: "shop.example.test", path: "/orders/42/invoice.pdf", route: "invoices"),
        Case(host: "shop.example.test", path: "/orders/x/invoice.pdf", route: "anything-pdf"),
        Case(host: "shop.example.test", path: "/orders/42/invoice.pdfx", route: "root"),
        Case(host: "shop.example.test", path: "/admin", route: "admin"),
        Case(host: "shop.example.test", path: "/ADMIN", route: "root"),
        Case(host: "shop.example.test", path: "/shadow/x", route: "root"),
        // An exact host entry is chosen over the wildcard as a whole (as a server block would be).
        Case(host: "a.cdn.example.test", path: "/x", route: nil),
        Case(host: "b.cdn.example.test", path: "/x", route: "wild"),
        Case(host: "a.cdn.example.test", path: "/special", route: "exact-over-wild"),
        Case(host: "b.cdn.example.test", path: "/special", route: "wild"),
        Case(host: "x.y.cdn.example.test", path: "/", route: nil),
        Case(host: "cdn.example.test", path: "/", route: nil),
        Case(host: "other.example.test", path: "/", route: nil),
    ]

    @Test(arguments: cases)
    func matches(_ example: Case) {
        switch Self.matcher.match(host: example.host, path: example.path, method: example.method) {
        case .route(_, let route): #expect(route.entry.route == example.route)
        case .noRoute, .unknownHost: #expect(example.route == nil)
        }
    }

    @Test func methodsFilterAndHeadFollowsGet() throws {
        let state = DesiredState(resources: [Self.route("get-only", "/r", methods: ["GET"]), Self.route("post-only", "/w", methods: ["POST"])])
        let matcher = try RouteMatcher(document: RouteTableCompiler.compile(state, revision: "r") { _, _ in [] })
        guard case .route(_, let route) = matcher.match(host: "shop.example.test", path: "/r", method: "HEAD") else {
            Issue.record("HEAD should match a GET route"); return
        }
        #expect(route.entry.route == "get-only")
        guard case .noRoute = matcher.match(host: "shop.example.test", path: "/w", method: "GET") else {
            Issue.record("GET must not match a POST-only route"); return
        }
    }

    @Test func aTableWithABadRegexIsRejectedWhole() throws {
        let entry = RouteTableDocument.RouteEntry(route: "bad", path: "(", pathType: .regex, methods: [], priority: 0,
                                                  stripPrefix: false, auth: nil, upstream: .url("http://127.0.0.1:1"))
        let document = RouteTableDocument(revision: "r", generation: 1,
                                          hosts: [.init(host: "a.example.test", domain: nil, tls: .none, redirectHTTP: false, certificate: nil, routes: [entry])],
                                          authPolicies: [:])
        #expect(throws: RouteMatcher.CompileError.self) { try RouteMatcher(document: document) }
    }
}

/// Found by FuzzRouteMatcher: Swift `String` comparison follows Unicode (canonical equivalence,
/// grapheme clusters); the matcher must compare bytes as upstreams do.
@Suite struct ByteExactMatchingTests {
    static let matcher: RouteMatcher = {
        let state = DesiredState(resources: [
            .route(Route(name: "root", hosts: ["shop.example.test"], path: "/", to: .url("http://127.0.0.1:1"))),
            .route(Route(name: "cafe", hosts: ["shop.example.test"], path: "/caf\u{E9}", pathType: .exact, to: .url("http://127.0.0.1:1"))),
            .route(Route(name: "api", hosts: ["shop.example.test"], path: "/api", to: .url("http://127.0.0.1:1"))),
        ])
        return try! RouteMatcher(document: RouteTableCompiler.compile(state, revision: "r") { _, _ in [] })
    }()

    func route(_ path: String) -> String? {
        if case .route(_, let route) = Self.matcher.match(host: "shop.example.test", path: path, method: "GET") { return route.entry.route }
        return nil
    }

    @Test func canonicallyEquivalentSpellingsAreDifferentPaths() {
        #expect(route("/caf\u{E9}") == "cafe")
        #expect(route("/cafe\u{301}") == "root", "decomposed é is other bytes than the route's precomposed é")
    }

    @Test func aCombiningMarkDoesNotHideASegmentBoundary() {
        #expect(route("/api/\u{301}x") == "api")
        #expect(route("/api\u{301}") == "root")
    }

    @Test(arguments: ["shop.example.test", "[::1]:80", "a-b.example.test:8080"])
    func asciiHostsAreValid(_ host: String) { #expect(RequestHost.isValid(host)) }

    @Test(arguments: ["\u{212A}ey.example.test", "shop.example.test\u{0}", "", "a b", "user@host", "h/x"])
    func otherHostsAreRefused(_ host: String) { #expect(!RequestHost.isValid(host)) }
}

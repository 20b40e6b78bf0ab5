import Testing
@testable import Spec

/// The `shadowed-route` warning: a route that another, tried first on all its hosts, always beats.
@Suite struct ShadowedRoutesTests {
    /// Loads one Domain (`site`, two hosts) and the routes, each `(name, extra spec lines)`.
    static func load(_ routes: [(String, String)], extra: String = "") -> LoadResult {
        var yaml = "apiVersion: berth/v1\nkind: Domain\nmetadata: {name: site}\nspec: {hosts: [a.example.test, b.example.test]}\n"
        for (name, spec) in routes {
            yaml += "---\napiVersion: berth/v1\nkind: Route\nmetadata: {name: \(name)}\nspec:\n  domain: site\n  to: {url: \"http://127.0.0.1:8081\"}\n"
            yaml += spec.split(separator: "\n").map { "  \($0)\n" }.joined()
        }
        return SpecLoader.load(files: [(path: "routes.yaml", contents: Array((yaml + extra).utf8))])
    }

    static func shadowed(_ result: LoadResult) -> [String] {
        result.diagnostics.filter { $0.code == "shadowed-route" }.map { diagnostic in
            String(diagnostic.message.split(separator: "\"")[1])
        }.sorted()
    }

    @Test(arguments: [
        // A catch-all at a higher priority takes everything below it.
        ([("all", "path: /\npriority: 10"), ("api", "path: /api"), ("login", "path: /login\npathType: exact"),
          ("users", "path: \"^/users/[0-9]+$\"\npathType: regex")], ["api", "login", "users"]),
        // At equal priority a prefix comes before any regex it covers, not before exact routes.
        ([("api", "path: /api"), ("v1", "path: \"^/api/v1/.*\"\npathType: regex"), ("health", "path: /api/health\npathType: exact")], ["v1"]),
        // Segment boundaries: /api covers /api/x, not /apix; a regex starting /apix is not covered.
        ([("api", "path: /api\npriority: 5"), ("apix", "path: /apix"), ("apixre", "path: \"/apix.*\"\npathType: regex")], []),
        // Methods: a GET-only route covers only GET routes.
        ([("get", "path: /\nmethods: [GET]\npriority: 5"), ("any", "path: /a"), ("only-get", "path: /b\nmethods: [GET]"),
          ("post", "path: /c\nmethods: [POST]")], ["only-get"]),
        // A higher priority wins, a lower one does not shadow.
        ([("low", "path: /"), ("api", "path: /api\npriority: 1")], []),
        // Patterns that give no trusted literal start: only a catch-all covers them.
        ([("api", "path: /api"), ("alt", "path: \"/api/a|/b\"\npathType: regex"), ("group", "path: \"(/api)/x\"\npathType: regex"),
          ("optional", "path: \"/api?/x\"\npathType: regex")], []),
        ([("all", "path: /"), ("alt", "path: \"/api/a|/b\"\npathType: regex")], ["alt"]),
    ] as [([(String, String)], [String])])
    func shadowedRoutes(routes: [(String, String)], expected: [String]) {
        let result = Self.load(routes)
        #expect(result.isValid, "\(result.diagnostics.map(\.rendered))")
        #expect(Self.shadowed(result) == expected, "\(result.diagnostics.map(\.rendered))")
    }

    @Test func theWarningNamesBothRoutesAndTheFix() throws {
        let result = Self.load([("all", "path: /\npriority: 10"), ("api", "path: /api")])
        let warning = try #require(result.diagnostics.first { $0.code == "shadowed-route" })
        #expect(warning.severity == .warning)
        #expect(warning.rendered.hasPrefix("routes.yaml:"))
        #expect(warning.message == "Route \"api\" can never match: Route \"all\" (prefix /) takes every request it would, on every host it serves (priority 10 over 0)")
        #expect(warning.hint == "give Route \"api\" a priority above 10, or narrow Route \"all\"'s path or methods")
        #expect(warning.notes.map(\.message) == ["Route \"all\" is declared here"])
        #expect(result.isValid, "a warning does not make the revision invalid")
    }

    @Test func aRouteIsShadowedOnlyWhereItServes() {
        // `all` serves one of the two hosts: `api` still answers on the other.
        let extra = """
            ---
            apiVersion: berth/v1
            kind: Route
            metadata: {name: onA}
            spec:
              hosts: [a.example.test]
              path: /
              priority: 10
              to: {url: "http://127.0.0.1:8081"}

            """
        let result = Self.load([("api", "path: /api")], extra: extra)
        #expect(Self.shadowed(result).isEmpty, "\(result.diagnostics.map(\.rendered))")
    }

    @Test(arguments: [
        ("^/api/v1/x", "/api/v1/x"), ("/api/v[0-9]+", "/api/v"), ("/users/(\\d+)", "/users/"), ("/a+b", "/a"),
        ("/ab?c", "/a"), ("/ab*c", "/a"), ("/ab{2}", "/a"),
    ])
    func literalStarts(pattern: String, literal: String) {
        #expect(ShadowedRoutesRule.literalStart(ofPattern: pattern) == literal)
    }

    @Test(arguments: ["/a|/b", "(/a)", ".*", "\\/a", "[/]a", "^"])
    func noLiteralStart(pattern: String) {
        #expect(ShadowedRoutesRule.literalStart(ofPattern: pattern) == nil)
    }
}

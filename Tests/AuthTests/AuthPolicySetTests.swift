import Spec
import Testing
@testable import Auth

/// From repository YAML to decisions: Spec loads and compiles the route table, the published
/// JSON is decoded as a replica would, and `AuthPolicySet` compiles its policies.
struct AuthPolicySetTests {
    static let yaml = """
    apiVersion: berth/v1
    kind: Domain
    metadata: {name: shop}
    spec: {hosts: [api.example, www.example], tls: none}
    ---
    apiVersion: berth/v1
    kind: AuthPolicy
    metadata: {name: oauth}
    spec:
      jwt:
        issuer: https://issuer.example
        audiences: [https://api.example]
        jwksURL: https://issuer.example/jwks.json
        requiredScopes: [read]
    ---
    apiVersion: berth/v1
    kind: AuthPolicy
    metadata: {name: ci}
    spec:
      bearer:
        tokens:
          - {name: demo, sha256: 7c43ef5ae21d43ce2743f770c68e24def1a43ee2f416d2438410c8af7af2ff2c}
      ipAllow: [10.0.0.0/8]
    ---
    apiVersion: berth/v1
    kind: Route
    metadata: {name: api}
    spec: {hosts: [api.example], path: /v1, to: {url: "http://127.0.0.1:9000"}, auth: oauth}
    ---
    apiVersion: berth/v1
    kind: Route
    metadata: {name: deploy}
    spec: {hosts: [www.example], path: /deploy, to: {url: "http://127.0.0.1:9001"}, auth: ci}
    ---
    apiVersion: berth/v1
    kind: Route
    metadata: {name: site}
    spec: {hosts: [www.example], path: /, to: {url: "http://127.0.0.1:9002"}}
    """

    static func publishedTable() throws -> RouteTableDocument {
        let loaded = SpecLoader.load(files: [(path: "spec.yaml", contents: Array(yaml.utf8))])
        #expect(loaded.diagnostics.isEmpty, "\(loaded.diagnostics.map(\.rendered))")
        let document = RouteTableCompiler.compile(loaded.state, revision: "r1") { _, _ in [] }
        // What a replica reads back from Redis.
        return try RouteTableDocument(json: JSONValue.parse(document.json.canonicalString))
    }

    @Test("YAML → route table → compiled policies → decisions")
    func endToEnd() throws {
        let set = try AuthPolicySet(document: try Self.publishedTable())
        #expect(set.policies.keys.sorted() == ["ci", "oauth"])
        #expect(set.alwaysRemoveHeaders == ["x-auth-scopes", "x-auth-user"])
        #expect(set.jwtPoliciesByHost == ["api.example": ["oauth"]])
        #expect(set["oauth"]?.jwksURL == "https://issuer.example/jwks.json")

        // demo-token is the quickstart's documented token (its SHA-256 is the hash above).
        let ci = try #require(set["ci"])
        #expect(ci.evaluate(.make(host: "www.example", authorization: ["Bearer demo-token"], client: "10.9.8.7"), now: 0).grant?.identity == "demo")
        #expect(ci.evaluate(.make(host: "www.example", authorization: ["Bearer demo-token"], client: "192.0.2.1"), now: 0).denial?.status == 403)

        let metadata = try #require(set.protectedResourceMetadata(tableHost: "api.example", requestHost: "api.example"))
        #expect(try JSONValue.parse(bytes: metadata)["authorization_servers"] == .array([.string("https://issuer.example")]))
        #expect(set.protectedResourceMetadata(tableHost: "www.example", requestHost: "www.example") == nil)
    }

    @Test("configured identity header names are used and always removed")
    func identityHeaders() throws {
        var json = try #require(AuthPolicy(name: "b", mechanism: .bearer([.init(name: "bot", sha256: String(repeating: "0", count: 64))])).canonicalSpec.objectValue)
        json["identityHeaders"] = .object(["user": .string("X-Remote-User"), "scopes": .string("X-Remote-Scopes")])
        let document = RouteTableDocument(revision: "r", generation: 1, hosts: [], authPolicies: ["b": .object(json)])
        let set = try AuthPolicySet(document: document)
        #expect(set.alwaysRemoveHeaders == ["x-auth-scopes", "x-auth-user", "x-remote-scopes", "x-remote-user"])
        #expect(set["b"]?.headersToRemove == ["x-remote-user", "x-remote-scopes"])
        // What the proxy looks up per request: the policy and every name to strip on its routes.
        #expect(set.guards["b"]?.policy.fingerprint == set["b"]?.fingerprint)
        #expect(set.guards["b"]?.headersToRemove == ["x-auth-scopes", "x-auth-user", "x-remote-scopes", "x-remote-user"])
        #expect(set.guards["missing"] == nil)
    }

    /// `identityHeaders` written in the repository reaches the proxy: the loader accepts it, the
    /// compiler carries it in `auth_policies`, and a replica compiles the published table with it.
    @Test("identityHeaders from YAML → route table → the names the grant uses")
    func identityHeadersFromTheRepository() throws {
        let yaml = """
        apiVersion: berth/v1
        kind: AuthPolicy
        metadata: {name: ci}
        spec:
          bearer:
            tokens:
              - {name: demo, sha256: 7c43ef5ae21d43ce2743f770c68e24def1a43ee2f416d2438410c8af7af2ff2c}
          identityHeaders: {user: X-Remote-User, scopes: X-Remote-Scopes}
        ---
        apiVersion: berth/v1
        kind: AuthPolicy
        metadata: {name: office}
        spec:
          ipAllow: [10.0.0.0/8]
          identityHeaders: {user: Remote-User}
        ---
        apiVersion: berth/v1
        kind: Route
        metadata: {name: deploy}
        spec: {hosts: [www.example], path: /deploy, to: {url: "http://127.0.0.1:9001"}, auth: ci}
        """
        let loaded = SpecLoader.load(files: [(path: "spec.yaml", contents: Array(yaml.utf8))])
        #expect(loaded.diagnostics.isEmpty, "\(loaded.diagnostics.map(\.rendered))")
        let compiled = RouteTableCompiler.compile(loaded.state, revision: "r1") { _, _ in [] }
        #expect(compiled.authPolicies["ci"]?["identityHeaders"] == .object(["user": .string("X-Remote-User"), "scopes": .string("X-Remote-Scopes")]))
        let published = try RouteTableDocument(json: JSONValue.parse(compiled.json.canonicalString))
        let set = try AuthPolicySet(document: published)
        #expect(set.alwaysRemoveHeaders == ["remote-user", "x-auth-scopes", "x-auth-user", "x-remote-scopes", "x-remote-user"])
        let ci = try #require(set["ci"])
        #expect(ci.headersToRemove == ["x-remote-user", "x-remote-scopes"])
        let grant = ci.evaluate(.make(host: "www.example", authorization: ["Bearer demo-token"], client: "10.9.8.7"), now: 0).grant
        #expect(grant?.upstreamHeaders == [HeaderField("x-remote-user", "demo")])
        // Only the user header renamed: the scopes header keeps its default.
        #expect(set["office"]?.userHeader == "remote-user")
        #expect(set["office"]?.scopesHeader == "x-auth-scopes")
    }

    /// Each row is a valid bearer policy with one defect; compiling must throw, so the proxy keeps
    /// its last good table instead of enforcing something weaker than the repository says.
    @Test("malformed compiled policies are refused", arguments: [
        (#"{"ipAllow":[],"bearer":{"tokens":[{"name":"a","sha256":"00"}]}}"#, "sha256"),
        (#"{"ipAllow":[],"bearer":{"tokens":[]}}"#, "empty"),
        (#"{"ipAllow":[],"bearer":{"tokens":[{"name":"a","sha256":"0000000000000000000000000000000000000000000000000000000000000000"}]},"rateLimit":1}"#, "unknown field"),
        (#"{"ipAllow":["10.0.0.1/8"],"bearer":{"tokens":[{"name":"a","sha256":"0000000000000000000000000000000000000000000000000000000000000000"}]}}"#, "CIDR"),
        (#"{"ipAllow":"10.0.0.0/8"}"#, "list of strings"),
        (#"{"ipAllow":[]}"#, "no mechanism"),
        (#"{}"#, "neither"),
        (#"{"ipAllow":[],"basic":{"users":[{"name":"a","bcrypt":"$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"}]}}"#, "bcrypt"),
        (#"{"ipAllow":[],"basic":{"users":[{"name":"a","bcrypt":"$2b$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"}]}}"#, "bcrypt"),
        (#"{"ipAllow":[],"jwt":{"issuer":"i","audiences":[],"jwksURL":"https://k"}}"#, "audiences"),
        (#"{"ipAllow":[],"jwt":{"issuer":"i","audiences":"a","jwksURL":"https://k"}}"#, "audiences"),
        (#"{"ipAllow":[],"jwt":{"audiences":["a"],"jwksURL":"https://k"}}"#, "issuer"),
        (#"{"ipAllow":[],"forward":{"url":"ftp://x"}}"#, "forward.url"),
        (#"{"ipAllow":[],"bearer":{"tokens":[{"name":"a","sha256":"0000000000000000000000000000000000000000000000000000000000000000"}]},"jwt":{}}"#, "several"),
        (#"{"ipAllow":["10.0.0.0/8"],"identityHeaders":{"user":"X User"}}"#, "header name"),
        (#"{"ipAllow":["10.0.0.0/8"],"identityHeaders":{"user":"X-A","scopes":"x-a"}}"#, "same header"),
        (#"{"ipAllow":["10.0.0.0/8"],"identityHeaders":{"user":"Host"}}"#, "reserved"),
        (#"{"ipAllow":["10.0.0.0/8"],"identityHeaders":{"scopes":"X-Forwarded-For"}}"#, "reserved"),
        (#"{"ipAllow":["10.0.0.0/8"],"identityHeaders":{"user":"content-length"}}"#, "reserved"),
    ])
    func strict(json: String, why: String) throws {
        do {
            _ = try CompiledAuthPolicy(name: "p", json: JSONValue.parse(json))
            Issue.record("compiled \(json)")
        } catch let error as AuthPolicyError {
            #expect(error.description.contains(why), "\(error.description)")
        }
    }
}

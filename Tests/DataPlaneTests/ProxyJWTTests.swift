import Auth
import Foundation
import RedisClient
import Spec
import Testing
import TestSupport

let otherHost = "other.example.test"

/// JWT policies through a real berth-proxy: the proxy fetches the issuer's JWKS from a server the
/// test runs (and rotates), verifies RS256/ES256/EdDSA tokens, answers RFC 6750 challenges that
/// point at its RFC 9728 metadata, and never lets a refused request reach the upstream.
extension ProxyEndToEndTests {
    @Suite(.serialized) struct JWT {
        static let metadataURL = "https://\(shopHost)/.well-known/oauth-protected-resource"

        static func jwtPolicy(_ name: String, jwksURL: String, scopes: [String] = ["read"]) -> String {
            """
            apiVersion: berth/v1
            kind: AuthPolicy
            metadata: {name: \(name)}
            spec:
              jwt:
                issuer: "\(TokenIssuer.issuer)"
                audiences: ["https://\(shopHost)", "https://\(otherHost)"]
                jwksURL: "\(jwksURL)"
                requiredScopes: [\(scopes.joined(separator: ", "))]

            """
        }

        /// shop: `/api` and `/admin` (prefix) and `/console` (exact) behind `oauth`, `/down` behind
        /// a policy whose JWKS URL has no server, `/public` open. other: `/api` behind `oauth`.
        static func documents(upstream: String, jwksURL: String, deadJWKS: String) -> [String] {
            [
                Manifest.domain("shop", hosts: [shopHost]), Manifest.domain("other", hosts: [otherHost]),
                Manifest.domain("blog", hosts: [blogHost]),
                jwtPolicy("oauth", jwksURL: jwksURL), jwtPolicy("dead-issuer", jwksURL: deadJWKS),
                Manifest.route("public", domain: "shop", path: "/public", url: upstream),
                Manifest.route("api", domain: "shop", path: "/api", url: upstream, auth: "oauth"),
                Manifest.route("admin", domain: "shop", path: "/admin", url: upstream, auth: "oauth"),
                Manifest.route("console", domain: "shop", path: "/console", url: upstream, pathType: "exact", auth: "oauth"),
                Manifest.route("down", domain: "shop", path: "/down", url: upstream, auth: "dead-issuer"),
                Manifest.route("other-api", domain: "other", path: "/api", url: upstream, auth: "oauth"),
                Manifest.route("blog", domain: "blog", url: upstream),
            ]
        }

        /// What a case expects: the upstream reached with this identity, or a refusal.
        enum Expected: CustomStringConvertible {
            case allow(user: String, scopes: String)
            /// Status and the RFC 6750 `error` (nil: the challenge must carry none).
            case deny(Int, String?)
            var description: String {
                switch self {
                case .allow(let user, let scopes): "allow \(user) [\(scopes)]"
                case .deny(let status, let error): "deny \(status) \(error ?? "-")"
                }
            }
        }

        struct Case {
            var name: String
            var headers: [(String, String)]
            var host = shopHost
            var target = "/api/items?page=2"
            var expected: Expected
        }

        static func bearer(_ token: String) -> [(String, String)] { [("Authorization", "Bearer " + token)] }

        static func cases(_ issuer: TokenIssuer, impostor: TokenIssuer) -> [Case] {
            let now = Date().timeIntervalSince1970
            return [
                Case(name: "valid RS256", headers: bearer(issuer.token(.rs256)), expected: .allow(user: "alice", scopes: "read write")),
                Case(name: "valid ES256", headers: bearer(issuer.token(.es256)), expected: .allow(user: "alice", scopes: "read write")),
                Case(name: "valid EdDSA", headers: bearer(issuer.token(.edDSA)), expected: .allow(user: "alice", scopes: "read write")),
                Case(name: "valid again (from the verification cache)", headers: bearer(issuer.token(.rs256)),
                     expected: .allow(user: "alice", scopes: "read write")),
                Case(name: "token for other's audience, on other", headers: bearer(issuer.token(.es256, claims: TokenIssuer.claims(audience: "https://\(otherHost)"))),
                     host: otherHost, expected: .allow(user: "alice", scopes: "read write")),
                // The same token right after, on shop: a cached success on other must not count here.
                Case(name: "token for other's audience, on shop", headers: bearer(issuer.token(.es256, claims: TokenIssuer.claims(audience: "https://\(otherHost)"))),
                     expected: .deny(401, "invalid_token")),
                Case(name: "missing", headers: [], expected: .deny(401, nil)),
                Case(name: "wrong scheme", headers: [("Authorization", "Basic YWxpY2U6c2VjcmV0")], expected: .deny(401, nil)),
                Case(name: "malformed: no token", headers: [("Authorization", "Bearer")], expected: .deny(401, "invalid_request")),
                Case(name: "malformed: two parts", headers: bearer("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0"), expected: .deny(401, "invalid_request")),
                Case(name: "malformed: space inside", headers: [("Authorization", "Bearer abc def")], expected: .deny(401, "invalid_request")),
                Case(name: "expired an hour ago", headers: bearer(issuer.token(.rs256, claims: TokenIssuer.claims(exp: now - 3600))),
                     expected: .deny(401, "invalid_token")),
                Case(name: "not valid for another hour", headers: bearer(issuer.token(.es256, claims: TokenIssuer.claims(nbf: now + 3600))),
                     expected: .deny(401, "invalid_token")),
                Case(name: "wrong issuer", headers: bearer(issuer.token(.rs256, claims: TokenIssuer.claims(issuer: "https://evil.example.test"))),
                     expected: .deny(401, "invalid_token")),
                Case(name: "wrong audience", headers: bearer(issuer.token(.rs256, claims: TokenIssuer.claims(audience: "https://elsewhere.example.test"))),
                     expected: .deny(401, "invalid_token")),
                Case(name: "missing scope", headers: bearer(issuer.token(.edDSA, claims: TokenIssuer.claims(scope: "write"))),
                     expected: .deny(403, "insufficient_scope")),
                Case(name: "alg none", headers: bearer(TokenIssuer.unsecured()), expected: .deny(401, "invalid_token")),
                Case(name: "HS256 with the RSA public key as secret", headers: bearer(issuer.hs256WithRSAPublicKey()),
                     expected: .deny(401, "invalid_token")),
                Case(name: "signed by another key under a known kid", headers: bearer(impostor.token(.rs256)), expected: .deny(401, "invalid_token")),
                Case(name: "ES256 token naming the RSA kid", headers: bearer(issuer.token(.es256, kid: "rsa-1")), expected: .deny(401, "invalid_token")),
                Case(name: "forged identity and internal headers without a token",
                     headers: [("X-Auth-User", "root"), ("X-Internal-Request", "true"), ("X-Forwarded-For", "10.0.0.1")],
                     expected: .deny(401, nil)),
            ]
        }

        @Test func tokensAreVerifiedAgainstTheFetchedKeySetCaseByCase() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web")
            let issuer = TokenIssuer(), impostor = TokenIssuer()
            let jwks = try ScriptedHTTPServer(group: env.group) { _ in .init(status: 200, headers: [("content-type", "application/json")], body: issuer.jwks) }
            defer { jwks.close() }
            try env.apply(Self.documents(upstream: web.url, jwksURL: jwks.url + "/jwks.json",
                                         deadJWKS: "http://127.0.0.1:\(try freeLoopbackPort())/jwks.json"))
            let proxy = try env.proxy()

            for testCase in Self.cases(issuer, impostor: impostor) {
                let before = web.stats.requestCount
                let response = try httpRequest(port: proxy.httpPort, testCase.target, host: testCase.host, headers: testCase.headers)
                let challenge = response.header("www-authenticate") ?? ""
                switch testCase.expected {
                case .allow(let user, let scopes):
                    #expect(response.status == 200, "\(testCase.name): \(response)")
                    let seen = response.echo
                    #expect(seen?.header("x-auth-user") == [user], "\(testCase.name): \(seen?.headers ?? [])")
                    #expect(seen?.header("x-auth-scopes") == [scopes], "\(testCase.name)")
                case .deny(let status, let error):
                    #expect(response.status == status, "\(testCase.name): \(response)")
                    #expect(web.stats.requestCount == before, "\(testCase.name): a refused request reached the upstream")
                    let metadata = "https://\(testCase.host)/.well-known/oauth-protected-resource"
                    #expect(challenge.hasPrefix("Bearer "), "\(testCase.name): \(challenge)")
                    #expect(challenge.contains("resource_metadata=\"\(metadata)\""), "\(testCase.name): \(challenge)")
                    if let error {
                        #expect(challenge.contains("error=\"\(error)\""), "\(testCase.name): \(challenge)")
                    } else {
                        #expect(!challenge.contains("error="), "\(testCase.name): no error code without credentials (RFC 6750 §3.1): \(challenge)")
                    }
                    if status == 403 { #expect(challenge.contains("scope=\"read\""), "\(testCase.name): \(challenge)") }
                }
            }
            // One fetch at start served every case: verification is local.
            #expect(jwks.requests.filter { $0.uri == "/jwks.json" }.count == 1, "\(jwks.requests.map(\.uri))")
        }

        @Test func forgedHeadersNeverReachTheUpstreamAsSent() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web")
            let issuer = TokenIssuer()
            let jwks = try ScriptedHTTPServer(group: env.group) { _ in .init(status: 200, body: issuer.jwks) }
            defer { jwks.close() }
            try env.apply(Self.documents(upstream: web.url, jwksURL: jwks.url + "/jwks.json", deadJWKS: "http://127.0.0.1:1/jwks.json"))
            let proxy = try env.proxy()
            let response = try httpRequest(port: proxy.httpPort, "/api/me", host: shopHost, headers: Self.bearer(issuer.token(.rs256)) + [
                ("X-Auth-User", "root"), ("X-Auth-Scopes", "admin"), ("X-Forwarded-For", "10.0.0.1"), ("X-Real-IP", "10.0.0.1"),
                ("X-Forwarded-Proto", "https"),
            ])
            #expect(response.status == 200, "\(response)")
            let seen = try #require(response.echo)
            #expect(seen.header("x-auth-user") == ["alice"], "\(seen.headers)")
            #expect(seen.header("x-auth-scopes") == ["read write"])
            #expect(seen.header("x-forwarded-for") == ["127.0.0.1"])
            #expect(seen.header("x-real-ip") == ["127.0.0.1"])
            #expect(seen.header("x-forwarded-proto") == ["http"])
        }

        @Test func pathTricksOnGuardedRoutesNeverReachTheUpstreamWithoutAToken() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web")
            let issuer = TokenIssuer()
            let jwks = try ScriptedHTTPServer(group: env.group) { _ in .init(status: 200, body: issuer.jwks) }
            defer { jwks.close() }
            try env.apply(Self.documents(upstream: web.url, jwksURL: jwks.url + "/jwks.json", deadJWKS: "http://127.0.0.1:1/jwks.json"))
            let proxy = try env.proxy()
            // Guarded after normalization (401), no route at all (404), or refused as ambiguous
            // (`..;` is a dot segment to Tomcat-style servers: 400): never forwarded.
            let cases: [(String, Int)] = [
                ("/admin", 401), ("/admin/", 401), ("/admin/..;/", 400), ("/%61dmin", 401), ("/%61dmin/users", 401),
                ("/public/../admin", 401), ("/public/%2e%2e/admin", 401), ("/admin;x", 404), ("/ADMIN", 404),
                ("/console", 401), ("/%63onsole", 401), ("/console/", 404), ("/CONSOLE", 404), ("/console/..;/", 400),
                ("/public/../console", 401), ("//console", 404),
            ]
            for (target, status) in cases {
                let response = try httpRequest(port: proxy.httpPort, target, host: shopHost)
                #expect(response.status == status, "\(target): \(response)")
            }
            #expect(web.stats.requestCount == 0, "reached the upstream: \(web.stats.requests)")
            // With a token the same normalized paths are served, and the upstream sees the normalized path.
            let served = try httpRequest(port: proxy.httpPort, "/%61dmin/users", host: shopHost, headers: Self.bearer(issuer.token(.rs256)))
            #expect(served.status == 200)
            #expect(served.echo?.uri == "/admin/users")
        }

        @Test func anUnknownKeyIDRefetchesTheRotatedKeySetOnceWhileTheBodyWaits() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web")
            let issuer = TokenIssuer(), next = TokenIssuer()
            let jwks = try ScriptedHTTPServer(group: env.group) { _ in .init(status: 200, body: issuer.jwks) }
            defer { jwks.close() }
            try env.apply(Self.documents(upstream: web.url, jwksURL: jwks.url + "/jwks.json", deadJWKS: "http://127.0.0.1:1/jwks.json"))
            let proxy = try env.proxy()
            // One keep-alive connection: the upload below reuses the upstream connection this request
            // leaves idle, so its held body must follow its head on it.
            let socket = try TestSocket(port: proxy.httpPort)
            defer { socket.close() }
            #expect(try socket.request("GET", "/api", host: shopHost, headers: Self.bearer(issuer.token(.rs256))).status == 200)
            let fetchesBefore = jwks.requests.count

            // The issuer rotates: rsa-2 is added. A token naming it makes the proxy fetch again; the
            // POST body waits for the fetch and reaches the upstream whole.
            jwks.setScript { _ in .init(status: 200, body: TokenIssuer.document([issuer.jwk(.rs256, kid: "rsa-1"), next.jwk(.rs256, kid: "rsa-2")])) }
            let body = Array(repeating: UInt8(ascii: "j"), count: 300_000)
            let rotated = try socket.request("POST", "/api/upload", host: shopHost, headers: Self.bearer(next.token(.rs256, kid: "rsa-2")), body: body)
            #expect(rotated.status == 200, "\(rotated)")
            #expect(rotated.echo?.bodyLength == body.count)
            #expect(jwks.requests.count == fetchesBefore + 1)

            // Made-up kids are refused without fetching again (rate limit), and so is the old key set's
            // unknown one.
            for kid in ["nope", "rsa-3", "whatever"] {
                let response = try httpRequest(port: proxy.httpPort, "/api", host: shopHost, headers: Self.bearer(next.token(.rs256, kid: kid)))
                #expect(response.status == 401, "\(kid): \(response)")
                #expect(response.header("www-authenticate")?.contains("invalid_token") == true)
            }
            #expect(jwks.requests.count == fetchesBefore + 1, "kid misses must not turn the proxy into a load generator")
            // Keys from both sets work now.
            #expect(try httpRequest(port: proxy.httpPort, "/api", host: shopHost, headers: Self.bearer(issuer.token(.rs256))).status == 200)
            #expect(try httpRequest(port: proxy.httpPort, "/api", host: shopHost, headers: Self.bearer(next.token(.rs256, kid: "rsa-2"))).status == 200)
        }

        @Test func aKeySetThatCannotBeFetchedFailsClosedWith503() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web")
            let issuer = TokenIssuer()
            let broken = try ScriptedHTTPServer(group: env.group) { _ in .init(status: 500, body: "oops") }
            defer { broken.close() }
            let jwks = try ScriptedHTTPServer(group: env.group) { _ in .init(status: 200, body: "{\"keys\": []}") }
            defer { jwks.close() }
            // /down: nothing listens; /api: the JWKS has no usable key; blog: a policy whose server answers 500.
            var documents = Self.documents(upstream: web.url, jwksURL: jwks.url + "/jwks.json",
                                           deadJWKS: "http://127.0.0.1:\(try freeLoopbackPort())/jwks.json")
            documents += [Self.jwtPolicy("broken-issuer", jwksURL: broken.url + "/jwks.json"),
                          Manifest.route("blog-admin", domain: "blog", path: "/admin", url: web.url, auth: "broken-issuer")]
            try env.apply(documents)
            let proxy = try env.proxy()
            for (host, target) in [(shopHost, "/down"), (shopHost, "/api"), (blogHost, "/admin")] {
                let response = try httpRequest(port: proxy.httpPort, target, host: host, headers: Self.bearer(issuer.token(.rs256)))
                #expect(response.status == 503, "\(host)\(target): \(response)")
                #expect(response.text.contains("keys could not be fetched"), "\(response.text)")
            }
            // A malformed token is still refused as such: no keys are needed to say so.
            #expect(try httpRequest(port: proxy.httpPort, "/down", host: shopHost, headers: [("Authorization", "Bearer x")]).status == 401)
            #expect(web.stats.requestCount == 0)
            // The replica's heartbeat says which key set fails, for `berth status`.
            let redis = try env.redisConnection()
            func lastError() -> String? { try? redis.send(["HGET", "berth:proxy:\(proxy.replicaID)", "last_error"]).string }
            let reported = eventually(timeout: 12) {
                lastError()?.contains("JWKS \(broken.url)/jwks.json") == true && lastError()?.contains("answered 500") == true
            }
            #expect(reported, "\(lastError() ?? "no heartbeat")")
        }

        @Test func hostsWithJWTRoutesServeProtectedResourceMetadata() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web")
            let issuer = TokenIssuer()
            let jwks = try ScriptedHTTPServer(group: env.group) { _ in .init(status: 200, body: issuer.jwks) }
            defer { jwks.close() }
            try env.apply(Self.documents(upstream: web.url, jwksURL: jwks.url + "/jwks.json", deadJWKS: "http://127.0.0.1:1/jwks.json"))
            let proxy = try env.proxy()

            func document(_ host: String, _ target: String) throws -> [String: Any]? {
                let response = try httpRequest(port: proxy.httpPort, target, host: host)
                guard response.status == 200, response.header("content-type") == "application/json" else { return nil }
                return try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
            }
            let root = try #require(try document(shopHost, "/.well-known/oauth-protected-resource"))
            #expect(root["resource"] as? String == "https://\(shopHost)")
            #expect(root["authorization_servers"] as? [String] == [TokenIssuer.issuer])
            #expect(root["scopes_supported"] as? [String] == ["read"])
            #expect(root["bearer_methods_supported"] as? [String] == ["header"])
            let other = try #require(try document(otherHost, "/.well-known/oauth-protected-resource"))
            #expect(other["resource"] as? String == "https://\(otherHost)")
            // RFC 9728 §3.1: the path-suffixed form names the resource under that path.
            let suffixed = try #require(try document(shopHost, "/.well-known/oauth-protected-resource/api"))
            #expect(suffixed["resource"] as? String == "https://\(shopHost)/api")
            #expect(suffixed["authorization_servers"] as? [String] == [TokenIssuer.issuer])
            // A path no JWT policy guards has no document; a host without JWT routes is routed as usual.
            #expect(try httpRequest(port: proxy.httpPort, "/.well-known/oauth-protected-resource/public", host: shopHost).status == 404)
            let blog = try httpRequest(port: proxy.httpPort, "/.well-known/oauth-protected-resource", host: blogHost)
            #expect(blog.status == 200 && blog.echo?.server == "web", "\(blog)")
            // The challenge names the document.
            let challenge = try httpRequest(port: proxy.httpPort, "/api", host: shopHost).header("www-authenticate")
            #expect(challenge == "Bearer realm=\"\(shopHost)\", resource_metadata=\"\(Self.metadataURL)\"")
        }

        /// A key set on https: fetched when the proxy trusts its CA (`--auth-ca-file`), refused
        /// (503) by a proxy that only trusts the system's roots.
        @Test func anHTTPSKeySetIsFetchedWithItsCertificateChecked() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web")
            let issuer = TokenIssuer()
            let pki = try TLS.PKI()
            let leaf = try pki.leaf("jwks", hosts: ["localhost"])
            let files = pki.directory
            try leaf.chain.write(toFile: files.appending("jwks-chain.pem").path, atomically: true, encoding: .utf8)
            try leaf.key.write(toFile: files.appending("jwks-key.pem").path, atomically: true, encoding: .utf8)
            try issuer.jwks.write(toFile: files.appending("jwks.json").path, atomically: true, encoding: .utf8)
            let script = """
                import http.server, ssl, sys
                body = open(sys.argv[3], "rb").read()
                class Handler(http.server.BaseHTTPRequestHandler):
                    def do_GET(self):
                        self.send_response(200)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                    def log_message(self, *args):
                        pass
                server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(sys.argv[1], sys.argv[2])
                server.socket = context.wrap_socket(server.socket, server_side=True)
                print("port", server.server_address[1], flush=True)
                server.serve_forever()
                """
            let server = try BackgroundProcess("python3", ["-c", script, files.appending("jwks-chain.pem").path,
                                                            files.appending("jwks-key.pem").path, files.appending("jwks.json").path])
            defer { server.kill() }
            try server.waitForOutput("port ")
            let port = try #require(server.stdout.split(separator: " ").last.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
            try env.apply(Self.documents(upstream: web.url, jwksURL: "https://localhost:\(port)/jwks.json", deadJWKS: "http://127.0.0.1:1/jwks.json"))
            let trusting = try env.proxy(["--auth-ca-file", pki.caPath])
            let token = Self.bearer(issuer.token(.es256))
            let served = try httpRequest(port: trusting.httpPort, "/api", host: shopHost, headers: token)
            #expect(served.status == 200, "\(served)\n\(trusting.output)")
            #expect(served.echo?.header("x-auth-user") == ["alice"])
            let untrusting = try env.proxy()
            let refused = try httpRequest(port: untrusting.httpPort, "/api", host: shopHost, headers: token)
            #expect(refused.status == 503, "a certificate from an unknown CA is not trusted: \(refused)")
        }
    }
}

import Auth
import Foundation
import Spec
import Testing
import TestSupport

/// Auth policies enforced by the proxy, end to end: bearer, basic (bcrypt off the event loop),
/// ipAllow, and a JWT policy whose issuer cannot be reached (fail closed).
extension ProxyEndToEndTests {
    @Suite(.serialized) struct Auth {
        static let token = "s3cret-token"
        static let password = "correct horse"
        static let bobPassword = "battery staple"

        static func documents(upstream: String) -> [String] {
            let bcrypt = Bcrypt.hash(password: Array(password.utf8), variant: .b, cost: 6, salt: Array(0..<16))
            let bobBcrypt = Bcrypt.hash(password: Array(bobPassword.utf8), variant: .b, cost: 6, salt: Array(16..<32))
            return [
                Manifest.domain("shop", hosts: [shopHost]),
                """
                apiVersion: berth/v1
                kind: AuthPolicy
                metadata: {name: tokens}
                spec:
                  bearer:
                    tokens:
                      - {name: deploy-bot, sha256: \(SHA256.hex(token))}

                """,
                """
                apiVersion: berth/v1
                kind: AuthPolicy
                metadata: {name: people}
                spec:
                  basic:
                    users:
                      - {name: alice, bcrypt: "\(bcrypt)"}
                      - {name: bob, bcrypt: "\(bobBcrypt)"}

                """,
                """
                apiVersion: berth/v1
                kind: AuthPolicy
                metadata: {name: office}
                spec:
                  ipAllow: [10.0.0.0/8]

                """,
                """
                apiVersion: berth/v1
                kind: AuthPolicy
                metadata: {name: loopback-and-token}
                spec:
                  ipAllow: [127.0.0.0/8]
                  bearer:
                    tokens:
                      - {name: local-bot, sha256: \(SHA256.hex(token))}

                """,
                """
                apiVersion: berth/v1
                kind: AuthPolicy
                metadata: {name: sso}
                spec:
                  jwt: {issuer: "https://id.example.test", audiences: [shop], jwksURL: "https://id.example.test/jwks.json"}

                """,
                Manifest.route("public", domain: "shop", path: "/", url: upstream),
                Manifest.route("api", domain: "shop", path: "/api", url: upstream, auth: "tokens"),
                Manifest.route("admin", domain: "shop", path: "/admin", url: upstream, auth: "people"),
                Manifest.route("intranet", domain: "shop", path: "/intranet", url: upstream, auth: "office"),
                Manifest.route("local", domain: "shop", path: "/local", url: upstream, auth: "loopback-and-token"),
                Manifest.route("sso", domain: "shop", path: "/sso", url: upstream, auth: "sso"),
            ]
        }

        static func basic(_ user: String, _ password: String) -> String {
            "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        }

        @Test func bearerTokensAreCheckedAndTheIdentityReachesTheUpstreamButNeverAForgedOne() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web")
            try env.apply(Self.documents(upstream: web.url))
            let proxy = try env.proxy()
            let missing = try httpRequest(port: proxy.httpPort, "/api/orders", host: shopHost)
            #expect(missing.status == 401)
            #expect(missing.header("www-authenticate")?.hasPrefix("Bearer") == true, "\(missing)")
            let wrong = try httpRequest(port: proxy.httpPort, "/api/orders", host: shopHost, headers: [("Authorization", "Bearer nope")])
            #expect(wrong.status == 401)
            #expect(wrong.header("www-authenticate")?.contains("invalid_token") == true, "\(wrong)")
            let scheme = try httpRequest(port: proxy.httpPort, "/api/orders", host: shopHost, headers: [("Authorization", Self.basic("a", "b"))])
            #expect(scheme.status == 401)
            let good = try httpRequest(port: proxy.httpPort, "/api/orders", host: shopHost,
                                       headers: [("Authorization", "Bearer \(Self.token)"), ("X-Auth-User", "root"), ("X-Auth-Scopes", "admin")])
            #expect(good.status == 200, "\(good)")
            let seen = try #require(good.echo)
            #expect(seen.headers.filter { $0.0.lowercased() == "x-auth-user" }.map(\.1) == ["deploy-bot"], "\(seen.headers)")
            #expect(!seen.headers.contains { $0.0.lowercased() == "x-auth-scopes" && $0.1 == "admin" })
            // On a public route too, a client-sent identity never reaches the upstream.
            let forged = try httpRequest(port: proxy.httpPort, "/", host: shopHost, headers: [("X-Auth-User", "root")])
            #expect(forged.status == 200)
            #expect(!(forged.echo?.headers.contains { $0.0.lowercased() == "x-auth-user" } ?? true))
        }

        /// A keep-alive connection reuses its last passing credentials (the per-connection memo):
        /// each request still gets the identity of its own route's policy, and a changed token is
        /// checked afresh.
        @Test func aConnectionRepeatingItsTokenGetsTheRightIdentityOnEveryRequest() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web")
            try env.apply(Self.documents(upstream: web.url))
            let proxy = try env.proxy()
            let socket = try TestSocket(port: proxy.httpPort)
            defer { socket.close() }
            func identity(_ path: String, _ authorization: String, forged: Bool = false) throws -> (Int, [String]) {
                var headers = [("Authorization", authorization)]
                if forged { headers.append(("X-Auth-User", "root")) }
                let response = try socket.request("GET", path, host: shopHost, headers: headers)
                return (response.status, response.echo?.headers.filter { $0.0.lowercased() == "x-auth-user" }.map(\.1) ?? [])
            }
            let bearer = "Bearer \(Self.token)"
            for _ in 0..<3 { #expect(try identity("/api/orders", bearer) == (200, ["deploy-bot"])) }
            #expect(try identity("/api/orders", bearer, forged: true) == (200, ["deploy-bot"]))
            // The same token under another policy: that policy's identity.
            #expect(try identity("/local", bearer) == (200, ["local-bot"]))
            #expect(try identity("/api/orders", bearer) == (200, ["deploy-bot"]))
            // A passing request of a policy that memoizes nothing (Basic) leaves the memo as it was.
            #expect(try identity("/admin", Self.basic("alice", Self.password)) == (200, ["alice"]))
            #expect(try identity("/api/orders", bearer) == (200, ["deploy-bot"]))
            // A changed token is checked again, and refused.
            #expect(try identity("/api/orders", "Bearer \(Self.token)x").0 == 401)
            #expect(try identity("/api/orders", "bearer \(Self.token)") == (200, ["deploy-bot"]))
            // ipAllow still applies (the client is on loopback, the office list is 10/8).
            #expect(try identity("/intranet", bearer).0 == 403)
            #expect(try identity("/api/orders", bearer) == (200, ["deploy-bot"]))
        }

        @Test func basicCredentialsAreVerifiedOffTheEventLoopWithTheirBodyIntact() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web")
            try env.apply(Self.documents(upstream: web.url))
            let proxy = try env.proxy()
            let none = try httpRequest(port: proxy.httpPort, "/admin", host: shopHost)
            #expect(none.status == 401)
            #expect(none.header("www-authenticate")?.hasPrefix("Basic") == true, "\(none)")
            let wrong = try httpRequest(port: proxy.httpPort, "/admin", host: shopHost, headers: [("Authorization", Self.basic("alice", "nope"))])
            #expect(wrong.status == 401)
            let unknown = try httpRequest(port: proxy.httpPort, "/admin", host: shopHost, headers: [("Authorization", Self.basic("mallory", Self.password))])
            #expect(unknown.status == 401)
            for _ in 0..<2 {  // the second one is answered from the credential cache
                let good = try httpRequest(port: proxy.httpPort, "/admin", host: shopHost, headers: [("Authorization", Self.basic("alice", Self.password))])
                #expect(good.status == 200, "\(good)")
                #expect(good.echo?.headers.first { $0.0.lowercased() == "x-auth-user" }?.1 == "alice")
            }
            // A body sent with Basic credentials waits for the check and then reaches the upstream whole.
            let body = Array(repeating: UInt8(ascii: "b"), count: 200_000)
            let upload = try httpRequest(port: proxy.httpPort, "/admin/upload", method: "POST", host: shopHost,
                                         headers: [("Authorization", Self.basic("alice", Self.password))], body: body)
            #expect(upload.status == 200, "\(upload)")
            #expect(upload.echo?.bodyLength == body.count)
            // The same on a keep-alive connection after a first request: the upstream connection
            // that request left idle is attached at once, and the held body (bob is not cached yet:
            // bcrypt runs) must follow the head on it.
            let socket = try TestSocket(port: proxy.httpPort)
            defer { socket.close() }
            #expect(try socket.request("GET", "/api", host: shopHost, headers: [("Authorization", "Bearer \(Self.token)")]).status == 200)
            let again = try socket.request("POST", "/admin/upload", host: shopHost, headers: [("Authorization", Self.basic("bob", Self.bobPassword))],
                                           body: body)
            #expect(again.status == 200, "\(again)")
            #expect(again.echo?.bodyLength == body.count)
            let refused = try httpRequest(port: proxy.httpPort, "/admin/upload", method: "POST", host: shopHost,
                                          headers: [("Authorization", Self.basic("alice", "nope"))], body: body)
            #expect(refused.status == 401)
        }

        @Test func ipAllowListsUseTheRealClientAddressAndCombineWithAMechanism() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web")
            try env.apply(Self.documents(upstream: web.url))
            let proxy = try env.proxy()
            let outside = try httpRequest(port: proxy.httpPort, "/intranet", host: shopHost, headers: [("X-Forwarded-For", "10.1.2.3")])
            #expect(outside.status == 403, "a spoofed X-Forwarded-For does not put 127.0.0.1 inside 10.0.0.0/8: \(outside)")
            #expect(try httpRequest(port: proxy.httpPort, "/local", host: shopHost).status == 401, "inside the list, the token is still needed")
            #expect(try httpRequest(port: proxy.httpPort, "/local", host: shopHost, headers: [("Authorization", "Bearer \(Self.token)")]).status == 200)
        }

        @Test func aJWTRouteWhoseIssuerCannotBeReachedIsNeverServedUnguarded() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web")
            try env.apply(Self.documents(upstream: web.url))
            let proxy = try env.proxy()
            // The sso policy's JWKS host does not resolve: a well-formed token waits for keys that never come.
            let token = TokenIssuer().token(.es256, claims: TokenIssuer.claims(audience: "shop", issuer: "https://id.example.test"))
            let sso = try httpRequest(port: proxy.httpPort, "/sso", host: shopHost, headers: [("Authorization", "Bearer \(token)")])
            #expect(sso.status == 503, "\(sso)")
            #expect(sso.text.contains("keys could not be fetched"))
            #expect(sso.echo == nil)
        }
    }
}

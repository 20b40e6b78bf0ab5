import Foundation
import Testing
import TestSupport

/// Forward auth through a real berth-proxy: the proxy asks an auth server the test runs, forwards
/// with the headers it copies on a 2xx, relays anything else to the client as it came, and fails
/// closed when the auth server cannot answer.
extension ProxyEndToEndTests {
    @Suite(.serialized) struct ForwardAuth {
        static func forwardPolicy(_ name: String, url: String) -> String {
            """
            apiVersion: berth/v1
            kind: AuthPolicy
            metadata: {name: \(name)}
            spec:
              forward:
                url: "\(url)"
                copyHeaders: [Remote-User, Remote-Email]

            """
        }

        /// The auth server: `Bearer allow` passes (with identity headers, one of them not listed in
        /// copyHeaders, and its own Content-Length, never copied: the validator refuses framing
        /// headers in copyHeaders and the proxy skips them, see RemoteAuthTests), `Bearer deny` gets its
        /// own 401 page, anything else a redirect to the login page.
        static let script: ScriptedHTTPServer.Script = { request in
            switch request.header("authorization").first {
            case "Bearer allow":
                return .init(status: 200, headers: [("Remote-User", "alice"), ("Remote-Email", "alice@example.test"),
                                                    ("X-Not-Copied", "1")], body: "ok")
            case "Bearer deny":
                return .init(status: 401, headers: [("WWW-Authenticate", "Bearer realm=\"sso\""), ("Content-Type", "text/html"),
                                                    ("Set-Cookie", "sso_attempts=1; HttpOnly")],
                             body: "<p>denied by sso</p>")
            default:
                let back = request.header("x-forwarded-uri").first ?? "/"
                return .init(status: 302, headers: [("Location", "https://login.example.test/?rd=\(back)"),
                                                    ("Set-Cookie", "sso_state=abc; Secure; HttpOnly"), ("Set-Cookie", "sso_lang=en")],
                             body: "")
            }
        }

        struct Setup {
            let env: ProxyEnvironment
            let web: HTTPUpstream
            let auth: ScriptedHTTPServer
            let proxy: BerthProxyProcess
        }

        /// shop: `/app` behind the auth server, `/down` behind one where nothing listens, `/slow`
        /// behind one that accepts and never answers (the proxy runs with --auth-timeout 1).
        static func setUp() throws -> Setup {
            let env = try ProxyEnvironment()
            let web = try env.http("web")
            let auth = try ScriptedHTTPServer(group: env.group, script: script)
            let silent = try env.raw(.blackhole)
            try env.apply([
                Manifest.domain("shop", hosts: [shopHost]),
                forwardPolicy("sso", url: auth.url + "/verify?app=shop"),
                forwardPolicy("sso-down", url: "http://127.0.0.1:\(try freeLoopbackPort())/verify"),
                forwardPolicy("sso-silent", url: silent.url + "/verify"),
                Manifest.route("app", domain: "shop", path: "/app", url: web.url, auth: "sso"),
                Manifest.route("down", domain: "shop", path: "/down", url: web.url, auth: "sso-down"),
                Manifest.route("slow", domain: "shop", path: "/slow", url: web.url, auth: "sso-silent"),
            ])
            return Setup(env: env, web: web, auth: auth, proxy: try env.proxy(["--auth-timeout", "1"]))
        }

        @Test func aPassingAnswerForwardsWithTheCopiedHeadersOnly() throws {
            let setup = try Self.setUp()
            defer { setup.auth.close(); setup.env.close() }
            let response = try httpRequest(port: setup.proxy.httpPort, "/app/orders?id=7", host: shopHost, headers: [
                ("Authorization", "Bearer allow"), ("Cookie", "session=s1"), ("Remote-User", "mallory"), ("remote-email", "m@evil.test"),
                ("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-Host", "evil.test"), ("X-Forwarded-Uri", "/public"),
                ("X-Forwarded-Method", "GET"), ("X-Forwarded-Proto", "https"),
            ])
            #expect(response.status == 200, "\(response)")
            let seen = try #require(response.echo)
            #expect(seen.header("remote-user") == ["alice"], "client copies are removed first: \(seen.headers)")
            #expect(seen.header("remote-email") == ["alice@example.test"])
            #expect(seen.header("x-not-copied").isEmpty)
            #expect(seen.header("content-length").isEmpty, "framing is never copied from the auth server")

            // What the auth server was told: the proxy's own view, never the client's X-Forwarded-*.
            let asked = try #require(setup.auth.requests.last)
            #expect(asked.method == "GET")
            #expect(asked.uri == "/verify?app=shop")
            #expect(asked.header("x-forwarded-method") == ["GET"])
            #expect(asked.header("x-forwarded-uri") == ["/app/orders?id=7"])
            #expect(asked.header("x-forwarded-host") == [shopHost])
            #expect(asked.header("x-forwarded-proto") == ["http"])
            #expect(asked.header("x-forwarded-for") == ["127.0.0.1"])
            #expect(asked.header("authorization") == ["Bearer allow"])
            #expect(asked.header("cookie") == ["session=s1"])
            #expect(asked.header("remote-user").isEmpty)

            // A body waits for the verdict and reaches the upstream whole; the method is the original one.
            // On a keep-alive connection after a first request, so the upstream connection that request
            // left idle is reused at once (the held body must follow the head on it).
            let body = Array(repeating: UInt8(ascii: "f"), count: 250_000)
            let socket = try TestSocket(port: setup.proxy.httpPort)
            defer { socket.close() }
            #expect(try socket.request("GET", "/app/first", host: shopHost, headers: [("Authorization", "Bearer allow")]).status == 200)
            let upload = try socket.request("PUT", "/app/upload", host: shopHost, headers: [("Authorization", "Bearer allow")], body: body)
            #expect(upload.status == 200, "\(upload)")
            #expect(upload.echo?.bodyLength == body.count)
            #expect(setup.auth.requests.last?.header("x-forwarded-method") == ["PUT"])
            // The auth server judges the path the upstream will serve, not the client's spelling of it.
            let dotted = try httpRequest(port: setup.proxy.httpPort, "/public/../%61pp/x?q=1", host: shopHost, headers: [("Authorization", "Bearer allow")])
            #expect(dotted.status == 200, "\(dotted)")
            #expect(setup.auth.requests.last?.header("x-forwarded-uri") == ["/app/x?q=1"])
            #expect(dotted.echo?.uri == "/app/x?q=1")

        }

        @Test func otherAnswersGoBackToTheClientAsTheyCame() throws {
            let setup = try Self.setUp()
            defer { setup.auth.close(); setup.env.close() }
            let redirect = try httpRequest(port: setup.proxy.httpPort, "/app/dashboard", host: shopHost)
            #expect(redirect.status == 302, "\(redirect)")
            #expect(redirect.header("location") == "https://login.example.test/?rd=/app/dashboard")
            #expect(redirect.headers(named: "set-cookie") == ["sso_state=abc; Secure; HttpOnly", "sso_lang=en"])

            let denied = try httpRequest(port: setup.proxy.httpPort, "/app/dashboard", host: shopHost, headers: [("Authorization", "Bearer deny")])
            #expect(denied.status == 401, "\(denied)")
            #expect(denied.header("www-authenticate") == "Bearer realm=\"sso\"")
            #expect(denied.header("content-type") == "text/html")
            #expect(denied.text == "<p>denied by sso</p>")

            // Keep-alive survives a relayed refusal: the next request on the connection is served.
            let socket = try TestSocket(port: setup.proxy.httpPort)
            defer { socket.close() }
            #expect(try socket.request("GET", "/app/a", host: shopHost, headers: [("Authorization", "Bearer deny")]).status == 401)
            #expect(try socket.request("GET", "/app/b", host: shopHost, headers: [("Authorization", "Bearer allow")]).status == 200)
            // A refused upload never reaches the upstream.
            let refused = try httpRequest(port: setup.proxy.httpPort, "/app/upload", method: "POST", host: shopHost,
                                          body: Array(repeating: 0x41, count: 100_000))
            #expect(refused.status == 302)
            #expect(setup.web.stats.requests.allSatisfy { $0 == "GET /app/b" }, "\(setup.web.stats.requests)")
        }

        /// Subrequests reuse their connections to the auth server (per event loop), and a kept
        /// connection the server closes without answering costs one new connection, not the request.
        @Test func subrequestsKeepTheirConnections() throws {
            let env = try ProxyEnvironment()
            let web = try env.http("web")
            let auth = try ScriptedHTTPServer(group: env.group, script: Self.script)
            let closing = try ScriptedHTTPServer(group: env.group, oneRequestPerConnection: true, script: Self.script)
            defer { auth.close(); closing.close(); env.close() }
            try env.apply([
                Manifest.domain("shop", hosts: [shopHost]),
                Self.forwardPolicy("sso", url: auth.url + "/verify"),
                Self.forwardPolicy("sso-closing", url: closing.url + "/verify"),
                Manifest.route("app", domain: "shop", path: "/app", url: web.url, auth: "sso"),
                Manifest.route("closing", domain: "shop", path: "/closing", url: web.url, auth: "sso-closing"),
            ])
            let proxy = try env.proxy(["--threads", "2"])

            // 20 clients, one connection each, spread over the proxy's two event loops.
            for index in 0..<20 {
                let response = try httpRequest(port: proxy.httpPort, "/app/\(index)", host: shopHost, headers: [("Authorization", "Bearer allow")])
                #expect(response.status == 200, "\(response)")
                #expect(response.echo?.header("remote-user") == ["alice"])
            }
            #expect(auth.requests.count == 20)
            #expect(auth.connections <= 2, "one kept connection per event loop, not one per subrequest: \(auth.connections)")

            // The server answers once per connection and drops it when a second request comes: each
            // request after the first goes out on the kept connection, meets the close, and is sent
            // again on a new one; every one is answered.
            let socket = try TestSocket(port: proxy.httpPort)
            defer { socket.close() }
            for index in 0..<6 {
                let response = try socket.request("GET", "/closing/\(index)", host: shopHost, headers: [("Authorization", "Bearer allow")])
                #expect(response.status == 200, "\(response)")
            }
            #expect(closing.requests.count == 6)
            #expect(closing.droppedRequests == 5, "each later request was first tried on the kept connection")
            #expect(closing.connections == 6)
            #expect(web.stats.requestCount == 26)
        }

        @Test func anAuthServerThatCannotAnswerFailsClosed() throws {
            let setup = try Self.setUp()
            defer { setup.auth.close(); setup.env.close() }
            let down = try httpRequest(port: setup.proxy.httpPort, "/down", host: shopHost, headers: [("Authorization", "Bearer allow")])
            #expect(down.status == 503, "\(down)")
            #expect(down.text == "authentication is unavailable\n")
            let started = Date()
            let slow = try httpRequest(port: setup.proxy.httpPort, "/slow", host: shopHost, headers: [("Authorization", "Bearer allow")])
            #expect(slow.status == 503, "\(slow)")
            #expect(Date().timeIntervalSince(started) < 4, "--auth-timeout 1 bounds the wait")
            #expect(setup.web.stats.requestCount == 0)
        }
    }
}

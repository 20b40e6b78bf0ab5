import Foundation
import Testing
import TestSupport

/// End-to-end tests of `berth-proxy`: a private redis-server, `berth apply` publishing the route
/// table, the real `berth-proxy` executable, and upstream servers written with SwiftNIO in this
/// process, all on 127.0.0.1 with real sockets. Serialized: every test starts processes, and
/// some measure time or memory.
@Suite(.serialized) struct ProxyEndToEndTests {}

let shopHost = "shop.example.test"
let blogHost = "blog.example.test"

extension ProxyEndToEndTests {
    @Suite struct Routing {
        @Test func routesByHostAndPathPrefixOnSegmentBoundaries() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web"), api = try env.http("api"), blog = try env.http("blog")
            try env.apply([
                Manifest.domain("shop", hosts: [shopHost]), Manifest.domain("blog", hosts: [blogHost]),
                Manifest.route("web", domain: "shop", url: web.url),
                Manifest.route("api", domain: "shop", path: "/api", url: api.url),
                Manifest.route("blog-api", domain: "blog", path: "/api", url: blog.url),
            ])
            let proxy = try env.proxy()

            func served(_ host: String, _ target: String) throws -> String {
                let response = try httpRequest(port: proxy.httpPort, target, host: host)
                return response.status == 200 ? (response.echo?.server ?? "no echo") : "\(response.status)"
            }
            let cases: [(host: String, target: String, expected: String)] = [
                (shopHost, "/", "web"),
                (shopHost, "/api", "api"),
                (shopHost, "/api/", "api"),
                (shopHost, "/api/orders?id=1", "api"),
                (shopHost, "/apix", "web"),                  // a prefix matches on segment boundaries only
                (shopHost, "/api-v2/x", "web"),
                (shopHost, "/%61pi/x", "api"),               // percent-decoded unreserved characters
                (shopHost, "/web/../api/y", "api"),          // dot segments removed before matching
                ("SHOP.Example.TEST:8080", "/api", "api"),   // host: case-insensitive, port ignored
                ("shop.example.test.", "/api", "api"),       // trailing dot ignored
                (blogHost, "/api/post", "blog"),
                (blogHost, "/apix", "404"),                  // no route on that host
                (blogHost, "/", "404"),
                ("unknown.example.test", "/api", "404"),     // unknown host
            ]
            for item in cases {
                #expect(try served(item.host, item.target) == item.expected, "\(item.host) \(item.target)")
            }

            let query = try httpRequest(port: proxy.httpPort, "/api/orders?id=1&sort=asc", host: shopHost)
            #expect(query.echo?.uri == "/api/orders?id=1&sort=asc", "the path and query reach the upstream as sent")
            let unknown = try httpRequest(port: proxy.httpPort, "/", host: "unknown.example.test")
            #expect(unknown.status == 404 && !unknown.text.isEmpty && unknown.text.count < 100, "a short body: \(unknown)")
            #expect(web.stats.requestCount == 3 && api.stats.requestCount == 8 && blog.stats.requestCount == 1,
                    "web \(web.stats.requests), api \(api.stats.requests), blog \(blog.stats.requests)")
        }

        @Test func answers503UntilATableIsPublishedThenServesIt() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web")
            let proxy = try env.proxy(waitReady: false)

            let early = try httpRequest(port: proxy.httpPort, "/", host: shopHost)
            #expect(early.status == 503, "\(early)")
            #expect(!early.text.isEmpty && early.text.count < 200)
            #expect(try proxy.admin("/readyz").status == 503)
            #expect(try proxy.admin("/healthz").status == 200)

            try env.apply([Manifest.domain("shop", hosts: [shopHost]), Manifest.route("web", domain: "shop", url: web.url)])
            try proxy.waitUntilReady(timeout: 5)
            let later = try httpRequest(port: proxy.httpPort, "/", host: shopHost)
            #expect(later.status == 200 && later.echo?.server == "web", "\(later)")
        }

        @Test func stripPrefixAndUrlBasePath() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web"), api = try env.http("api")
            try env.apply([
                Manifest.domain("shop", hosts: [shopHost]),
                Manifest.route("web", domain: "shop", url: web.url),
                Manifest.route("strip", domain: "shop", path: "/strip", url: api.url + "/base", stripPrefix: true),
                Manifest.route("keep", domain: "shop", path: "/keep", url: api.url + "/base"),
                Manifest.route("plain-strip", domain: "shop", path: "/v1", url: api.url, stripPrefix: true),
            ])
            let proxy = try env.proxy()
            func upstreamURI(_ target: String) throws -> String? { try httpRequest(port: proxy.httpPort, target, host: shopHost).echo?.uri }

            #expect(try upstreamURI("/strip/x/y?q=1") == "/base/x/y?q=1")
            #expect(try upstreamURI("/strip/") == "/base/")
            #expect(["/base", "/base/"].contains(try upstreamURI("/strip") ?? "nil"))
            #expect(try upstreamURI("/keep/y") == "/base/keep/y")
            #expect(try upstreamURI("/v1/users/7") == "/users/7")
            #expect(try upstreamURI("/v1") == "/")
            #expect(try upstreamURI("/stripx") == "/stripx", "not on a segment boundary: the root route, unstripped")
        }
    }

    @Suite struct Guards {
        @Test func guardedRoutesFailClosedMethodsFilterAndAcmeChallengesAnswerFromRedis() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web"), admin = try env.http("admin"), writer = try env.http("writer")
            try env.apply([
                Manifest.domain("shop", hosts: [shopHost]), Manifest.bearerPolicy("admins"),
                Manifest.route("web", domain: "shop", url: web.url),
                Manifest.route("admin", domain: "shop", path: "/admin", url: admin.url, auth: "admins"),
                Manifest.route("writes", domain: "shop", path: "/items", url: writer.url, methods: ["POST"]),
            ])
            let proxy = try env.proxy()

            for token in ["", "Bearer wrong", "Basic Zm9vOmJhcg=="] {
                let headers = token.isEmpty ? [] : [("Authorization", token)]
                let guarded = try httpRequest(port: proxy.httpPort, "/admin/users", host: shopHost, headers: headers)
                #expect(guarded.status == 401, "\(token): \(guarded)")
            }
            #expect(admin.stats.requestCount == 0, "a guarded route is never served unguarded")
            // The policy's token (its SHA-256 is in the policy) passes, and its name is the identity.
            let allowed = try httpRequest(port: proxy.httpPort, "/admin/users", host: shopHost, headers: [("Authorization", "Bearer foo")])
            #expect(allowed.status == 200, "\(allowed)")
            #expect(allowed.echo?.headers.first { $0.0.lowercased() == "x-auth-user" }?.1 == "ci")
            #expect(admin.stats.requestCount == 1)

            let post = try httpRequest(port: proxy.httpPort, "/items", method: "POST", host: shopHost, body: Array("{}".utf8))
            #expect(post.echo?.server == "writer", "\(post)")
            let get = try httpRequest(port: proxy.httpPort, "/items", host: shopHost)
            #expect(get.echo?.server == "web", "a GET skips the POST-only route: \(get)")

            let redis = try env.redisConnection()
            _ = try redis.send(["SET", "berth:acme:challenge:tok_en-123", "tok_en-123.thumbprint"])
            for host in [shopHost, "unknown.example.test"] {
                let challenge = try httpRequest(port: proxy.httpPort, "/.well-known/acme-challenge/tok_en-123", host: host)
                #expect(challenge.status == 200 && challenge.text == "tok_en-123.thumbprint", "\(host): \(challenge)")
            }
            #expect(try httpRequest(port: proxy.httpPort, "/.well-known/acme-challenge/missing", host: shopHost).status == 404)
            #expect(web.stats.requests.allSatisfy { !$0.contains("acme-challenge") })
        }
    }

    @Suite struct Headers {
        @Test func identityHeadersAreRewrittenAndHostKept() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let (web, proxy) = try env.shop(upstream: "web", route: "web")

            let spoofed = try httpRequest(port: proxy.httpPort, "/whoami", host: shopHost, headers: [
                ("X-Forwarded-For", "6.6.6.6"), ("X-Real-IP", "6.6.6.6"), ("X-Auth-User", "admin"), ("X-Auth-Roles", "root"),
                ("X-Forwarded-Host", "evil.example"), ("X-Forwarded-Proto", "https"), ("Forwarded", "for=6.6.6.6"),
                ("Connection", "X-Hop"), ("X-Hop", "dropped"), ("Keep-Alive", "timeout=5"), ("X-Custom", "kept"),
            ])
            let echo = try #require(spoofed.echo, "\(spoofed)")
            #expect(echo.header("x-forwarded-for") == ["127.0.0.1"])
            #expect(echo.header("x-real-ip") == ["127.0.0.1"])
            #expect(echo.header("x-auth-user").isEmpty && echo.header("x-auth-roles").isEmpty)
            #expect(echo.header("forwarded").isEmpty)
            #expect(echo.header("x-forwarded-host") == [shopHost])
            #expect(echo.header("x-forwarded-proto") == ["http"])
            #expect(echo.header("host") == [shopHost])
            #expect(echo.header("x-hop").isEmpty && echo.header("keep-alive").isEmpty, "hop-by-hop headers are dropped")
            #expect(echo.header("x-custom") == ["kept"])
            let generated = echo.header("x-request-id")
            #expect(generated.count == 1 && !(generated.first ?? "").isEmpty)

            let second = try #require(try httpRequest(port: proxy.httpPort, "/", host: shopHost).echo)
            #expect(second.header("x-request-id").count == 1 && second.header("x-request-id") != generated, "ids are unique")
            let given = try #require(try httpRequest(port: proxy.httpPort, "/", host: shopHost, headers: [("X-Request-Id", "trace-42")]).echo)
            #expect(given.header("x-request-id") == ["trace-42"], "a client's request id is passed on")
            let port = try #require(try httpRequest(port: proxy.httpPort, "/", host: "\(shopHost):8080").echo)
            #expect(port.header("host") == ["\(shopHost):8080"], "Host is kept as the client sent it")
        }
    }

    @Suite struct UpstreamFailures {
        @Test func refusedIs502AndTimeoutIs504AndTheConnectionSurvives() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web")
            let hole = try env.raw(.blackhole)
            let closedPort = try freeLoopbackPort()
            try env.apply([
                Manifest.domain("shop", hosts: [shopHost]),
                Manifest.route("web", domain: "shop", url: web.url),
                Manifest.route("refused", domain: "shop", path: "/refused", url: "http://127.0.0.1:\(closedPort)"),
                Manifest.route("silent", domain: "shop", path: "/silent", url: hole.url),
            ])
            let proxy = try env.proxy(["--upstream-timeout", "1"])
            let client = try TestSocket(port: proxy.httpPort)

            let refused = try client.request("GET", "/refused/x", host: shopHost)
            #expect(refused.status == 502, "\(refused)")

            let start = Date()
            let timeout = try client.request("GET", "/silent", host: shopHost, timeout: 10)
            let elapsed = Date().timeIntervalSince(start)
            #expect(timeout.status == 504, "\(timeout)")
            #expect(elapsed >= 0.8 && elapsed < 5, "504 after \(elapsed) s with --upstream-timeout 1")
            #expect(hole.stats.requestCount == 1, "the request reached the silent upstream")
            #expect(eventually { hole.stats.openConnections == 0 }, "the timed-out upstream connection is closed")

            let after = try client.request("GET", "/", host: shopHost)
            #expect(after.status == 200 && after.echo?.server == "web", "the client connection still serves: \(after)")

            let metrics = try proxy.metrics()
            #expect(metrics.contains("berth_proxy_upstream_errors_total{kind=\"connect_refused\"} 1"), "\(metrics)")
            #expect(metrics.contains("berth_proxy_upstream_errors_total{kind=\"first_byte_timeout\"} 1"), "\(metrics)")
        }

        /// An upstream that drops a pooled connection as the proxy reuses it, before answering:
        /// the request goes again, whole and unchanged, on a fresh connection (each request head
        /// is kept until its answer begins, while the connection's buffers are reused).
        @Test func aRequestOnADroppedPooledConnectionIsSentAgainOnAFreshOne() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let flaky = try env.raw(.onePerConnection)
            try env.apply([Manifest.domain("shop", hosts: [shopHost]), Manifest.route("flaky", domain: "shop", url: flaky.url)])
            let proxy = try env.proxy()
            let client = try TestSocket(port: proxy.httpPort)
            for index in 0..<5 {
                let response = try client.request("GET", "/again/\(index)?n=\(index)", host: shopHost)
                #expect(response.status == 200 && String(decoding: response.body, as: UTF8.self) == "GET /again/\(index)?n=\(index) HTTP/1.1",
                        "request \(index): \(response)")
            }
            // Every request after the first found the pooled connection dropped and went again.
            #expect(flaky.stats.requestCount == 9, "\(flaky.stats.requests)")
            #expect(flaky.stats.connectionsAccepted == 5)
        }

        @Test func aClientThatGoesAwayCancelsTheUpstreamRequest() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let (slow, proxy) = try env.shop(upstream: "slow", route: "slow")

            let client = try TestSocket(port: proxy.httpPort)
            try client.sendRequest("GET", "/delay?ms=5000", host: shopHost)
            #expect(eventually { slow.stats.requestCount == 1 })
            client.close()
            #expect(eventually(timeout: 3) { slow.stats.abandonedRequests == 1 && slow.stats.openConnections == 0 },
                    "the upstream connection closes when the client goes away (abandoned \(slow.stats.abandonedRequests))")
        }
    }

    @Suite struct KeepAlive {
        @Test func manyRequestsShareOneClientConnectionAndPooledUpstreamConnections() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let (web, proxy) = try env.shop(upstream: "web", route: "web")

            let client = try TestSocket(port: proxy.httpPort)
            for index in 0..<50 {
                let response = try client.request("GET", "/n/\(index)", host: shopHost)
                #expect(response.status == 200 && response.echo?.uri == "/n/\(index)", "request \(index): \(response)")
                #expect(response.header("connection")?.lowercased() != "close")
            }
            let head = try client.request("HEAD", "/head", host: shopHost)
            #expect(head.status == 200 && head.body.isEmpty && head.header("content-length") != nil, "\(head)")
            let post = try client.request("POST", "/post", host: shopHost, body: Array("hello".utf8))
            #expect(post.echo?.method == "POST" && post.echo?.bodyLength == 5, "\(post)")

            let last = try client.request("GET", "/last", host: shopHost, headers: [("Connection", "close")])
            #expect(last.status == 200 && last.header("connection")?.lowercased() == "close")
            try client.waitForClose(timeout: 3)

            #expect(web.stats.requestCount == 53)
            #expect(web.stats.connectionsAccepted == 1, "one upstream connection, reused: \(web.stats.requestConnections)")
            #expect(try proxy.metrics().contains("berth_proxy_accepted_connections_total 1"))
        }

        /// Requests sent back to back in one write are answered in order, each on a pooled
        /// upstream connection, and each counted.
        @Test func pipelinedRequestsAreAnsweredInOrderCountedAndReuseTheUpstream() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let (web, proxy) = try env.shop(upstream: "web", route: "web")

            let client = try TestSocket(port: proxy.httpPort)
            #expect(try client.request("GET", "/warm", host: shopHost).status == 200)
            try client.send((0..<3).map { "GET /pipelined/\($0) HTTP/1.1\r\nHost: \(shopHost)\r\n\r\n" }.joined())
            for index in 0..<3 {
                let response = try client.readResponse()
                #expect(response.echo?.uri == "/pipelined/\(index)", "\(response)")
            }
            #expect(try client.request("GET", "/after", host: shopHost).status == 200)
            client.close()

            #expect(web.stats.requestCount == 5)
            #expect(eventually(timeout: 2) { (try? proxy.metrics())?.contains("berth_proxy_requests_total{route=\"web\",status=\"200\"} 5") == true },
                    "every pipelined request is counted: \(((try? proxy.metrics()) ?? "").split(separator: "\n").filter { $0.hasPrefix("berth_proxy_requests_total") })")
            #expect(web.stats.connectionsAccepted == 1,
                    "pipelined requests reuse the pooled upstream connection; per request: \(zip(web.stats.requests, web.stats.requestConnections).map { "\($0) on #\($1)" })")
        }
    }
}

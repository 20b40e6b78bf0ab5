import Foundation
import RedisClient
import Spec
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

extension ProxyEndToEndTests {
    @Suite struct Operations {
        static func base(_ web: HTTPUpstream) -> [String] {
            [Manifest.domain("shop", hosts: [shopHost]), Manifest.route("web", domain: "shop", url: web.url)]
        }

        static func withNew(_ web: HTTPUpstream, _ next: HTTPUpstream) -> [String] {
            base(web) + [Manifest.route("new", domain: "shop", path: "/new", url: next.url)]
        }

        /// Requests to the root route, on fresh connections and on one keep-alive connection.
        static func load(_ proxy: BerthProxyProcess) -> (fresh: LoadLoop, kept: LoadLoop) {
            let port = proxy.httpPort
            let fresh = LoadLoop {
                do {
                    let response = try httpRequest(port: port, "/", host: shopHost, timeout: 5)
                    return response.status == 200 && response.echo?.server == "web" ? nil : "fresh: \(response.status) \(response.text)"
                } catch { return "fresh: \(error)" }
            }
            let client = KeepAliveClient(port: port)
            let kept = LoadLoop {
                do {
                    let response = try client.request("/", host: shopHost)
                    return response.status == 200 && response.echo?.server == "web" ? nil : "kept: \(response.status) \(response.text)"
                } catch { return "kept: \(error)" }
            }
            return (fresh, kept)
        }

        static func served(_ proxy: BerthProxyProcess, _ target: String) -> String? {
            guard let response = try? httpRequest(port: proxy.httpPort, target, host: shopHost, timeout: 5), response.status == 200 else { return nil }
            return response.echo?.server
        }

        @Test func aNewRevisionIsServedWithinTwoSecondsWithoutFailingARequest() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web"), next = try env.http("next")
            try env.apply(Self.base(web))
            let proxy = try env.proxy()
            #expect(Self.served(proxy, "/new") == "web")

            let (fresh, kept) = Self.load(proxy)
            defer { fresh.stop(); kept.stop() }
            #expect(eventually { fresh.successCount > 20 && kept.successCount > 20 })
            try env.apply(Self.withNew(web, next))
            let applied = Date()
            let swapped = eventually(timeout: 3) { Self.served(proxy, "/new") == "next" }
            let delay = Date().timeIntervalSince(applied)
            #expect(swapped && delay < 2, "the new route was served \(delay) s after apply")
            let (freshBefore, keptBefore) = (fresh.successCount, kept.successCount)
            #expect(eventually { fresh.successCount > freshBefore + 20 && kept.successCount > keptBefore + 20 })
            fresh.stop()
            kept.stop()
            #expect(fresh.failureList.isEmpty && kept.failureList.isEmpty,
                    "failed requests during the reload: \(fresh.failureList.prefix(5)) \(kept.failureList.prefix(5))")
            #expect(try proxy.metrics().contains("berth_proxy_route_table_generation 2"))
        }

        /// A connection remembers its host's entry and each loop its routes' upstreams, per table:
        /// after a swap, the next request on the same keep-alive connection routes by the new table.
        @Test func aKeepAliveConnectionRoutesByTheNewTableAfterASwap() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web"), next = try env.http("next")
            try env.apply(Self.base(web))
            let proxy = try env.proxy()
            let client = KeepAliveClient(port: proxy.httpPort)
            #expect(try client.request("/new", host: shopHost).echo?.server == "web")
            #expect(try client.request("/", host: shopHost).echo?.server == "web")
            try env.apply(Self.withNew(web, next))
            #expect(eventually(timeout: 3) { (try? client.request("/new", host: shopHost).echo?.server) == "next" },
                    "the kept connection still routes /new by the old table")
            #expect(try client.request("/", host: shopHost).echo?.server == "web")
            #expect(try client.request("/new", host: shopHost).echo?.server == "next")
        }

        @Test func aTableThatDoesNotCompileIsRejectedWholeAndReported() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web"), next = try env.http("next")
            try env.apply(Self.base(web))
            let proxy = try env.proxy(replicaID: "regex-replica")
            let redis = try env.redisConnection()
            let generation = try #require(Int(try redis.send(["GET", "berth:routetable:generation"]).string ?? ""))

            // Published by hand: a valid document (content hash and all) with a regex that does not compile.
            let broken = RouteTableDocument(revision: "broken-regex", generation: generation + 1, hosts: [
                .init(host: shopHost, domain: "shop", tls: .none, redirectHTTP: false, certificate: nil, routes: [
                    .init(route: "broken", path: "^/(unclosed", pathType: .regex, methods: [], priority: 0, stripPrefix: false,
                          auth: nil, upstream: .url(next.url)),
                    .init(route: "web", path: "/", pathType: .prefix, methods: [], priority: 0, stripPrefix: false,
                          auth: nil, upstream: .url(next.url)),
                ]),
            ], authPolicies: [:])
            let announcement = "{\"generation\":\(generation + 1),\"hash\":\"\(broken.contentHash)\",\"revision\":\"broken-regex\",\"type\":\"routetable\"}"
            _ = try redis.pipeline([
                ["SET", "berth:routetable", broken.json.canonicalString],
                ["SET", "berth:routetable:generation", String(generation + 1)],
                ["SET", "berth:routetable:hash", broken.contentHash],
                ["PUBLISH", "berth:events", announcement],
            ])

            #expect(eventually(timeout: 5) { (try? proxy.metrics())?.contains("berth_proxy_route_tables_rejected_total 1") == true },
                    "\((try? proxy.metrics()) ?? "")")
            #expect(Self.served(proxy, "/") == "web", "the last good table keeps serving")
            #expect(Self.served(proxy, "/unclosed") == "web")
            #expect(try proxy.metrics().contains("berth_proxy_route_table_generation \(generation)"))
            #expect(try proxy.admin("/readyz").status == 200)

            var heartbeat: [String: String] = [:]
            let reported = eventually(timeout: 8) {
                let fields = (try? redis.send(["HGETALL", "berth:proxy:regex-replica"]).array?.compactMap(\.string)) ?? []
                heartbeat = Dictionary(stride(from: 0, to: fields.count - 1, by: 2).map { (fields[$0], fields[$0 + 1]) }) { a, _ in a }
                return heartbeat["last_error"]?.contains("rejected") == true
            }
            #expect(reported, "heartbeat: \(heartbeat)")
            #expect(heartbeat["last_error"]?.contains("regex") == true, "\(heartbeat)")
            #expect(heartbeat["generation"] == String(generation), "\(heartbeat)")
            #expect(try redis.send(["PTTL", "berth:proxy:regex-replica"]).integer.map { $0 > 0 } == true, "the heartbeat has a TTL")

            // The next good table is taken again.
            try env.apply(Self.withNew(web, next))
            #expect(eventually(timeout: 3) { Self.served(proxy, "/new") == "next" })
        }

        @Test func keepsServingWhileRedisIsDownAndFollowsItWhenItIsBack() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web"), next = try env.http("next")
            try env.apply(Self.base(web))
            let proxy = try env.proxy()

            let (fresh, kept) = Self.load(proxy)
            defer { fresh.stop(); kept.stop() }
            #expect(eventually { fresh.successCount > 20 && kept.successCount > 20 })
            env.redis.kill()
            let killed = Date()
            let (freshAtKill, keptAtKill) = (fresh.successCount, kept.successCount)
            #expect(eventually(timeout: 5) {
                Date().timeIntervalSince(killed) > 1.5 && fresh.successCount > freshAtKill + 50 && kept.successCount > keptAtKill + 50
            }, "requests go on while Redis is down")
            #expect(try proxy.admin("/readyz").status == 200, "still ready: the last good table is served")
            let dropped = (try proxy.metrics()).split(separator: "\n").first { $0.hasPrefix("berth_proxy_access_log_dropped_total ") }
            #expect(dropped.flatMap { Int($0.split(separator: " ").last ?? "") }.map { $0 > 0 } == true,
                    "access-log entries that cannot be shipped are dropped and counted: \(dropped ?? "no metric")")

            // Redis comes back empty (nothing persisted): a fresh apply publishes generation 1 again.
            try env.redis.restart()
            try env.apply(Self.withNew(web, next))
            let picked = eventually(timeout: 10) { Self.served(proxy, "/new") == "next" }
            let servedGeneration = (try? proxy.metrics())?.split(separator: "\n").first { $0.hasPrefix("berth_proxy_route_table_generation ") } ?? "?"
            let publishedGeneration = (try? env.redisConnection().send(["GET", "berth:routetable:generation"]).string) ?? "?"
            #expect(picked, """
                the table applied after Redis came back is not served: the replica reports \(servedGeneration), \
                Redis holds generation \(publishedGeneration ?? "nil") (a different table under the same generation number)
                """)
            fresh.stop()
            kept.stop()
            #expect(fresh.failureList.isEmpty && kept.failureList.isEmpty,
                    "failed requests: \(fresh.failureList.prefix(5)) \(kept.failureList.prefix(5))")
        }

        @Test func accessLogEntriesReachTheStreamWithoutSecrets() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web")
            try env.apply(Self.base(web))
            let proxy = try env.proxy(replicaID: "log-replica")

            let ok = try httpRequest(port: proxy.httpPort, "/search?q=secret-token&page=2", host: shopHost,
                                     headers: [("Authorization", "Bearer hunter2"), ("Cookie", "session=cookie-secret")])
            #expect(ok.status == 200)
            #expect(try httpRequest(port: proxy.httpPort, "/", host: "unknown.example.test").status == 404)
            // An upstream that takes 300 ms: the entry's duration spans it (the proxy reads the
            // clock once per event and shares the reading, so a stale one would show here).
            #expect(try httpRequest(port: proxy.httpPort, "/delay?ms=300", host: shopHost).status == 200)

            let redis = try env.redisConnection()
            var entries: [[String: String]] = []
            let arrived = eventually(timeout: 5) {
                let reply = (try? redis.send(["XRANGE", "berth:log:requests", "-", "+"]).array) ?? []
                entries = AccessLogTests.entries(reply)
                return entries.count >= 3
            }
            #expect(arrived, "entries: \(entries)")
            let search = try #require(entries.first { $0["path"]?.hasPrefix("/search") == true }, "\(entries)")
            #expect(search["path"] == "/search?q&page")
            #expect(search["route"] == "web")
            #expect(search["status"] == "200")
            #expect(search["method"] == "GET" && search["host"] == shopHost && search["client"] == "127.0.0.1")
            #expect(search["replica"] == "log-replica")
            #expect(search["upstream"] == "127.0.0.1:\(web.port)")
            #expect(search["revision"].map { !$0.isEmpty && $0 != "-" } == true, "\(search)")
            #expect(search["request_id"] != nil && search["request_id"] == ok.echo?.header("x-request-id").first,
                    "the logged request id is the one sent upstream: \(search)")
            let unknown = try #require(entries.first { $0["host"] == "unknown.example.test" }, "\(entries)")
            #expect(unknown["status"] == "404")
            let delayed = try #require(entries.first { $0["path"] == "/delay?ms" }, "\(entries)")
            let delayedMicroseconds = try #require(delayed["duration_us"].flatMap { Int($0) }, "\(delayed)")
            #expect(delayedMicroseconds >= 300_000 && delayedMicroseconds < 10_000_000, "\(delayed)")
            let searchMicroseconds = try #require(search["duration_us"].flatMap { Int($0) }, "\(search)")
            #expect(searchMicroseconds > 0 && searchMicroseconds < delayedMicroseconds, "\(search)")
            let everything = entries.flatMap { $0.values }.joined(separator: " ")
            for secret in ["secret-token", "hunter2", "cookie-secret", "Bearer"] {
                #expect(!everything.contains(secret), "\(secret) leaked into the access log")
            }
        }

        /// `--access-log-max-entries` reaches every XADD: Redis trims the stream in whole nodes
        /// (100 entries by default), so it holds about the cap, not everything logged.
        @Test func theAccessLogStreamKeepsAboutAsManyEntriesAsItIsTold() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web")
            try env.apply(Self.base(web))
            let proxy = try env.proxy(["--access-log-max-entries", "20"])
            var lastID: String?
            for _ in 0..<250 {
                let response = try httpRequest(port: proxy.httpPort, "/", host: shopHost)
                #expect(response.status == 200)
                lastID = response.echo?.header("x-request-id").first
            }
            let redis = try env.redisConnection()
            // Every entry has been shipped once the last request's is in the stream.
            let shipped = eventually(timeout: 5) {
                let reply = (try? redis.send(["XREVRANGE", "berth:log:requests", "+", "-", "COUNT", "1"]).array) ?? []
                return lastID != nil && AccessLogTests.entries(reply).first?["request_id"] == lastID
            }
            #expect(shipped, "the last request's entry never reached the stream")
            let length = try #require(try redis.send(["XLEN", "berth:log:requests"]).integer)
            #expect(length >= 20 && length <= 120, "250 entries logged with a cap of 20 left \(length) in the stream")

            let refusal = #expect(throws: (any Error).self) { try env.proxy(["--access-log-max-entries", "0"]) }
            #expect(refusal.map { "\($0)".contains("--access-log-max-entries must be at least 1") } == true, "\(String(describing: refusal))")
        }

        @Test func metricsCountRequestsByRouteAndStatus() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let web = try env.http("web")
            try env.apply(Self.base(web))
            let proxy = try env.proxy()

            for index in 0..<5 { #expect(try httpRequest(port: proxy.httpPort, "/m/\(index)", host: shopHost).status == 200) }
            for _ in 0..<2 { #expect(try httpRequest(port: proxy.httpPort, "/", host: "unknown.example.test").status == 404) }
            var metrics = ""
            let counted = eventually(timeout: 3) {
                metrics = (try? proxy.metrics()) ?? ""
                return metrics.contains("berth_proxy_requests_total{route=\"web\",status=\"200\"} 5")
                    && metrics.contains("berth_proxy_requests_total{route=\"-\",status=\"404\"} 2")
            }
            #expect(counted, "\(metrics)")
            #expect(metrics.contains("berth_proxy_request_duration_seconds_count 7"), "\(metrics)")
            #expect(metrics.contains("berth_proxy_route_table_generation 1"))
            #expect(metrics.contains("berth_proxy_accepted_connections_total 7"), "\(metrics)")
            #expect(try proxy.admin("/metrics").header("content-type")?.hasPrefix("text/plain") == true)
        }

        @Test func sigtermLetsTheRequestInFlightFinishAndExitsZero() throws {
            let env = try ProxyEnvironment()
            defer { env.close() }
            let (slow, proxy) = try env.shop(upstream: "slow", route: "slow")

            let client = try TestSocket(port: proxy.httpPort)
            try client.sendRequest("GET", "/delay?ms=1500", host: shopHost)
            #expect(eventually { slow.stats.requestCount == 1 }, "the request is in flight at the upstream")
            let signalled = Date()
            Glibc.kill(proxy.pid, SIGTERM)
            #expect(eventually(timeout: 3) { (try? TestSocket(port: proxy.httpPort)) == nil }, "new connections are refused once draining")

            let response = try client.readResponse(timeout: 10)
            #expect(response.status == 200 && response.echo?.uri == "/delay?ms=1500", "\(response)")
            #expect(Date().timeIntervalSince(signalled) < 5)
            let status = proxy.terminate(timeout: 10)
            #expect(status == 0, "berth-proxy exit status \(status.map(String.init) ?? "none: it had to be killed")\n\(proxy.output)")
            #expect(slow.stats.abandonedRequests == 0)
        }
    }
}

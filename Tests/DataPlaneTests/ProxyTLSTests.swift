import Foundation
import RedisClient
import Spec
import Testing
import TestSupport

/// HTTPS listeners: certificates from Redis chosen by SNI, redirects, HSTS, hot swaps. The TLS
/// clients are curl and openssl; the certificates are made with openssl (a CA and leaves it signs).
extension ProxyEndToEndTests {
    @Suite(.serialized) struct TLS {
        /// A CA and leaf certificates signed by it, made with the openssl command-line tool.
        final class PKI {
            let directory: TemporaryDirectory
            var caPath: String { directory.appending("ca.pem").path }

            init() throws {
                directory = try TemporaryDirectory(prefix: "berth-pki")
                try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                             "-subj", "/CN=Berth Test CA", "-keyout", directory.appending("ca.key").path, "-out", caPath])
            }

            /// A leaf for `hosts`, signed by the CA: (chain PEM leaf first, key PEM, SHA-256 fingerprint of the leaf).
            func leaf(_ name: String, hosts: [String]) throws -> (chain: String, key: String, fingerprint: String) {
                let key = directory.appending("\(name).key").path, csr = directory.appending("\(name).csr").path
                let cert = directory.appending("\(name).pem").path, ext = directory.appending("\(name).ext").path
                try "subjectAltName=\(hosts.map { "DNS:\($0)" }.joined(separator: ","))\n".write(toFile: ext, atomically: true, encoding: .utf8)
                try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=\(hosts[0])",
                             "-keyout", key, "-out", csr])
                try openssl(["x509", "-req", "-in", csr, "-CA", caPath, "-CAkey", directory.appending("ca.key").path, "-CAcreateserial",
                             "-days", "1", "-extfile", ext, "-out", cert])
                let fingerprint = try runProcess("openssl", ["x509", "-in", cert, "-noout", "-fingerprint", "-sha256"]).stdout
                    .split(separator: "=").last!.replacingOccurrences(of: ":", with: "").trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
                let chain = try String(contentsOfFile: cert, encoding: .utf8) + String(contentsOfFile: caPath, encoding: .utf8)
                return (chain, try String(contentsOfFile: key, encoding: .utf8), fingerprint)
            }

            private func openssl(_ arguments: [String]) throws {
                let result = try runProcess("openssl", arguments)
                guard result.succeeded else { throw TestSupportError("openssl \(arguments.joined(separator: " ")) failed: \(result)") }
            }
        }

        static let hosts = [shopHost, "www." + shopHost]

        /// What every HTTPS test sets up: Redis, an upstream, a CA, and a replica with an HTTPS listener.
        final class Stage {
            let env: ProxyEnvironment
            let pki: PKI
            let web: HTTPUpstream
            let redis: RedisConnection
            private(set) var proxy: BerthProxyProcess!
            private(set) var port = 0

            init() throws {
                env = try ProxyEnvironment()
                pki = try PKI()
                web = try env.http("web")
                redis = try env.redisConnection()
            }

            func close() { env.close() }

            /// Stores `leaf` (when given) and publishes a table naming it, as the controller would.
            func serve(_ leaf: (chain: String, key: String, fingerprint: String)?, hsts: String? = nil, revision: String) throws {
                if let leaf { try TLS.store(redis, leaf) }
                _ = try TLS.publish(redis, upstream: web.url, certificates: leaf.map { ["shop": $0.fingerprint] } ?? [:], hsts: hsts, revision: revision)
            }

            func startProxy(_ extra: [String] = []) throws {
                proxy = try env.proxy(["--https", "127.0.0.1:0"] + extra)
                port = try TLS.httpsPort(proxy)
            }
        }


        /// Publishes by hand a table serving `hosts` over TLS with `certificate`, as the controller would.
        static func publish(_ redis: RedisConnection, upstream: String, certificates: [String: String], hsts: String?,
                            revision: String) throws -> Int {
            let generation = (Int(try redis.send(["GET", "berth:routetable:generation"]).string ?? "") ?? 0) + 1
            var table = RouteTableDocument(revision: revision, generation: generation, hosts: hosts.map { host in
                .init(host: host, domain: "shop", tls: .acme, redirectHTTP: true, certificate: "shop", routes: [
                    .init(route: "web", path: "/", pathType: .prefix, methods: [], priority: 0, stripPrefix: false, auth: nil, upstream: .url(upstream)),
                ], hsts: hsts)
            }, authPolicies: [:])
            table.certificates = certificates
            _ = try redis.pipeline([
                ["SET", "berth:routetable", table.json.canonicalString],
                ["SET", "berth:routetable:generation", String(generation)],
                ["SET", "berth:routetable:hash", table.contentHash],
                ["PUBLISH", "berth:events", "{\"generation\":\(generation),\"type\":\"routetable\"}"],
            ])
            return generation
        }

        static func store(_ redis: RedisConnection, _ leaf: (chain: String, key: String, fingerprint: String)) throws {
            _ = try redis.send(["HSET", "berth:cert:shop", "chain", leaf.chain, "key", leaf.key, "fingerprint", leaf.fingerprint,
                                "sans", hosts.joined(separator: ","), "source", "test"])
        }

        static func httpsPort(_ proxy: BerthProxyProcess) throws -> Int {
            guard let range = proxy.output.range(of: "https://127.0.0.1:"),
                  let port = Int(proxy.output[range.upperBound...].prefix { $0.isNumber }) else {
                throw TestSupportError("no https listener in the proxy's output:\n\(proxy.output)")
            }
            return port
        }

        /// curl over TLS, trusting only the test CA; `host` resolves to 127.0.0.1.
        static func curl(_ pki: PKI, port: Int, host: String = shopHost, path: String = "/", extra: [String] = []) throws -> ProcessResult {
            try runProcess("curl", ["--silent", "--show-error", "--include", "--max-time", "10", "--cacert", pki.caPath,
                                    "--resolve", "\(host):\(port):127.0.0.1"] + extra + ["https://\(host):\(port)\(path)"])
        }

        /// The SHA-256 fingerprint of the certificate a handshake for `host` presents.
        static func servedFingerprint(port: Int, host: String) throws -> String {
            let handshake = try runProcess("openssl", ["s_client", "-connect", "127.0.0.1:\(port)", "-servername", host], stdin: "")
            let fingerprint = try runProcess("openssl", ["x509", "-noout", "-fingerprint", "-sha256"], stdin: handshake.stdout)
            return fingerprint.stdout.split(separator: "=").last.map { $0.replacingOccurrences(of: ":", with: "").trimmingCharacters(in: .whitespacesAndNewlines).lowercased() } ?? ""
        }

        @Test func servesEveryHostOfTheCertificateBySNIWithHSTSAndTellsTheUpstreamItWasHTTPS() throws {
            let stage = try Stage()
            defer { stage.close() }
            let pki = stage.pki
            try stage.serve(try pki.leaf("shop", hosts: Self.hosts), hsts: "max-age=63072000; includeSubDomains", revision: "tls-1")
            try stage.startProxy()
            let port = stage.port
            for host in Self.hosts {
                let response = try Self.curl(pki, port: port, host: host, path: "/hello?x=1")
                #expect(response.succeeded, "\(response)")
                #expect(response.stdout.hasPrefix("HTTP/1.1 200"), "\(response.stdout)")
                #expect(response.stdout.lowercased().contains("strict-transport-security: max-age=63072000; includesubdomains"), "\(response.stdout)")
                let body = response.stdout.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
                let echo = try EchoReport(json: Array(body.utf8))
                #expect(echo.headers.contains { $0.0.lowercased() == "x-forwarded-proto" && $0.1 == "https" },
                        "the upstream is told the client used HTTPS: \(echo.headers)")
            }
            // ALPN offers http/1.1 only; TLS 1.1 and older are refused.
            let verbose = try Self.curl(pki, port: port, extra: ["--verbose", "--http1.1"])
            #expect(verbose.stderr.contains("ALPN: server accepted http/1.1") || verbose.stderr.contains("ALPN, server accepted to use http/1.1"), "\(verbose.stderr)")
            let old = try Self.curl(pki, port: port, extra: ["--tlsv1.0", "--tls-max", "1.1"])
            #expect(!old.succeeded, "TLS 1.1 must be refused: \(old)")
            // A name with no certificate (and no default) gets no handshake.
            let unknown = try Self.curl(pki, port: port, host: "unknown.example.test")
            #expect(!unknown.succeeded)
            #expect([35, 60].contains(unknown.status), "\(unknown)")
        }

        @Test func plainHTTPIsRedirectedOnceACertificateIsLoadedButACMEChallengesAreNot() throws {
            let stage = try Stage()
            defer { stage.close() }
            let (pki, web, redis) = (stage.pki, stage.web, stage.redis)
            // No certificate yet: plain HTTP is served, not redirected to an HTTPS that cannot answer.
            try stage.serve(nil, revision: "no-cert")
            try stage.startProxy()
            let (proxy, port) = (stage.proxy!, stage.port)
            #expect(try httpRequest(port: proxy.httpPort, "/a", host: shopHost).status == 200)

            let leaf = try pki.leaf("shop", hosts: Self.hosts)
            try Self.store(redis, leaf)
            _ = try Self.publish(redis, upstream: web.url, certificates: ["shop": leaf.fingerprint], hsts: "max-age=600", revision: "cert")
            #expect(eventually(timeout: 10) { (try? httpRequest(port: proxy.httpPort, "/a", host: shopHost).status) == 308 })
            let redirect = try httpRequest(port: proxy.httpPort, "/a/b?c=d", host: shopHost)
            #expect(redirect.status == 308)
            #expect(redirect.header("location") == "https://\(shopHost):\(port)/a/b?c=d")
            #expect(redirect.header("strict-transport-security") == nil, "HSTS is only sent over HTTPS")
            let challenge = try httpRequest(port: proxy.httpPort, "/.well-known/acme-challenge/abc_DEF-123", host: shopHost)
            #expect(challenge.status == 404, "ACME challenges are answered on plain HTTP, never redirected")
            _ = try redis.send(["SET", "berth:acme:challenge:abc_DEF-123", "abc_DEF-123.thumbprint", "PX", "60000"])
            let answered = try httpRequest(port: proxy.httpPort, "/.well-known/acme-challenge/abc_DEF-123", host: "www." + shopHost)
            #expect(answered.status == 200)
            #expect(answered.text == "abc_DEF-123.thumbprint")
            #expect(try Self.curl(pki, port: port, path: "/a").succeeded)
        }

        @Test func aRenewedCertificateIsServedWithoutARestartAndADownloadInProgressIsNotCut() throws {
            let stage = try Stage()
            defer { stage.close() }
            let (pki, web, redis) = (stage.pki, stage.web, stage.redis)
            let first = try pki.leaf("shop-1", hosts: Self.hosts)
            try stage.serve(first, revision: "first")
            try stage.startProxy()
            let (proxy, port) = (stage.proxy!, stage.port)
            #expect(try Self.servedFingerprint(port: port, host: shopHost) == first.fingerprint)

            // A 64 MiB download at 8 MiB/s over HTTPS, running while the certificate changes.
            let size = 64 << 20
            let download = try BackgroundProcess("curl", ["--silent", "--show-error", "--fail", "--max-time", "60", "--limit-rate", "8M",
                                                          "--cacert", pki.caPath, "--resolve", "\(shopHost):\(port):127.0.0.1",
                                                          "--output", "/dev/null", "--write-out", "%{size_download}",
                                                          "https://\(shopHost):\(port)/big?size=\(size)"])
            Thread.sleep(forTimeInterval: 1)
            let second = try pki.leaf("shop-2", hosts: Self.hosts)
            try Self.store(redis, second)
            _ = try Self.publish(redis, upstream: web.url, certificates: ["shop": second.fingerprint], hsts: nil, revision: "second")
            #expect(eventually(timeout: 10) { (try? Self.servedFingerprint(port: port, host: shopHost)) == second.fingerprint })
            #expect(download.isRunning, "the download is still going when the new certificate is live")
            #expect(download.waitForExit(timeout: 60) == 0, "\(download.output)")
            #expect(download.stdout == String(size), "\(download.output)")
            #expect(proxy.isRunning)
        }

        @Test func thePROXYProtocolComesBeforeTLSOnHTTPSListeners() throws {
            let stage = try Stage()
            defer { stage.close() }
            let pki = stage.pki
            try stage.serve(try pki.leaf("shop", hosts: Self.hosts), revision: "pp")
            // 127.0.0.1 is a trusted load balancer here, so its connections must start with a PROXY header.
            try stage.startProxy(["--proxy-protocol-trusted", "127.0.0.0/8"])
            let port = stage.port
            let withHeader = try Self.curl(pki, port: port, path: "/pp", extra: ["--haproxy-protocol"])
            #expect(withHeader.succeeded, "\(withHeader)")
            #expect(withHeader.stdout.hasPrefix("HTTP/1.1 200"))
            let without = try Self.curl(pki, port: port, path: "/pp")
            #expect(!without.succeeded, "a trusted peer that sends no PROXY header is refused before TLS: \(without)")
        }

        @Test func aCertificateThatDoesNotLoadIsReportedAndTheLastGoodOneKeepsServing() throws {
            let stage = try Stage()
            defer { stage.close() }
            let (pki, web, redis) = (stage.pki, stage.web, stage.redis)
            let good = try pki.leaf("good", hosts: Self.hosts)
            try stage.serve(good, revision: "good")
            try stage.startProxy()
            let (proxy, port) = (stage.proxy!, stage.port)
            // A new fingerprint whose stored key is garbage.
            let other = try pki.leaf("other", hosts: Self.hosts)
            _ = try redis.send(["HSET", "berth:cert:shop", "chain", other.chain, "key", "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
                                "fingerprint", other.fingerprint])
            _ = try Self.publish(redis, upstream: web.url, certificates: ["shop": other.fingerprint], hsts: nil, revision: "broken-key")
            #expect(eventually(timeout: 10) {
                (try? redis.send(["HGET", "berth:proxy:\(proxy.replicaID)", "last_error"]).string)?.contains("certificate shop") == true
            })
            #expect(try Self.servedFingerprint(port: port, host: shopHost) == good.fingerprint)
            #expect(try Self.curl(pki, port: port).succeeded)
        }
    }
}

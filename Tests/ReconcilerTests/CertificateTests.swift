import Crypto
import Foundation
import NIOHTTP1
import SwiftASN1
import AsyncHTTPClient
import Testing
@testable import Reconciler
import Spec
import X509

/// Planning, applying and tracking certificates, without a CA server (pebble is in the integration
/// tests): the internal CA is real and in-process, the store is the in-memory one.
@Suite struct CertificatePlanningTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let day: TimeInterval = 86_400
    static let acme = PlannerConfiguration(hasCertificateIssuer: true, acmeDirectory: "https://acme.example.test/dir", acmeEmail: "ops@example.test")

    static func metadata(_ sans: [String], issuedDaysAgo: Double, lifetimeDays: Double = 90, source: CertificateMetadata.Source = .acme,
                         fingerprint: String = String(repeating: "ab", count: 32)) -> CertificateMetadata {
        let notBefore = now.addingTimeInterval(-issuedDaysAgo * day)
        return CertificateMetadata(sans: sans, notBefore: notBefore, notAfter: notBefore.addingTimeInterval(lifetimeDays * day),
                                   issuer: "CN=Test CA", serial: "01", fingerprint: fingerprint, source: source)
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var domain: Domain
        var current: CertificateMetadata?
        var configuration: PlannerConfiguration = CertificatePlanningTests.acme
        var action: CertificateChange.Action
        var reason: String?
        var pending = false
        var testDescription: String { name }
    }

    static let hosts = ["shop.example.test", "www.shop.example.test"]
    static let cases: [Case] = [
        Case(name: "no certificate: issue", domain: Domain(name: "shop", hosts: hosts), action: .issue, reason: "no-certificate"),
        Case(name: "fresh certificate: keep", domain: Domain(name: "shop", hosts: hosts), current: metadata(hosts, issuedDaysAgo: 10), action: .keep),
        Case(name: "just before a third is left: keep", domain: Domain(name: "shop", hosts: hosts), current: metadata(hosts, issuedDaysAgo: 59), action: .keep),
        Case(name: "a third of the lifetime left: renew", domain: Domain(name: "shop", hosts: hosts), current: metadata(hosts, issuedDaysAgo: 61),
             action: .renew, reason: "expiring"),
        Case(name: "expired: renew", domain: Domain(name: "shop", hosts: hosts), current: metadata(hosts, issuedDaysAgo: 100), action: .renew, reason: "expired"),
        Case(name: "a host added: reissue", domain: Domain(name: "shop", hosts: hosts + ["m.shop.example.test"]),
             current: metadata(hosts, issuedDaysAgo: 1), action: .reissue, reason: "hosts-changed"),
        Case(name: "a host dropped: reissue", domain: Domain(name: "shop", hosts: ["shop.example.test"]),
             current: metadata(hosts, issuedDaysAgo: 1), action: .reissue, reason: "hosts-changed"),
        Case(name: "host order does not matter", domain: Domain(name: "shop", hosts: hosts.reversed()), current: metadata(hosts, issuedDaysAgo: 1), action: .keep),
        Case(name: "self-signed to acme: reissue", domain: Domain(name: "shop", hosts: hosts),
             current: metadata(hosts, issuedDaysAgo: 1, source: .selfSigned), action: .reissue, reason: "tls-changed"),
        Case(name: "no issuer: pending", domain: Domain(name: "shop", hosts: hosts), configuration: PlannerConfiguration(),
             action: .issue, reason: "no-certificate", pending: true),
        Case(name: "no ACME directory: pending", domain: Domain(name: "shop", hosts: hosts), configuration: PlannerConfiguration(hasCertificateIssuer: true),
             action: .issue, reason: "no-certificate", pending: true),
        Case(name: "the Domain's own directory is enough", domain: Domain(name: "shop", hosts: hosts, acme: .init(directory: "https://ca.example.test/dir")),
             configuration: PlannerConfiguration(hasCertificateIssuer: true), action: .issue, reason: "no-certificate"),
        Case(name: "self-signed needs no directory", domain: Domain(name: "shop", hosts: hosts, tls: .selfSigned),
             configuration: PlannerConfiguration(hasCertificateIssuer: true), action: .issue, reason: "no-certificate"),
    ]

    @Test(arguments: cases)
    func decides(_ example: Case) {
        let observed = ObservedState(certificates: example.current.map { ["shop": $0] } ?? [:])
        let plan = Planner.plan(desired: DesiredState(resources: [.domain(example.domain)]), revision: "r", origin: "t", observed: observed,
                                configuration: example.configuration, now: Self.now)
        let change = try! #require(plan.certificates.first)
        #expect(plan.certificates.count == 1)
        #expect(change.action == example.action)
        #expect(change.reason?.code == example.reason)
        #expect(!change.pending.isEmpty == example.pending)
        #expect(plan.changes.first?.pending == change.pending, "the Domain carries its certificate's pending note")
    }

    @Test func overridesAndDefaultsResolveTheDirectoryAndContact() {
        let domains: [Resource] = [
            .domain(Domain(name: "own", hosts: ["a.example.test"], acme: .init(directory: "https://other.example.test/dir", email: "own@example.test"))),
            .domain(Domain(name: "default", hosts: ["b.example.test"])),
        ]
        let plan = Planner.plan(desired: DesiredState(resources: domains), revision: "r", origin: "t", observed: ObservedState(),
                                configuration: Self.acme, now: Self.now)
        let byName = Dictionary(uniqueKeysWithValues: plan.certificates.map { ($0.name, $0) })
        #expect(byName["own"]?.directory == "https://other.example.test/dir")
        #expect(byName["own"]?.email == "own@example.test")
        #expect(byName["default"]?.directory == "https://acme.example.test/dir")
        #expect(byName["default"]?.email == "ops@example.test")
    }

    @Test func certificatesOfRemovedOrPlainDomainsAreRemoved() {
        let observed = ObservedState(certificates: ["gone": Self.metadata(["g.example.test"], issuedDaysAgo: 1),
                                                    "plain": Self.metadata(["p.example.test"], issuedDaysAgo: 1)])
        let plan = Planner.plan(desired: DesiredState(resources: [.domain(Domain(name: "plain", hosts: ["p.example.test"], tls: .none))]),
                                revision: "r", origin: "t", observed: observed, configuration: Self.acme, now: Self.now)
        #expect(plan.certificates.map(\.action) == [.remove, .remove])
        #expect(plan.certificates.map(\.name) == ["gone", "plain"])
        #expect(plan.hasChanges)
    }

    @Test func planOutputShowsActionReasonAndExpiryButNeverKeys() throws {
        let observed = ObservedState(certificates: ["shop": Self.metadata(Self.hosts, issuedDaysAgo: 70)])
        let plan = Planner.plan(desired: DesiredState(resources: [.domain(Domain(name: "shop", hosts: Self.hosts))]), revision: "r", origin: "t",
                                observed: observed, configuration: Self.acme, now: Self.now)
        let text = PlanRenderer().text(plan)
        #expect(text.contains("~ shop  (renew)  acme for shop.example.test, www.shop.example.test from https://acme.example.test/dir"))
        #expect(text.contains("expires \(CertificateMetadata.rfc3339(Self.metadata(Self.hosts, issuedDaysAgo: 70).notAfter))"))
        let json = PlanRenderer().json(plan)
        #expect(json["certificates"]?.arrayValue?.first?["action"]?.stringValue == "renew")
        #expect(json["certificates"]?.arrayValue?.first?["current"]?["fingerprint"]?.stringValue == String(repeating: "ab", count: 32))
        for rendered in [text, json.canonicalString] {
            #expect(!rendered.contains("PRIVATE KEY") && !rendered.contains("\"key\""))
        }
        #expect(plan.hasChanges)
        #expect(Controller.describe(plan).contains { $0.hasPrefix("~ certificate shop: renew: expiring") })
    }

    @Test func theRouteTableCarriesFingerprintsOfPresentCertificatesOnly() {
        let observed = ObservedState(certificates: ["shop": Self.metadata(Self.hosts, issuedDaysAgo: 1)])
        let resources: [Resource] = [.domain(Domain(name: "shop", hosts: Self.hosts, hsts: .init(maxAge: 600))),
                                     .domain(Domain(name: "new", hosts: ["n.example.test"]))]
        let plan = Planner.plan(desired: DesiredState(resources: resources), revision: "r", origin: "t", observed: observed,
                                configuration: Self.acme, now: Self.now)
        #expect(plan.routeTable.after.certificates == ["shop": String(repeating: "ab", count: 32)])
        #expect(plan.routeTable.after.host("shop.example.test")?.hsts == "max-age=600")
        #expect(plan.routeTable.after.host("n.example.test")?.hsts == nil)
    }

    @Test func aRetryAfterLongerThanTheBackoffPostponesTheRetry() {
        let domain = Domain(name: "shop", hosts: Self.hosts)
        let plan = Planner.plan(desired: DesiredState(resources: [.domain(domain)]), revision: "r", origin: "t", observed: ObservedState(),
                                configuration: Self.acme, now: Self.now)
        var report = ApplyReport()
        report.failures[domain.id] = ResourceFailure(code: "urn:ietf:params:acme:error:rateLimited", message: "too many", retryAfter: 3600)
        let conditions = ConditionTracker.update([:], plan: plan, report: report, retry: RetryPolicy(), now: Self.now, jitter: { 1 })
        #expect(conditions[domain.id]?.reason == "urn:ietf:params:acme:error:rateLimited")
        #expect(conditions[domain.id]?.nextRetry == Self.now.addingTimeInterval(3600))
    }
}

/// Issues self-signed certificates, except for the names it is told to fail (as a CA would).
final class TestIssuer: CertificateIssuer, @unchecked Sendable {
    let ca: SelfSignedCA
    var failing: [String: IssuanceError] = [:]
    private(set) var requests: [CertificateRequest] = []

    init() throws { ca = try SelfSignedCA.generate(name: "test CA").ca }

    func issue(_ request: CertificateRequest) throws -> IssuedCertificate {
        requests.append(request)
        if let error = failing[request.name] { throw error }
        var issued = try ca.issue(hosts: request.hosts)
        issued.metadata.source = request.source
        return issued
    }
}

@Suite struct CertificateApplyTests {
    static let configuration = PlannerConfiguration(hasCertificateIssuer: true, acmeDirectory: "https://acme.example.test/dir")
    static let resources: [Resource] = [
        .domain(Domain(name: "good", hosts: ["good.example.test", "www.good.example.test"])),
        .domain(Domain(name: "bad", hosts: ["bad.example.test"])),
        .route(Route(name: "bad-web", domain: "bad", to: .url("http://127.0.0.1:9000"))),
    ]

    func apply(_ store: MemoryStateStore, _ issuer: TestIssuer, holdBack: Set<ResourceID> = []) throws -> (Plan, ApplyReport) {
        let plan = Planner.plan(desired: DesiredState(resources: Self.resources), revision: "r1", origin: "t", observed: try store.observe(),
                                configuration: Self.configuration)
        let lease = try store.acquireLease(holder: "t", ttlMilliseconds: 10_000)
        defer { try? store.releaseLease(lease) }
        return (plan, try Applier(store: store, configuration: Self.configuration, issuer: issuer).apply(plan, lease: lease, holdBack: holdBack))
    }

    @Test func oneDomainFailingLeavesTheOthersAndTheRoutesAlone() throws {
        let store = MemoryStateStore(), issuer = try TestIssuer()
        issuer.failing["bad"] = IssuanceError(code: "urn:ietf:params:acme:error:connection", message: "dial tcp 127.0.0.2:80: connection refused")
        let (_, report) = try apply(store, issuer)
        #expect(report.certificates.keys.sorted() == ["good"])
        let failure = try #require(report.failures[ResourceID(.domain, "bad")])
        #expect(failure.code == "urn:ietf:params:acme:error:connection")
        #expect(failure.message == "issue certificate for bad.example.test: urn:ietf:params:acme:error:connection: dial tcp 127.0.0.2:80: connection refused")
        #expect(store.certificates["good"]?.metadata.sans == ["good.example.test", "www.good.example.test"])
        #expect(store.certificates["bad"] == nil)
        // Routes and the Domain itself are applied; the table names the one certificate there is.
        #expect(report.published)
        #expect(store.routeTable?.host("bad.example.test")?.routes.count == 1)
        #expect(store.routeTable?.certificates == ["good": store.certificates["good"]!.metadata.fingerprint])
        #expect(store.inventory[ResourceID(.domain, "bad")] != nil)

        // Next pass: only the failed one is asked again; then, once it works, the table moves.
        issuer.failing = [:]
        let (plan, again) = try apply(store, issuer)
        #expect(plan.certificates.filter(\.isActionable).map(\.name) == ["bad"])
        #expect(issuer.requests.map(\.name).sorted() == ["bad", "bad", "good"])
        #expect(again.failures.isEmpty)
        #expect(again.published, "a new certificate changes the table's content: a new generation")
        #expect(store.routeTable?.certificates.keys.sorted() == ["bad", "good"])
        // And then nothing is left to do.
        let settled = Planner.plan(desired: DesiredState(resources: Self.resources), revision: "r1", origin: "t", observed: try store.observe(),
                                   configuration: Self.configuration)
        #expect(!settled.hasChanges)
    }

    @Test func heldBackDomainsAreNotOrderedAndALockedDomainIsReported() throws {
        let store = MemoryStateStore(), issuer = try TestIssuer()
        let (_, report) = try apply(store, issuer, holdBack: [ResourceID(.domain, "bad")])
        #expect(report.heldBack == [ResourceID(.domain, "bad")])
        #expect(issuer.requests.map(\.name) == ["good"])

        _ = try store.lockCertificate("bad", ttlMilliseconds: 60_000)  // another controller mid-order
        let (_, locked) = try apply(store, issuer)
        #expect(locked.failures[ResourceID(.domain, "bad")]?.code == "certificate-locked")
        #expect(issuer.requests.map(\.name) == ["good"])
    }
}

@Suite struct CertificateAuthorityTests {
    @Test func leavesVerifyAgainstTheCAAndCarryExactlyTheHosts() async throws {
        let (ca, pem, keyPEM) = try SelfSignedCA.generate(name: "Berth internal CA (test:)")
        #expect(keyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        let issued = try ca.issue(hosts: ["a.example.test", "b.example.test"])
        #expect(issued.keyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----"), "PKCS#8, as the proxy expects")
        #expect(issued.metadata.sans == ["a.example.test", "b.example.test"])
        #expect(issued.metadata.source == .selfSigned)
        #expect(issued.metadata.notAfter.timeIntervalSince(issued.metadata.notBefore) > 89 * 86_400)
        #expect(!issued.description.contains("PRIVATE"))
        let chain = try CertificateInspection.certificates(inPEM: issued.chainPEM)
        #expect(chain.count == 2)
        #expect(try CertificateInspection.fingerprint(chain[0]) == issued.metadata.fingerprint)
        let root = try Certificate(pemEncoded: pem)
        for (host, valid) in [("a.example.test", true), ("b.example.test", true), ("c.example.test", false)] {
            var verifier = Verifier(rootCertificates: CertificateStore([root])) {
                RFC5280Policy()
                ServerIdentityPolicy(serverHostname: host, serverIP: nil)
            }
            let result = await verifier.validate(leaf: chain[0], intermediates: CertificateStore([]))
            if case .validCertificate = result { #expect(valid, "\(host)") } else { #expect(!valid, "\(host)") }
        }
        // The private key in the PEM is the leaf's.
        let key = try P256.Signing.PrivateKey(pemRepresentation: issued.keyPEM)
        #expect(Certificate.PublicKey(key.publicKey) == chain[0].publicKey)
    }

    @Test func metadataRoundTripsThroughTheHashFields() throws {
        let issued = try SelfSignedCA.generate(name: "x").ca.issue(hosts: ["a.example.test"])
        let fields = issued.fields
        #expect(Set(fields.keys) == ["chain", "key", "sans", "not_before", "not_after", "issuer", "serial", "fingerprint", "source"])
        #expect(fields["not_after"]?.hasSuffix("Z") == true)
        let back = try #require(CertificateMetadata(fields: fields))
        #expect(back.sans == issued.metadata.sans)
        #expect(back.fingerprint == issued.metadata.fingerprint)
        #expect(abs(back.notAfter.timeIntervalSince(issued.metadata.notAfter)) < 1)
        #expect(CertificateMetadata(fields: fields.filter { $0.key != "fingerprint" }) == nil)
    }
}

@Suite struct ACMEProtocolTests {
    @Test func problemDocumentsAreKeptVerbatim() {
        let body = #"{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"Error creating new order :: policy forbids","subproblems":[{"type":"urn:ietf:params:acme:error:malformed","detail":"bad name","identifier":{"type":"dns","value":"x..test"}}]}"#
        var headers = HTTPHeaders()
        headers.add(name: "Retry-After", value: "120")
        let problem = ACMEClient.problem(.init(status: 400, headers: headers, body: Array(body.utf8)))
        #expect(problem.code == "urn:ietf:params:acme:error:rejectedIdentifier")
        #expect(problem.message == "Error creating new order :: policy forbids [x..test: urn:ietf:params:acme:error:malformed: bad name]")
        #expect(problem.retryAfter == 120)
        let plain = ACMEClient.problem(.init(status: 502, headers: HTTPHeaders(), body: Array("Bad Gateway".utf8)))
        #expect(plain.code == "acme-http-502")
    }

    @Test func retryAfterIsReadAsSecondsOrAnHTTPDate() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)  // Fri, 15 Jan 2027 08:00:00 GMT
        func value(_ text: String) -> TimeInterval? {
            var headers = HTTPHeaders()
            headers.add(name: "Retry-After", value: text)
            return ACMEClient.retryAfterSeconds(headers, now: now)
        }
        #expect(value("30") == 30)
        #expect(value("Fri, 15 Jan 2027 08:01:00 GMT") == 60)
        #expect(value("-5") == 0)
        #expect(value("soon") == nil)
        #expect(ACMEClient.retryAfterSeconds(HTTPHeaders(), now: now) == nil)
    }

    @Test func keyAuthorizationIsTokenDotThumbprintOfTheAccountJWK() throws {
        let key = P256.Signing.PrivateKey()
        let client = ACMEClient(http: .shared, directoryURL: "https://acme.example.test/dir", accountKey: key)
        let jwk = client.jwk
        #expect(jwk.canonicalString.hasPrefix(#"{"crv":"P-256","kty":"EC","x":""#))
        let expected = ACMEClient.base64url(Crypto.SHA256.hash(data: Array(jwk.canonicalString.utf8)))
        #expect(client.keyAuthorization(token: "tok_EN-1") == "tok_EN-1." + expected)
        #expect(!expected.contains("=") && !expected.contains("+") && !expected.contains("/"))
        // The CSR names every host and is signed by the certificate key.
        let certificateKey = P256.Signing.PrivateKey()
        let der = try ACMEClient.csr(hosts: ["a.example.test", "b.example.test"], key: certificateKey)
        let csr = try CertificateSigningRequest(derEncoded: der)
        #expect(csr.publicKey == Certificate.PublicKey(certificateKey.publicKey))
        #expect(try csr.attributes.extensionRequest?.extensions.subjectAlternativeNames == SubjectAlternativeNames([.dnsName("a.example.test"), .dnsName("b.example.test")]))
    }
}

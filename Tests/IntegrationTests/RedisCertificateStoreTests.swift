import Foundation
import RedisClient
import Reconciler
import Spec
import Testing
import TestSupport

/// The certificate half of the Redis state store, against a real redis-server: the hash layout the
/// proxies read, fencing, observation without keys, the per-Domain lock and the internal CA.
@Suite struct RedisCertificateStoreTests {
    @Test func certificatesAreWrittenWholeFencedObservedWithoutKeysAndDeleted() throws {
        let redis = try RedisServerProcess.start()
        defer { redis.stop() }
        let store = RedisStateStore(connection: try redis.connect(), keys: RedisKeys(prefix: "t:"))
        let admin = try redis.connect()
        defer { admin.close() }
        let issued = try SelfSignedCA.generate(name: "t").ca.issue(hosts: ["a.example.test", "b.example.test"])
        let lease = try store.acquireLease(holder: "a", ttlMilliseconds: 30_000)
        let before = try store.observe().fingerprint

        try admin.send(["HSET", "t:cert:shop", "stale_field", "x"])  // a leftover from an older writer
        try store.putCertificate("shop", issued, lease: lease)
        let fields = try admin.send(["HGETALL", "t:cert:shop"]).array?.compactMap(\.string) ?? []
        let names = stride(from: 0, to: fields.count, by: 2).map { fields[$0] }.sorted()
        #expect(names == ["chain", "fingerprint", "issuer", "key", "not_after", "not_before", "sans", "serial", "source"])
        #expect(try admin.send(["HGET", "t:cert:shop", "sans"]).string == "a.example.test,b.example.test")
        #expect(try admin.send(["HGET", "t:cert:shop", "source"]).string == "self-signed")
        #expect(try admin.send(["SISMEMBER", "t:certs", "shop"]).integer == 1)
        let event = try admin.send(["XRANGE", "t:events", "-", "+"]).array?.last?.array?.last?.array?.compactMap(\.string) ?? []
        #expect(event == ["type", "certificate", "name", "shop", "fingerprint", issued.metadata.fingerprint])

        let observed = try store.observe()
        #expect(observed.certificates["shop"]?.fingerprint == issued.metadata.fingerprint)
        #expect(observed.certificates["shop"]?.sans == ["a.example.test", "b.example.test"])
        #expect(observed.fingerprint != before, "a saved plan goes stale when a certificate changes")

        // Fenced: after losing the lease nothing is written or deleted.
        try admin.send(["DEL", "t:lock:apply"])
        _ = try store.acquireLease(holder: "b", ttlMilliseconds: 30_000)
        #expect(throws: StateError.self) { try store.deleteCertificate("shop", lease: lease) }
        #expect(throws: StateError.self) { try store.putCertificate("other", issued, lease: lease) }
        #expect(try admin.send(["EXISTS", "t:cert:shop"]).integer == 1)
        #expect(try admin.send(["EXISTS", "t:cert:other"]).integer == 0)
        try admin.send(["DEL", "t:lock:apply"])
        let again = try store.acquireLease(holder: "a", ttlMilliseconds: 30_000)
        try store.deleteCertificate("shop", lease: again)
        #expect(try admin.send(["EXISTS", "t:cert:shop"]).integer == 0)
        #expect(try store.observe().certificates.isEmpty)
    }

    @Test func thePerDomainLockAdmitsOneHolder() throws {
        let redis = try RedisServerProcess.start()
        defer { redis.stop() }
        let store = RedisStateStore(connection: try redis.connect(), keys: RedisKeys(prefix: "t:"))
        let token = try #require(try store.lockCertificate("shop", ttlMilliseconds: 10_000))
        #expect(try store.lockCertificate("shop", ttlMilliseconds: 10_000) == nil)
        #expect(try store.lockCertificate("other", ttlMilliseconds: 10_000) != nil)
        try store.unlockCertificate("shop", token: "not-mine")
        #expect(try store.lockCertificate("shop", ttlMilliseconds: 10_000) == nil, "only the holder's token releases it")
        try store.unlockCertificate("shop", token: token)
        #expect(try store.lockCertificate("shop", ttlMilliseconds: 10_000) != nil)
    }

    @Test func theInternalCAIsCreatedOnceAndShared() throws {
        let redis = try RedisServerProcess.start()
        defer { redis.stop() }
        let first = try RedisCertificateIssuer(options: .init(redisURL: redis.urlString, prefix: "t:"))
        let second = try RedisCertificateIssuer(options: .init(redisURL: redis.urlString, prefix: "t:"))
        defer { first.shutdown(); second.shutdown() }
        let ca = try first.certificateAuthority().certificatePEM
        #expect(try second.certificateAuthority().certificatePEM == ca)
        let other = try RedisCertificateIssuer(options: .init(redisURL: redis.urlString, prefix: "u:"))
        defer { other.shutdown() }
        #expect(try other.certificateAuthority().certificatePEM != ca, "one CA per prefix")
        let issued = try first.issue(CertificateRequest(name: "x", hosts: ["x.example.test"], source: .selfSigned))
        #expect(issued.metadata.issuer.contains("Berth internal CA (t:)"))
    }
}

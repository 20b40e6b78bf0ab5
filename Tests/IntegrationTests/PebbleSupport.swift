import Crypto
import Foundation
import SwiftASN1
import TestSupport
import X509

/// Let's Encrypt's ACME test server (Debian's `pebble`) with `pebble-challtestsrv` as its DNS, which
/// answers every name with 127.0.0.1, so HTTP-01 validation connects to `httpPort` on loopback —
/// where the test runs a berth-proxy. A missing binary is a failure, never a skip.
final class PebbleServer {
    let directory: TemporaryDirectory
    let dns: BackgroundProcess
    private(set) var pebble: BackgroundProcess
    private let arguments: [String]
    private let environment: [String: String]
    let port: Int
    let managementPort: Int
    let dnsPort: Int
    let dnsManagementPort: Int
    /// PEM of the CA that signs pebble's own HTTPS certificate (for `--acme-ca-file`).
    let tlsCAFile: String

    var directoryURL: String { "https://127.0.0.1:\(port)/dir" }

    /// - Parameter nonceReject: percentage of good nonces pebble rejects with badNonce (exercises the retry).
    init(httpPort: Int, nonceReject: Int = 20) throws {
        let pebblePath = try findExecutable("pebble"), challtestsrv = try findExecutable("pebble-challtestsrv")
        directory = try TemporaryDirectory(prefix: "berth-pebble")
        let (caPEM, certificatePEM, keyPEM) = try Self.listenerCertificate()
        tlsCAFile = directory.appending("ca.pem").path
        try caPEM.write(toFile: tlsCAFile, atomically: true, encoding: .utf8)
        try certificatePEM.write(toFile: directory.appending("cert.pem").path, atomically: true, encoding: .utf8)
        try keyPEM.write(toFile: directory.appending("key.pem").path, atomically: true, encoding: .utf8)

        dnsPort = try freeLoopbackPort()
        dnsManagementPort = try freeLoopbackPort()
        dns = try BackgroundProcess(challtestsrv, ["-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dns01", "127.0.0.1:\(dnsPort)",
                                                   "-http01", "", "-https01", "", "-tlsalpn01", "", "-management", "127.0.0.1:\(dnsManagementPort)"],
                                    name: "pebble-challtestsrv")
        try dns.waitForOutput("Starting management server")

        port = try freeLoopbackPort()
        managementPort = try freeLoopbackPort()
        let config = """
            {"pebble": {"listenAddress": "127.0.0.1:\(port)", "managementListenAddress": "127.0.0.1:\(managementPort)",
             "certificate": "\(directory.appending("cert.pem").path)", "privateKey": "\(directory.appending("key.pem").path)",
             "httpPort": \(httpPort), "tlsPort": \(try freeLoopbackPort()), "ocspResponderURL": "", "externalAccountBindingRequired": false}}
            """
        try config.write(toFile: directory.appending("pebble.json").path, atomically: true, encoding: .utf8)
        arguments = [pebblePath, "-config", directory.appending("pebble.json").path, "-dnsserver", "127.0.0.1:\(dnsPort)"]
        environment = ["PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": String(nonceReject)]
        pebble = try BackgroundProcess(arguments[0], Array(arguments.dropFirst()), name: "pebble", environment: environment)
        try pebble.waitForOutput("Listening on: 127.0.0.1:\(port)")
    }

    /// Kills pebble and starts a fresh one on the same ports: it forgets every account and order
    /// and makes a new root, as a CA that lost its state would.
    func restart() throws {
        pebble.kill()
        pebble = try BackgroundProcess(arguments[0], Array(arguments.dropFirst()), name: "pebble (restarted)", environment: environment)
        try pebble.waitForOutput("Listening on: 127.0.0.1:\(port)")
    }

    /// The root pebble issues under (it makes a new one at every start), from its management interface.
    func rootPEM() throws -> String {
        let result = try runProcess("curl", ["-sS", "--fail", "--cacert", tlsCAFile, "https://127.0.0.1:\(managementPort)/roots/0"])
        guard result.succeeded, result.stdout.contains("BEGIN CERTIFICATE") else { throw TestSupportError("fetching pebble's root failed: \(result)") }
        return result.stdout
    }

    /// Points `host` at another address in pebble's DNS (127.0.0.2: nothing listens there, so validation fails).
    func setAddress(_ host: String, _ address: String) throws {
        let body = "{\"host\":\"\(host)\",\"addresses\":[\"\(address)\"]}"
        let response = try SimpleHTTP.request(port: dnsManagementPort, "POST", "/add-a", headers: [("Content-Type", "application/json")], body: Array(body.utf8))
        guard response.status == 200 else { throw TestSupportError("challtestsrv /add-a answered \(response)") }
    }

    func clearAddress(_ host: String) throws {
        let body = "{\"host\":\"\(host)\"}"
        let response = try SimpleHTTP.request(port: dnsManagementPort, "POST", "/clear-a", headers: [("Content-Type", "application/json")], body: Array(body.utf8))
        guard response.status == 200 else { throw TestSupportError("challtestsrv /clear-a answered \(response)") }
    }

    /// A throwaway CA and a certificate for 127.0.0.1/localhost signed by it, for pebble's listener.
    static func listenerCertificate() throws -> (ca: String, certificate: String, key: String) {
        let caKey = P256.Signing.PrivateKey(), key = P256.Signing.PrivateKey()
        let caName = try DistinguishedName { CommonName("berth test pebble listener CA") }
        let now = Date()
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey), notValidBefore: now - 3600, notValidAfter: now + 86_400,
            issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try .init {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true))
            }, issuerPrivateKey: .init(caKey))
        let leaf = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: now - 3600, notValidAfter: now + 86_400,
            issuer: caName, subject: try DistinguishedName { CommonName("localhost") }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try .init {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
            }, issuerPrivateKey: .init(caKey))
        return (try ca.serializeAsPEM().pemString + "\n", try leaf.serializeAsPEM().pemString + "\n", key.pemRepresentation + "\n")
    }
}

/// Reading certificates back from Redis and checking them, as a client would.
enum CertificateChecks {
    static func fields(_ redis: RedisServerProcess, _ name: String, prefix: String = "berth:") throws -> [String: String] {
        let connection = try redis.connect()
        defer { connection.close() }
        let items = try connection.send(["HGETALL", prefix + "cert:" + name]).array ?? []
        var out: [String: String] = [:]
        var index = 0
        while index + 1 < items.count {
            out[items[index].string ?? ""] = items[index + 1].string ?? ""
            index += 2
        }
        return out
    }

    static func fingerprintHex(_ certificate: Certificate) throws -> String {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return SHA256.hash(data: serializer.serializedBytes).map { String(format: "%02x", $0) }.joined()
    }

    static func chain(_ pem: String) throws -> [Certificate] {
        try PEMDocument.parseMultiple(pemString: pem).map { try Certificate(pemDocument: $0) }
    }

    static func dnsNames(_ certificate: Certificate) throws -> [String] {
        (try certificate.extensions.subjectAlternativeNames ?? SubjectAlternativeNames([])).compactMap {
            if case .dnsName(let name) = $0 { return name } else { return nil }
        }.sorted()
    }

    /// Verifies `chainPEM` (leaf first) up to `rootPEM` for `host` with RFC 5280 path validation.
    static func verify(chainPEM: String, rootPEM: String, host: String) async throws -> Bool {
        let chain = try chain(chainPEM)
        let root = try Certificate(pemEncoded: rootPEM)
        var verifier = Verifier(rootCertificates: CertificateStore([root])) {
            RFC5280Policy()
            ServerIdentityPolicy(serverHostname: host, serverIP: nil)
        }
        let result = await verifier.validate(leaf: chain[0], intermediates: CertificateStore(Array(chain.dropFirst())))
        if case .validCertificate = result { return true }
        return false
    }

    /// Entries of the events stream announcing certificate `name`.
    static func issuedEvents(_ redis: RedisServerProcess, _ name: String) throws -> Int {
        let connection = try redis.connect()
        defer { connection.close() }
        let entries = try connection.send(["XRANGE", "berth:events", "-", "+"]).array ?? []
        return entries.filter { entry in
            let fields = (entry.array?.last?.array ?? []).compactMap(\.string)
            return fields.first == "type" && fields.count >= 4 && fields[1] == "certificate" && fields[3] == name
        }.count
    }
}

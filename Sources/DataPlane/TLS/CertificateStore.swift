import NIOConcurrencyHelpers
import NIOSSL
import Spec

/// The certificates a proxy serves, chosen per SNI name at handshake time: the exact host, then a
/// `*.` wildcard one label deep, then the configured default certificate, else none (the
/// handshake is refused). Loaded from `cert:<name>` in Redis for the names the route table lists,
/// and swapped whole: handshakes in progress and open connections keep what they started with.
public final class CertificateStore: Sendable {
    /// One certificate as loaded, with the TLS context built from it.
    public struct Loaded: Sendable {
        public var name: String
        public var fingerprint: String
        public var notAfter: String?
        public var context: NIOSSLContext
    }

    struct Snapshot: Sendable {
        var byName: [String: Loaded] = [:]
        /// Lower-case host → certificate name.
        var exact: [String: String] = [:]
        /// `example.test` for `*.example.test` → certificate name.
        var wildcard: [String: String] = [:]
    }

    private let current = NIOLockedValueBox(Snapshot())
    /// Name of the certificate used when no host matches (`--default-certificate`), if any.
    public let defaultName: String?

    public init(defaultName: String? = nil) {
        self.defaultName = defaultName
    }

    /// The context for a ClientHello's server name; nil refuses the handshake.
    public func context(forServerName serverName: String?) -> NIOSSLContext? {
        let snapshot = current.withLockedValue { $0 }
        if var host = serverName?.lowercased() {
            if host.hasSuffix(".") { host.removeLast() }
            if let name = snapshot.exact[host], let loaded = snapshot.byName[name] { return loaded.context }
            if let dot = host.firstIndex(of: "."), let name = snapshot.wildcard[String(host[host.index(after: dot)...])],
               let loaded = snapshot.byName[name] {
                return loaded.context
            }
        }
        return defaultName.flatMap { snapshot.byName[$0]?.context }
    }

    /// Whether a host has a certificate loaded (plain-HTTP redirects wait for one).
    public func hasCertificate(forHost host: String) -> Bool {
        let snapshot = current.withLockedValue { $0 }
        let host = host.lowercased()
        if snapshot.exact[host] != nil { return true }
        if let dot = host.firstIndex(of: "."), snapshot.wildcard[String(host[host.index(after: dot)...])] != nil { return true }
        return false
    }

    public var loadedNames: [String: String] { current.withLockedValue { $0.byName.mapValues(\.fingerprint) } }

    /// Loads what `table` names. `fetch(name)` returns the fields of `cert:<name>` (empty when
    /// missing). Certificates whose fingerprint did not change are reused, not rebuilt. A
    /// certificate that cannot be loaded is reported and left out (its hosts get no certificate,
    /// never another host's); the rest are installed. Runs off the event loop.
    @discardableResult
    public func update(table: RouteTableDocument, fetch: (String) throws -> [String: String]) -> [String] {
        let previous = current.withLockedValue { $0 }
        var next = Snapshot()
        var errors: [String] = []
        var wanted = table.certificates
        if let defaultName, wanted[defaultName] == nil, let old = previous.byName[defaultName] { wanted[defaultName] = old.fingerprint }
        for (name, fingerprint) in wanted.sorted(by: { $0.key < $1.key }) {
            if let old = previous.byName[name], old.fingerprint == fingerprint {
                next.byName[name] = old
                continue
            }
            do {
                let fields = try fetch(name)
                next.byName[name] = try Self.load(name: name, fields: fields, expectedFingerprint: fingerprint)
            } catch {
                errors.append("certificate \(name): \(error)")
                if let old = previous.byName[name] { next.byName[name] = old }  // keep serving the one that worked
            }
        }
        for host in table.hosts {
            guard let name = host.certificate, next.byName[name] != nil else { continue }
            if host.isWildcard { next.wildcard[String(host.host.dropFirst(2))] = name } else { next.exact[host.host] = name }
        }
        current.withLockedValue { $0 = next }
        return errors
    }

    /// Builds a TLS context from `cert:<name>` fields: `chain` (PEM, leaf first), `key` (PEM).
    static func load(name: String, fields: [String: String], expectedFingerprint: String?) throws -> Loaded {
        guard let chainPEM = fields["chain"], !chainPEM.isEmpty, let keyPEM = fields["key"], !keyPEM.isEmpty else {
            throw CertificateLoadError("cert:\(name) has no chain or key in Redis")
        }
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(chainPEM.utf8))
        guard let leaf = chain.first else { throw CertificateLoadError("cert:\(name) chain holds no certificate") }
        let fingerprint = SHA256.hex(try leaf.toDERBytes())
        if let expectedFingerprint, !expectedFingerprint.isEmpty, expectedFingerprint != fingerprint {
            throw CertificateLoadError("cert:\(name) leaf fingerprint \(fingerprint.prefix(12)) is not the \(expectedFingerprint.prefix(12)) the route table names (it changed since; the next table will name it)")
        }
        let key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = ["http/1.1"]
        // TLS 1.2: forward-secret AEAD suites only (TLS 1.3's are all of that kind).
        configuration.cipherSuites = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
        let context = try NIOSSLContext(configuration: configuration)
        return Loaded(name: name, fingerprint: fingerprint, notAfter: fields["not_after"], context: context)
    }
}

public struct CertificateLoadError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

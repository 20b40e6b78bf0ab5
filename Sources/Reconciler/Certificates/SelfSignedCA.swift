import Crypto
import Foundation
import SwiftASN1
import X509

/// The internal CA behind `tls: self-signed`: a P-256 root created once per Redis prefix and kept
/// in `<prefix>ca` (fields `cert` and `key`), which signs a leaf per Domain. Clients trust it with
/// the PEM `berth ca export` prints.
public struct SelfSignedCA: Sendable {
    public let certificate: Certificate
    let key: P256.Signing.PrivateKey

    /// Ten years: the CA outlives many leaves; leaves live 90 days like ACME ones and renew the same way.
    static let caLifetime: TimeInterval = 10 * 365 * 86_400
    static let leafLifetime: TimeInterval = 90 * 86_400

    public init(certificatePEM: String, keyPEM: String) throws {
        certificate = try Certificate(pemEncoded: certificatePEM)
        key = try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
    }

    /// A new CA named after the deployment (`Berth internal CA (berth:)`).
    public static func generate(name: String, now: Date = Date()) throws -> (ca: SelfSignedCA, certificatePEM: String, keyPEM: String) {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName("Berth")
            CommonName(name)
        }
        let publicKey = Certificate.PublicKey(key.publicKey)
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(caLifetime),
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: publicKey)
            },
            issuerPrivateKey: Certificate.PrivateKey(key))
        let pem = try certificate.serializeAsPEM().pemString
        return (try SelfSignedCA(certificatePEM: pem, keyPEM: key.pemRepresentation), pem, key.pemRepresentation)
    }

    public var certificatePEM: String { (try? certificate.serializeAsPEM().pemString) ?? "" }

    /// A leaf for `hosts` with a fresh P-256 key; the chain is leaf then CA.
    public func issue(hosts: [String], now: Date = Date()) throws -> IssuedCertificate {
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        let subject = try DistinguishedName { CommonName(hosts.first ?? "berth") }
        let leaf = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(Self.leafLifetime),
            issuer: certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(hosts.map { GeneralName.dnsName($0) })
                SubjectKeyIdentifier(hash: publicKey)
                AuthorityKeyIdentifier(keyIdentifier: try certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
            },
            issuerPrivateKey: Certificate.PrivateKey(self.key))
        let chain = try leaf.serializeAsPEM().pemString + "\n" + certificatePEM + "\n"
        return IssuedCertificate(chainPEM: chain, keyPEM: key.pemRepresentation,
                                 metadata: try CertificateInspection.metadata(chainPEM: chain, source: .selfSigned))
    }
}

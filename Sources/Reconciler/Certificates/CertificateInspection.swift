import Crypto
import Foundation
import SwiftASN1
import X509

/// Reads what Berth records about a chain (SANs, validity, issuer, serial, fingerprint) from the
/// certificates themselves, so the metadata can never disagree with the chain it sits next to.
enum CertificateInspection {
    /// Splits a PEM bundle into its certificates, in order.
    static func certificates(inPEM pem: String) throws -> [Certificate] {
        try PEMDocument.parseMultiple(pemString: pem).filter { $0.discriminator == "CERTIFICATE" }.map { try Certificate(pemDocument: $0) }
    }

    static func der(_ certificate: Certificate) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return serializer.serializedBytes
    }

    static func fingerprint(_ certificate: Certificate) throws -> String {
        SHA256.hash(data: try der(certificate)).map { String(format: "%02x", $0) }.joined()
    }

    static func dnsNames(_ certificate: Certificate) throws -> [String] {
        guard let names = try certificate.extensions.subjectAlternativeNames else { return [] }
        return names.compactMap { if case .dnsName(let name) = $0 { return name.lowercased() } else { return nil } }.sorted()
    }

    /// Metadata of a chain whose first certificate is the leaf.
    static func metadata(chainPEM: String, source: CertificateMetadata.Source) throws -> CertificateMetadata {
        guard let leaf = try certificates(inPEM: chainPEM).first else {
            throw IssuanceError(code: "certificate-invalid", message: "the chain holds no certificate")
        }
        return CertificateMetadata(sans: try dnsNames(leaf), notBefore: leaf.notValidBefore, notAfter: leaf.notValidAfter,
                                   issuer: leaf.issuer.description, serial: leaf.serialNumber.bytes.map { String(format: "%02x", $0) }.joined(),
                                   fingerprint: try fingerprint(leaf), source: source)
    }
}

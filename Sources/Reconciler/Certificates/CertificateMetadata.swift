import Foundation
import Spec

/// What Berth records about a certificate in `<prefix>cert:<name>`, without its key: what the
/// planner and `berth status` read. Field names are the Redis hash fields (the contract with the
/// data plane, which also reads `chain` and `key` from the same hash).
public struct CertificateMetadata: Sendable, Equatable {
    public enum Source: String, Sendable, Equatable {
        case acme
        case selfSigned = "self-signed"
    }

    /// The hosts the leaf names (subjectAltName dNSName entries), sorted.
    public var sans: [String]
    public var notBefore: Date
    public var notAfter: Date
    /// The issuer's distinguished name as text.
    public var issuer: String
    /// The leaf's serial number, lower-case hex.
    public var serial: String
    /// Lower-case hex SHA-256 of the leaf's DER.
    public var fingerprint: String
    public var source: Source

    public init(sans: [String], notBefore: Date, notAfter: Date, issuer: String, serial: String, fingerprint: String, source: Source) {
        self.sans = sans.sorted()
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.issuer = issuer
        self.serial = serial
        self.fingerprint = fingerprint
        self.source = source
    }

    /// The hash fields other than `chain` and `key`, in the contract's format.
    public var fields: [String: String] {
        [
            "sans": sans.joined(separator: ","), "not_before": Self.rfc3339(notBefore), "not_after": Self.rfc3339(notAfter),
            "issuer": issuer, "serial": serial, "fingerprint": fingerprint, "source": source.rawValue,
        ]
    }

    /// The fields `fields` writes, in the order `init(fields:)` reads them back.
    public static let fieldNames = ["sans", "not_before", "not_after", "issuer", "serial", "fingerprint", "source"]

    /// Reads the metadata fields back; nil when any is missing or malformed (treated as no certificate).
    public init?(fields: [String: String]) {
        guard let sans = fields["sans"], let notBefore = fields["not_before"].flatMap(Timestamps.date),
              let notAfter = fields["not_after"].flatMap(Timestamps.date), let issuer = fields["issuer"],
              let serial = fields["serial"], let fingerprint = fields["fingerprint"], fingerprint.utf8.count == 64,
              let source = fields["source"].flatMap(Source.init(rawValue:)) else { return nil }
        self.init(sans: sans.split(separator: ",").map(String.init), notBefore: notBefore, notAfter: notAfter,
                  issuer: issuer, serial: serial, fingerprint: fingerprint, source: source)
    }

    /// RFC 3339 in UTC, whole seconds (`2026-11-27T08:00:00Z`).
    public static func rfc3339(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    /// When renewal is due: a third of the lifetime before expiry.
    public var renewalDue: Date { notAfter.addingTimeInterval(-notAfter.timeIntervalSince(notBefore) / 3) }
}

/// A freshly issued certificate: the chain and key that go to Redis, and the metadata that goes
/// everywhere else. `description` never shows the key.
public struct IssuedCertificate: Sendable, CustomStringConvertible {
    /// PEM, leaf first.
    public var chainPEM: String
    /// PEM, PKCS#8 ("PRIVATE KEY").
    public var keyPEM: String
    public var metadata: CertificateMetadata

    public init(chainPEM: String, keyPEM: String, metadata: CertificateMetadata) {
        self.chainPEM = chainPEM
        self.keyPEM = keyPEM
        self.metadata = metadata
    }

    /// All hash fields of `cert:<name>`.
    public var fields: [String: String] {
        var fields = metadata.fields
        fields["chain"] = chainPEM
        fields["key"] = keyPEM
        return fields
    }

    public var description: String {
        "certificate for \(metadata.sans.joined(separator: ", ")) (\(metadata.source.rawValue), serial \(metadata.serial), sha256 \(metadata.fingerprint), not after \(CertificateMetadata.rfc3339(metadata.notAfter)))"
    }
}

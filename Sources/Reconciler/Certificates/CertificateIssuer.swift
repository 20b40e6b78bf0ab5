import Foundation
import Spec

/// What to issue for one Domain.
public struct CertificateRequest: Sendable, Equatable {
    /// The certificate's name: the Domain's name (`cert:<name>`).
    public var name: String
    /// Every host of the Domain; one certificate names them all.
    public var hosts: [String]
    public var source: CertificateMetadata.Source
    /// ACME directory and contact (resolved: the Domain's override, else the controller's flag).
    public var directory: String?
    public var email: String?

    public init(name: String, hosts: [String], source: CertificateMetadata.Source, directory: String? = nil, email: String? = nil) {
        self.name = name
        self.hosts = hosts
        self.source = source
        self.directory = directory
        self.email = email
    }
}

/// Why a certificate could not be issued. For ACME problems `code` is the problem type
/// (`urn:ietf:params:acme:error:…`) and `message` its detail, verbatim.
public struct IssuanceError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: String
    public var message: String
    public var hint: String?
    /// The server asked not to come back before this many seconds (`Retry-After`).
    public var retryAfter: TimeInterval?

    public init(code: String, message: String, hint: String? = nil, retryAfter: TimeInterval? = nil) {
        self.code = code
        self.message = message
        self.hint = hint
        self.retryAfter = retryAfter
    }

    public var description: String { "\(code): \(message)" + (hint.map { " (\($0))" } ?? "") }
}

/// Issues certificates. Implementations: `BerthCertificateIssuer` (ACME over HTTP-01 and the
/// internal CA, both keeping their state in Redis). Blocking: called from the controller's pass
/// thread or the CLI, never from an event loop.
public protocol CertificateIssuer: AnyObject {
    /// Issues a certificate naming every host of `request` with a fresh key. Throws
    /// `IssuanceError` for anything that concerns this Domain alone.
    func issue(_ request: CertificateRequest) throws -> IssuedCertificate
}

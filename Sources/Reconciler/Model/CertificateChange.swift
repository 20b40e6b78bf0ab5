import Foundation
import Spec

/// One Domain's certificate as the apply will leave it. Never carries key material: the plan
/// shows hosts, expiry and fingerprints only.
public struct CertificateChange: Sendable, Equatable {
    public enum Action: String, Sendable, Equatable {
        /// No certificate yet.
        case issue
        /// A third of the lifetime (or less) is left.
        case renew
        /// The host set (or the TLS mode) changed: the certificate no longer names what is served.
        case reissue
        /// The Domain is gone or no longer uses TLS: its certificate and key are deleted.
        case remove
        /// Present and current.
        case keep

        var symbol: String {
            switch self {
            case .issue: "+"
            case .renew, .reissue: "~"
            case .remove: "-"
            case .keep: " "
            }
        }
    }

    /// The certificate's name (the Domain's name).
    public var name: String
    public var action: Action
    public var reason: ChangeReason?
    /// The hosts the certificate will name (sorted), empty for `remove`.
    public var hosts: [String]
    public var source: CertificateMetadata.Source?
    /// ACME directory and contact the order goes to (acme only).
    public var directory: String?
    public var email: String?
    /// The certificate there now, if any.
    public var current: CertificateMetadata?
    /// Why it cannot be done by this apply (no ACME directory configured…); empty when it can.
    public var pending: [String]

    public var id: ResourceID { ResourceID(.domain, name) }
    /// Whether the apply has something to do for it.
    public var isActionable: Bool { action != .keep && pending.isEmpty }
}

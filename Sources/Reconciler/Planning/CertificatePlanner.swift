import Foundation
import Spec

/// Decides, per TLS Domain, whether its certificate is issued, renewed, re-issued, kept or removed.
/// Pure: the time is an input.
enum CertificatePlanner {
    static func plan(desired: DesiredState, observed: ObservedState, configuration: PlannerConfiguration, now: Date) -> [CertificateChange] {
        var changes: [CertificateChange] = []
        var wanted = Set<String>()
        for domain in desired.domains where domain.tls != .none {
            wanted.insert(domain.name)
            changes.append(decide(domain, current: observed.certificates[domain.name], configuration: configuration, now: now))
        }
        for name in observed.certificates.keys.sorted() where !wanted.contains(name) {
            let current = observed.certificates[name]!
            let reason = desired.domain(named: name) == nil ? "Domain \(name) is no longer declared" : "Domain \(name) no longer uses TLS"
            changes.append(CertificateChange(name: name, action: .remove, reason: ChangeReason("certificate-unused", "\(reason); its certificate and key are deleted"),
                                             hosts: [], source: current.source, current: current, pending: []))
        }
        return changes
    }

    static func decide(_ domain: Domain, current: CertificateMetadata?, configuration: PlannerConfiguration, now: Date) -> CertificateChange {
        let source: CertificateMetadata.Source = domain.tls == .acme ? .acme : .selfSigned
        let hosts = domain.hosts.sorted()
        var change = CertificateChange(name: domain.name, action: .keep, reason: nil, hosts: hosts, source: source, current: current, pending: [])
        if source == .acme {
            change.directory = domain.acme?.directory ?? configuration.acmeDirectory
            change.email = domain.acme?.email ?? configuration.acmeEmail
        }
        if let current {
            let expiry = CertificateMetadata.rfc3339(current.notAfter)
            if current.sans != hosts {
                let added = Set(hosts).subtracting(current.sans).sorted(), dropped = Set(current.sans).subtracting(hosts).sorted()
                var parts: [String] = []
                if !added.isEmpty { parts.append("adds \(added.joined(separator: ", "))") }
                if !dropped.isEmpty { parts.append("drops \(dropped.joined(separator: ", "))") }
                change.action = .reissue
                change.reason = ChangeReason("hosts-changed", "the host set changed (\(parts.joined(separator: "; "))); the certificate expiring \(expiry) names \(current.sans.joined(separator: ", "))")
            } else if current.source != source {
                change.action = .reissue
                change.reason = ChangeReason("tls-changed", "tls changed from \(current.source.rawValue) to \(source.rawValue); the current certificate expires \(expiry)")
            } else if now >= current.notAfter {
                change.action = .renew
                change.reason = ChangeReason("expired", "the certificate expired at \(expiry)")
            } else if now >= current.renewalDue {
                change.action = .renew
                change.reason = ChangeReason("expiring", "a third of its lifetime or less is left: it expires \(expiry) (renewal due since \(CertificateMetadata.rfc3339(current.renewalDue)))")
            }
        } else {
            change.action = .issue
            change.reason = ChangeReason("no-certificate", "no certificate yet for \(hosts.joined(separator: ", "))")
        }
        guard change.action != .keep else { return change }
        if !configuration.hasCertificateIssuer {
            change.pending = ["no certificate issuer configured: no \(domain.tls.rawValue) certificate is issued for \(domain.hosts.joined(separator: ", ")) yet"]
        } else if source == .acme, change.directory == nil {
            change.pending = ["no ACME directory configured: set --acme-directory on the controller (or spec.acme.directory) to issue for \(domain.hosts.joined(separator: ", "))"]
        }
        return change
    }
}

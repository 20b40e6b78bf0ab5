import ArgumentParser
import Foundation
import Reconciler
import Spec

/// How certificates are issued (controller, apply, and plan so that it shows what apply would do).
struct CertificateOptions: ParsableArguments {
    @Option(name: .customLong("acme-directory"), help: ArgumentHelp(
        "ACME directory URL for `tls: acme` Domains (a Domain's spec.acme.directory overrides it).",
        discussion: "Without it (and without spec.acme.directory) acme certificates stay pending. `tls: self-signed` needs nothing: Berth's internal CA signs those.",
        valueName: "url"))
    var acmeDirectory: String?

    @Option(name: .customLong("acme-email"), help: ArgumentHelp("Contact address for the ACME account (a Domain's spec.acme.email overrides it).", valueName: "address"))
    var acmeEmail: String?

    @Option(name: .customLong("acme-ca-file"), help: ArgumentHelp(
        "PEM bundle of the CA that signs the ACME directory's HTTPS certificate (for a private CA such as pebble); default: the system's roots.",
        valueName: "file"))
    var acmeCAFile: String?

    func validate() throws {
        if let acmeDirectory {
            guard let url = URL(string: acmeDirectory), url.scheme?.lowercased() == "https", url.host != nil else {
                throw ValidationError("--acme-directory \"\(acmeDirectory)\" is not an https:// URL (RFC 8555 requires HTTPS)")
            }
        }
        if let acmeEmail, let problem = Formats.checkEmail(acmeEmail) {
            throw ValidationError("--acme-email \"\(acmeEmail)\" \(problem)")
        }
        if let acmeCAFile, !FileManager.default.isReadableFile(atPath: acmeCAFile) {
            throw ValidationError("--acme-ca-file \(acmeCAFile) cannot be read")
        }
    }

    /// Adds the issuer settings to a planner configuration.
    func apply(to configuration: inout PlannerConfiguration) {
        configuration.hasCertificateIssuer = true
        configuration.acmeDirectory = acmeDirectory
        configuration.acmeEmail = acmeEmail
    }

    func issuer(state: StateOptions, prefix: String) throws -> RedisCertificateIssuer {
        try RedisCertificateIssuer(options: .init(redisURL: state.redisURL, prefix: prefix, acmeCAFile: acmeCAFile))
    }
}

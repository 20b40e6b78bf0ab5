import Yams

extension SpecLoader {
    static func decodeHosts(_ node: Node?, path: String, reader: NodeReader, allowWildcard: Bool) -> [String]? {
        guard let hosts = reader.sequence(node, path: path, item: { child, childPath -> String? in
            guard let raw = reader.string(child, path: childPath) else { return nil }
            let host = Formats.normalizeHost(raw)
            if let problem = Formats.checkHostname(host, allowWildcard: allowWildcard) {
                reader.error("invalid-hostname", child, "\(childPath): \"\(raw)\" is not a valid hostname: \(problem)")
                return nil
            }
            return host
        }) else { return nil }
        if hosts.isEmpty {
            reader.error("empty-list", node, "\(path) must list at least one hostname")
            return nil
        }
        var seen = Set<String>()
        let items: [Node]
        if case .sequence(let sequence)? = node { items = Array(sequence) } else { items = [] }
        for (index, host) in hosts.enumerated() where !seen.insert(host).inserted {
            reader.error("duplicate-host", index < items.count ? items[index] : node, "\(path) lists \"\(host)\" twice")
        }
        return hosts
    }

    static func decodeDomain(name: String, spec: Node, reader: NodeReader) -> Domain? {
        guard let fields = reader.mapping(spec, path: "spec", allowed: ["hosts", "tls", "redirectHTTP", "acme", "hsts"], required: ["hosts"]) else { return nil }
        let hosts = decodeHosts(fields["hosts"], path: "spec.hosts", reader: reader, allowWildcard: true)
        let tls = fields["tls"].map { reader.enumeration($0, path: "spec.tls", as: Domain.TLSMode.self) } ?? .acme
        let redirect = reader.bool(fields["redirectHTTP"], path: "spec.redirectHTTP")
        if redirect == true, tls == Domain.TLSMode.none {
            reader.error("conflict", fields["redirectHTTP"], "spec.redirectHTTP is true but spec.tls is none: there is no HTTPS to redirect to",
                         hint: "set tls to acme or self-signed, or drop redirectHTTP")
        }
        var failed = false
        var acme: Domain.ACMESettings?
        if let node = fields["acme"] {
            if let tls, tls != .acme {
                reader.error("conflict", node, "spec.acme is set but spec.tls is \(tls.rawValue): ACME settings only apply to tls: acme",
                             hint: "set tls to acme, or drop spec.acme")
                failed = true
            }
            if let decoded = decodeACME(node, reader: reader) { acme = decoded } else { failed = true }
        }
        var hsts: Domain.HSTS?
        if let node = fields["hsts"] {
            if tls == Domain.TLSMode.none {
                reader.error("conflict", node, "spec.hsts is set but spec.tls is none: HSTS is only sent over HTTPS",
                             hint: "set tls to acme or self-signed, or drop spec.hsts")
                failed = true
            }
            if let decoded = decodeHSTS(node, reader: reader) { hsts = decoded } else { failed = true }
        }
        guard let hosts, let tls, !failed else { return nil }
        return Domain(name: name, hosts: hosts, tls: tls, redirectHTTP: redirect, acme: acme, hsts: hsts)
    }

    static func decodeACME(_ node: Node, reader: NodeReader) -> Domain.ACMESettings? {
        guard let fields = reader.mapping(node, path: "spec.acme", allowed: ["directory", "email"]) else { return nil }
        var failed = false
        let directory = reader.string(fields["directory"], path: "spec.acme.directory")
        if let directory {
            if let problem = Formats.checkHTTPURL(directory) {
                reader.error("invalid-url", fields["directory"], "spec.acme.directory: \"\(directory)\" \(problem)")
                failed = true
            } else if !directory.lowercased().hasPrefix("https://") {
                reader.error("invalid-url", fields["directory"], "spec.acme.directory: \"\(directory)\" must use https:// (RFC 8555 §6.1)")
                failed = true
            }
        }
        let email = reader.string(fields["email"], path: "spec.acme.email")
        if let email, let problem = Formats.checkEmail(email) {
            reader.error("invalid-email", fields["email"], "spec.acme.email: \"\(email)\" \(problem)")
            failed = true
        }
        if fields["directory"] != nil && directory == nil || fields["email"] != nil && email == nil { failed = true }
        return failed ? nil : Domain.ACMESettings(directory: directory, email: email)
    }

    /// At most two years: browsers cap it there anyway, and a typo of extra digits would pin clients for decades.
    static let hstsMaxAge = 0...63_072_000

    static func decodeHSTS(_ node: Node, reader: NodeReader) -> Domain.HSTS? {
        guard let fields = reader.mapping(node, path: "spec.hsts", allowed: ["maxAge", "includeSubdomains", "preload"], required: ["maxAge"]) else { return nil }
        let maxAge = reader.int(fields["maxAge"], path: "spec.hsts.maxAge", range: hstsMaxAge)
        let include = reader.bool(fields["includeSubdomains"], path: "spec.hsts.includeSubdomains")
        let preload = reader.bool(fields["preload"], path: "spec.hsts.preload")
        if fields["includeSubdomains"] != nil && include == nil || fields["preload"] != nil && preload == nil { return nil }
        guard let maxAge else { return nil }
        if preload == true, maxAge < 31_536_000 || include != true {
            reader.error("conflict", fields["preload"], "spec.hsts.preload needs maxAge of at least 31536000 and includeSubdomains: true (hstspreload.org rules)")
            return nil
        }
        return Domain.HSTS(maxAge: maxAge, includeSubdomains: include ?? false, preload: preload ?? false)
    }
}

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
        guard let fields = reader.mapping(spec, path: "spec", allowed: ["hosts", "tls", "redirectHTTP"], required: ["hosts"]) else { return nil }
        let hosts = decodeHosts(fields["hosts"], path: "spec.hosts", reader: reader, allowWildcard: true)
        let tls = fields["tls"].map { reader.enumeration($0, path: "spec.tls", as: Domain.TLSMode.self) } ?? .acme
        let redirect = reader.bool(fields["redirectHTTP"], path: "spec.redirectHTTP")
        if redirect == true, tls == Domain.TLSMode.none {
            reader.error("conflict", fields["redirectHTTP"], "spec.redirectHTTP is true but spec.tls is none: there is no HTTPS to redirect to",
                         hint: "set tls to acme or self-signed, or drop redirectHTTP")
        }
        guard let hosts, let tls else { return nil }
        return Domain(name: name, hosts: hosts, tls: tls, redirectHTTP: redirect)
    }
}

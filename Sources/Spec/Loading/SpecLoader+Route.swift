import Yams

extension SpecLoader {
    static let httpMethods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"]

    static func decodeRoute(name: String, spec: Node, reader: NodeReader) -> Route? {
        guard let fields = reader.mapping(spec, path: "spec",
                                          allowed: ["domain", "hosts", "path", "pathType", "methods", "priority", "to", "auth", "stripPrefix"],
                                          required: ["to"]) else { return nil }
        let domain = reader.string(fields["domain"], path: "spec.domain")
        var hosts: [String] = []
        if fields["domain"] != nil, fields["hosts"] != nil {
            reader.error("conflict", fields["hosts"], "spec.domain and spec.hosts are both set", hint: "a route names a Domain or lists hosts, not both")
        } else if fields["domain"] == nil, fields["hosts"] == nil {
            reader.error("missing-field", spec, "spec.domain or spec.hosts is required", hint: "name a Domain (`domain: shop`) or list hosts")
        }
        if fields["hosts"] != nil {
            hosts = decodeHosts(fields["hosts"], path: "spec.hosts", reader: reader, allowWildcard: true) ?? []
        }
        let pathType = fields["pathType"].map { reader.enumeration($0, path: "spec.pathType", as: Route.PathType.self) } ?? .prefix
        let path = fields["path"].map { reader.string($0, path: "spec.path") } ?? "/"
        if let path, let pathType {
            let problem = pathType == .regex ? Formats.checkRegex(path) : Formats.checkPath(path)
            if let problem {
                reader.error(pathType == .regex ? "invalid-regex" : "invalid-path", fields["path"], "spec.path \"\(path)\" \(problem)")
            }
        }
        let methods = reader.sequence(fields["methods"], path: "spec.methods") { child, childPath -> String? in
            guard let method = reader.string(child, path: childPath) else { return nil }
            let upper = method.uppercased()
            guard httpMethods.contains(upper) else {
                reader.error("invalid-value", child, "\(childPath): \"\(method)\" is not an HTTP method",
                             hint: Suggestion.closest(to: upper, in: httpMethods).map { "did you mean \"\($0)\"?" }
                                 ?? "methods are \(httpMethods.joined(separator: ", "))")
                return nil
            }
            return upper
        }
        if let methods, Set(methods).count != methods.count {
            reader.error("duplicate-value", fields["methods"], "spec.methods lists a method twice")
        }
        let priority = fields["priority"].map { reader.int($0, path: "spec.priority", range: -1_000_000...1_000_000) } ?? 0
        let stripPrefix = fields["stripPrefix"].map { reader.bool($0, path: "spec.stripPrefix") } ?? false
        if stripPrefix == true, let pathType, pathType != .prefix {
            reader.error("conflict", fields["stripPrefix"], "spec.stripPrefix needs pathType prefix, not \(pathType.rawValue)")
        }
        let auth = reader.string(fields["auth"], path: "spec.auth")
        let target = fields["to"].flatMap { decodeTarget($0, reader: reader) }
        guard let path, let pathType, let priority, let stripPrefix, let target,
              fields["domain"] != nil || !hosts.isEmpty, !(fields["domain"] != nil && fields["hosts"] != nil) else { return nil }
        // Method order carries no meaning; sorting keeps the spec hash stable under reordering.
        return Route(name: name, domain: domain, hosts: hosts, path: path, pathType: pathType, methods: (methods ?? []).sorted(),
                     priority: priority, to: target, auth: auth, stripPrefix: stripPrefix)
    }

    static func decodeTarget(_ node: Node, reader: NodeReader) -> Route.Target? {
        guard let fields = reader.mapping(node, path: "spec.to", allowed: ["instance", "port", "url"]) else { return nil }
        switch (fields["instance"], fields["url"]) {
        case (let instance?, nil):
            guard let name = reader.string(instance, path: "spec.to.instance") else { return nil }
            return .instance(name: name, port: reader.string(fields["port"], path: "spec.to.port"))
        case (nil, let url?):
            if fields["port"] != nil {
                reader.error("conflict", fields["port"], "spec.to.port applies to an instance; put the port in the url instead")
            }
            guard let text = reader.string(url, path: "spec.to.url") else { return nil }
            if let problem = Formats.checkHTTPURL(text) {
                reader.error("invalid-url", url, "spec.to.url \"\(text)\" \(problem)")
                return nil
            }
            if let query = text.firstIndex(of: "?") {
                _ = query
                reader.error("invalid-url", url, "spec.to.url must not have a query string")
                return nil
            }
            return fields["port"] == nil ? .url(text) : nil
        case (_?, _?):
            reader.error("conflict", node, "spec.to has both instance and url", hint: "an upstream is either an instance or a url")
            return nil
        case (nil, nil):
            reader.error("missing-field", node, "spec.to needs instance or url")
            return nil
        }
    }
}

// Canonical JSON forms of each kind's spec, and their inverse for specs read back from the
// inventory. Field names follow the YAML format, so plan `before`/`after` read like the repository.

private func field<T>(_ value: T?, _ name: String) throws -> T {
    guard let value else { throw CanonicalDecodingError(field: name) }
    return value
}

private func strings(_ value: JSONValue?) -> [String] { value?.arrayValue?.compactMap(\.stringValue) ?? [] }

extension Domain {
    /// `acme` and `hsts` appear only when set, so Domains that do not use them keep the hash they
    /// had before those fields existed (no spurious update on upgrade).
    public var canonicalSpec: JSONValue {
        var object: [String: JSONValue] = ["hosts": .array(hosts.map(JSONValue.string)), "tls": .string(tls.rawValue), "redirectHTTP": .bool(redirectHTTP)]
        if let acme {
            var value: [String: JSONValue] = [:]
            if let directory = acme.directory { value["directory"] = .string(directory) }
            if let email = acme.email { value["email"] = .string(email) }
            object["acme"] = .object(value)
        }
        if let hsts {
            object["hsts"] = .object(["maxAge": .int(hsts.maxAge), "includeSubdomains": .bool(hsts.includeSubdomains), "preload": .bool(hsts.preload)])
        }
        return .object(object)
    }

    init(name: String, canonical spec: JSONValue) throws {
        let acme = spec["acme"].map { ACMESettings(directory: $0["directory"]?.stringValue, email: $0["email"]?.stringValue) }
        let hsts = try spec["hsts"].map { value in
            HSTS(maxAge: try field(value["maxAge"]?.intValue, "hsts.maxAge"), includeSubdomains: value["includeSubdomains"]?.boolValue ?? false,
                 preload: value["preload"]?.boolValue ?? false)
        }
        self.init(name: name, hosts: strings(spec["hosts"]),
                  tls: try field(spec["tls"]?.stringValue.flatMap(TLSMode.init(rawValue:)), "tls"),
                  redirectHTTP: try field(spec["redirectHTTP"]?.boolValue, "redirectHTTP"), acme: acme, hsts: hsts)
    }
}

extension Route {
    public var canonicalSpec: JSONValue {
        var object: [String: JSONValue] = [
            "path": .string(path), "pathType": .string(pathType.rawValue),
            "methods": .array(methods.map(JSONValue.string)), "priority": .int(priority),
            "stripPrefix": .bool(stripPrefix),
        ]
        if let domain { object["domain"] = .string(domain) } else { object["hosts"] = .array(hosts.map(JSONValue.string)) }
        switch to {
        case .instance(let name, let port):
            var target: [String: JSONValue] = ["instance": .string(name)]
            if let port { target["port"] = .string(port) }
            object["to"] = .object(target)
        case .url(let url):
            object["to"] = .object(["url": .string(url)])
        }
        if let auth { object["auth"] = .string(auth) }
        return .object(object)
    }

    init(name: String, canonical spec: JSONValue) throws {
        let target: Target
        if let instance = spec["to"]?["instance"]?.stringValue {
            target = .instance(name: instance, port: spec["to"]?["port"]?.stringValue)
        } else {
            target = .url(try field(spec["to"]?["url"]?.stringValue, "to"))
        }
        self.init(name: name, domain: spec["domain"]?.stringValue, hosts: strings(spec["hosts"]),
                  path: try field(spec["path"]?.stringValue, "path"),
                  pathType: try field(spec["pathType"]?.stringValue.flatMap(PathType.init(rawValue:)), "pathType"),
                  methods: strings(spec["methods"]), priority: spec["priority"]?.intValue ?? 0, to: target,
                  auth: spec["auth"]?.stringValue, stripPrefix: spec["stripPrefix"]?.boolValue ?? false)
    }
}

extension AuthPolicy {
    /// `identityHeaders` appears only when set (and then only the names given), so policies that
    /// do not use it keep the hash they had before the field existed.
    public var canonicalSpec: JSONValue {
        var object: [String: JSONValue] = ["ipAllow": .array(ipAllow.map(JSONValue.string))]
        switch mechanism {
        case .bearer(let tokens)?:
            object["bearer"] = .object(["tokens": .array(tokens.map {
                .object(["name": .string($0.name), "sha256": .string($0.sha256)])
            })])
        case .basic(let users)?:
            object["basic"] = .object(["users": .array(users.map {
                .object(["name": .string($0.name), "bcrypt": .string($0.bcrypt)])
            })])
        case .jwt(let jwt)?:
            object["jwt"] = .object([
                "issuer": .string(jwt.issuer), "audiences": .array(jwt.audiences.map(JSONValue.string)),
                "jwksURL": .string(jwt.jwksURL), "requiredScopes": .array(jwt.requiredScopes.map(JSONValue.string)),
            ])
        case .forward(let forward)?:
            object["forward"] = .object(["url": .string(forward.url), "copyHeaders": .array(forward.copyHeaders.map(JSONValue.string))])
        case nil:
            break
        }
        if let identityHeaders {
            var headers: [String: JSONValue] = [:]
            if let user = identityHeaders.user { headers["user"] = .string(user) }
            if let scopes = identityHeaders.scopes { headers["scopes"] = .string(scopes) }
            object["identityHeaders"] = .object(headers)
        }
        return .object(object)
    }

    init(name: String, canonical spec: JSONValue) throws {
        var mechanism: Mechanism?
        if let bearer = spec["bearer"] {
            mechanism = .bearer(bearer["tokens"]?.arrayValue?.compactMap { token in
                guard let name = token["name"]?.stringValue, let hash = token["sha256"]?.stringValue else { return nil }
                return BearerToken(name: name, sha256: hash)
            } ?? [])
        } else if let basic = spec["basic"] {
            mechanism = .basic(basic["users"]?.arrayValue?.compactMap { user in
                guard let name = user["name"]?.stringValue, let hash = user["bcrypt"]?.stringValue else { return nil }
                return BasicUser(name: name, bcrypt: hash)
            } ?? [])
        } else if let jwt = spec["jwt"] {
            mechanism = .jwt(JWT(issuer: try field(jwt["issuer"]?.stringValue, "jwt.issuer"), audiences: strings(jwt["audiences"]),
                                 jwksURL: try field(jwt["jwksURL"]?.stringValue, "jwt.jwksURL"),
                                 requiredScopes: strings(jwt["requiredScopes"])))
        } else if let forward = spec["forward"] {
            mechanism = .forward(Forward(url: try field(forward["url"]?.stringValue, "forward.url"),
                                         copyHeaders: strings(forward["copyHeaders"])))
        }
        let identityHeaders = spec["identityHeaders"].map {
            IdentityHeaders(user: $0["user"]?.stringValue, scopes: $0["scopes"]?.stringValue)
        }
        self.init(name: name, mechanism: mechanism, ipAllow: strings(spec["ipAllow"]), identityHeaders: identityHeaders)
    }
}

extension Instance {
    public var canonicalSpec: JSONValue {
        var object = templateSpec
        object["replicas"] = .int(replicas)
        return .object(object)
    }

    /// Everything but `replicas`: what a single replica is. A change here replaces the replicas; a
    /// change of `replicas` alone scales them.
    public var templateSpec: [String: JSONValue] {
        var object: [String: JSONValue] = [
            "runtime": .string(runtime.rawValue),
            "command": .array(command.map(JSONValue.string)),
            "env": .object(env.mapValues(JSONValue.string)),
            "ports": .array(ports.map { port in
                var value: [String: JSONValue] = ["name": .string(port.name)]
                if let containerPort = port.containerPort { value["containerPort"] = .int(containerPort) }
                return .object(value)
            }),
        ]
        if let image { object["image"] = .string(image) }
        if let health {
            var value: [String: JSONValue] = ["path": .string(health.path),
                                              "interval": .string(Duration.format(milliseconds: health.intervalMilliseconds)),
                                              "timeout": .string(Duration.format(milliseconds: health.timeoutMilliseconds))]
            // Fields added later appear only when set, so templates written before keep their hash.
            if health.successes != Health.defaultSuccesses { value["successes"] = .int(health.successes) }
            if health.startTimeoutMilliseconds != Health.defaultStartTimeoutMilliseconds {
                value["startTimeout"] = .string(Duration.format(milliseconds: health.startTimeoutMilliseconds))
            }
            if let restartAfter = health.restartAfter { value["restartAfter"] = .int(restartAfter) }
            object["health"] = .object(value)
        }
        if bindAddress != Instance.defaultBindAddress { object["bindAddress"] = .string(bindAddress) }
        if restart != .unlessStopped { object["restart"] = .string(restart.rawValue) }
        if security.readOnlyRootFilesystem { object["readOnlyRootFilesystem"] = .bool(true) }
        if !security.dropCapabilities.isEmpty { object["dropCapabilities"] = .array(security.dropCapabilities.map(JSONValue.string)) }
        if let resources {
            var value: [String: JSONValue] = [:]
            if let memory = resources.memoryBytes { value["memory"] = .int(memory) }
            if let cpus = resources.milliCPUs { value["cpus"] = .string(Quantity.formatMilliCPUs(cpus)) }
            object["resources"] = .object(value)
        }
        return object
    }

    /// First 12 hex digits of the SHA-256 of `templateSpec`: names the generation of replicas
    /// (port-lease owners, later container names) so a replace never collides with what runs.
    public var templateHash: String {
        String(SHA256.hex(JSONValue.object(templateSpec).canonicalBytes).prefix(12))
    }

    init(name: String, canonical spec: JSONValue) throws {
        let health: Health? = try spec["health"].map { value in
            Health(path: try field(value["path"]?.stringValue, "health.path"),
                   intervalMilliseconds: try field(value["interval"]?.stringValue.flatMap(Duration.parseMilliseconds), "health.interval"),
                   timeoutMilliseconds: try field(value["timeout"]?.stringValue.flatMap(Duration.parseMilliseconds), "health.timeout"),
                   successes: value["successes"]?.intValue ?? Health.defaultSuccesses,
                   startTimeoutMilliseconds: value["startTimeout"]?.stringValue.flatMap(Duration.parseMilliseconds) ?? Health.defaultStartTimeoutMilliseconds,
                   restartAfter: value["restartAfter"]?.intValue)
        }
        let resources: Resources? = spec["resources"].map { value in
            Resources(memoryBytes: value["memory"]?.intValue,
                      milliCPUs: value["cpus"]?.stringValue.flatMap(Quantity.parseMilliCPUs))
        }
        self.init(name: name,
                  runtime: try field(spec["runtime"]?.stringValue.flatMap(Runtime.init(rawValue:)), "runtime"),
                  image: spec["image"]?.stringValue, command: strings(spec["command"]),
                  env: spec["env"]?.objectValue?.compactMapValues(\.stringValue) ?? [:],
                  ports: spec["ports"]?.arrayValue?.compactMap { port in
                      port["name"]?.stringValue.map { Port(name: $0, containerPort: port["containerPort"]?.intValue) }
                  } ?? [],
                  replicas: spec["replicas"]?.intValue ?? 1, health: health, resources: resources,
                  bindAddress: spec["bindAddress"]?.stringValue ?? Instance.defaultBindAddress,
                  restart: spec["restart"]?.stringValue.flatMap(RestartPolicy.init(rawValue:)) ?? .unlessStopped,
                  security: Security(readOnlyRootFilesystem: spec["readOnlyRootFilesystem"]?.boolValue ?? false,
                                     dropCapabilities: strings(spec["dropCapabilities"])))
    }
}

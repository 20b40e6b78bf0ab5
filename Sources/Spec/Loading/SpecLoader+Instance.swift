import Yams

extension SpecLoader {
    static func decodeInstance(name: String, spec: Node, reader: NodeReader) -> Instance? {
        guard let fields = reader.mapping(spec, path: "spec",
                                          allowed: ["runtime", "image", "command", "env", "ports", "replicas", "health", "resources",
                                                    "bindAddress", "restart", "readOnlyRootFilesystem", "dropCapabilities"]) else { return nil }
        var failed = false
        let runtime = fields["runtime"].map { reader.enumeration($0, path: "spec.runtime", as: Instance.Runtime.self) } ?? .docker
        let image = reader.string(fields["image"], path: "spec.image")
        if let image, image.isEmpty || image.contains(where: { $0.isWhitespace }) {
            reader.error("invalid-value", fields["image"], "spec.image \"\(image)\" is not an image reference"); failed = true
        }
        let command: [String]?
        if case .scalar? = fields["command"] {
            reader.error("wrong-type", fields["command"], "spec.command must be a list of arguments",
                         hint: "write it as a list, e.g. [\"python3\", \"-m\", \"http.server\"], so no shell splits it")
            command = nil
        } else {
            command = fields["command"].map { reader.stringList($0, path: "spec.command") } ?? []
        }
        switch runtime {
        case .docker?:
            if image == nil, fields["image"] == nil {
                reader.error("missing-field", spec, "missing required field \"spec.image\" (the docker runtime runs an image)")
            }
        case .process?:
            if fields["image"] != nil {
                reader.error("conflict", fields["image"], "spec.image applies to the docker runtime, not process")
            }
            if let command, command.isEmpty {
                reader.error("missing-field", fields["command"] ?? spec, "the process runtime needs spec.command (the program and its arguments)")
            }
        case nil: break
        }
        let env = reader.stringMap(fields["env"], path: "spec.env") ?? [:]
        for key in env.keys.sorted() {
            let at = reader.fieldLocations["spec.env.\(key)"]
            if let problem = Formats.checkEnvName(key) {
                reader.error("invalid-value", at: at, fallback: fields["env"], "spec.env: \"\(key)\" \(problem)"); failed = true
            } else if key == "PORT" || key.hasPrefix("PORT_") {
                reader.error("reserved-name", at: at, fallback: fields["env"],
                             "spec.env: \"\(key)\" is reserved: Berth sets PORT and PORT_<NAME> to the allocated ports")
                failed = true
            }
        }
        let ports = reader.sequence(fields["ports"], path: "spec.ports") { child, path -> Instance.Port? in
            guard let entry = reader.mapping(child, path: path, allowed: ["name", "containerPort"], required: ["name"]),
                  let portName = reader.string(entry["name"], path: "\(path).name") else { return nil }
            if portName.count > 15 {
                reader.error("invalid-name", entry["name"], "\(path).name \"\(portName)\" is longer than 15 characters"); return nil
            }
            if let problem = Formats.checkName(portName) {
                reader.error("invalid-name", entry["name"], "\(path).name \"\(portName)\" \(problem)"); return nil
            }
            let containerPort = reader.int(entry["containerPort"], path: "\(path).containerPort", range: 1...65535)
            if entry["containerPort"] != nil, containerPort == nil { return nil }
            if runtime == .docker, entry["containerPort"] == nil {
                reader.error("missing-field", child, "\(path).containerPort is required for the docker runtime"); return nil
            }
            if runtime == .process, entry["containerPort"] != nil {
                reader.error("conflict", entry["containerPort"], "\(path).containerPort applies to the docker runtime",
                             hint: "a process listens on the port Berth allocates, given to it in PORT_\(portName.uppercased().replacingOccurrences(of: "-", with: "_"))")
                return nil
            }
            return Instance.Port(name: portName, containerPort: containerPort)
        }
        if let ports {
            var names = Set<String>(), containerPorts = Set<Int>()
            for port in ports {
                if !names.insert(port.name).inserted {
                    reader.error("duplicate-value", fields["ports"], "spec.ports names \"\(port.name)\" twice"); failed = true
                }
                if let value = port.containerPort, !containerPorts.insert(value).inserted {
                    reader.error("duplicate-value", fields["ports"], "spec.ports lists containerPort \(value) twice"); failed = true
                }
            }
        }
        let replicas = fields["replicas"].map { reader.int($0, path: "spec.replicas", range: 0...100) } ?? 1
        let health = fields["health"].flatMap { decodeHealth($0, reader: reader) }
        let resources = fields["resources"].flatMap { decodeResources($0, reader: reader) }
        if (fields["health"] != nil && health == nil) || (fields["resources"] != nil && resources == nil) { failed = true }

        // Container settings: only the docker runtime has them.
        if runtime == .process {
            for key in ["bindAddress", "restart", "readOnlyRootFilesystem", "dropCapabilities"] where fields[key] != nil {
                reader.error("conflict", fields[key], "spec.\(key) applies to the docker runtime, not process",
                             hint: key == "bindAddress" ? "a process binds where its command says; pass \"$PORT_<NAME>\" with the address you want" : nil)
                failed = true
            }
        }
        var bindAddress = Instance.defaultBindAddress
        if let node = fields["bindAddress"], let text = reader.string(node, path: "spec.bindAddress") {
            if CIDR.parseAddress(text) != nil {
                bindAddress = text
            } else {
                reader.error("invalid-value", node, "spec.bindAddress \"\(text)\" is not an IP address",
                             hint: "127.0.0.1 (the default) keeps the ports reachable from this host only; 0.0.0.0 publishes them on every interface")
                failed = true
            }
        } else if fields["bindAddress"] != nil { failed = true }
        let restart = fields["restart"].map { reader.enumeration($0, path: "spec.restart", as: Instance.RestartPolicy.self) } ?? .unlessStopped
        let readOnly = fields["readOnlyRootFilesystem"].map { reader.bool($0, path: "spec.readOnlyRootFilesystem") } ?? false
        var drop: [String] = []
        if let node = fields["dropCapabilities"] {
            if let list = reader.stringList(node, path: "spec.dropCapabilities") {
                for raw in list {
                    let name = raw.uppercased().hasPrefix("CAP_") ? String(raw.uppercased().dropFirst(4)) : raw.uppercased()
                    if name.isEmpty || !name.allSatisfy({ $0 == "_" || ("A"..."Z").contains($0) }) {
                        reader.error("invalid-value", node, "spec.dropCapabilities: \"\(raw)\" is not a capability name",
                                     hint: "write names such as ALL, NET_RAW, SYS_ADMIN")
                        failed = true
                    } else if !drop.contains(name) {
                        drop.append(name)
                    }
                }
            } else { failed = true }
        }
        guard !failed, let runtime, let command, let replicas, let restart, let readOnly,
              fields["ports"] == nil || ports != nil else { return nil }
        return Instance(name: name, runtime: runtime, image: image, command: command, env: env, ports: ports ?? [],
                        replicas: replicas, health: health, resources: resources, bindAddress: bindAddress, restart: restart,
                        security: Instance.Security(readOnlyRootFilesystem: readOnly, dropCapabilities: drop))
    }

    static func decodeHealth(_ node: Node, reader: NodeReader) -> Instance.Health? {
        guard let fields = reader.mapping(node, path: "spec.health", allowed: ["path", "interval", "timeout", "successes", "startTimeout", "restartAfter"],
                                          required: ["path"]) else { return nil }
        let path = reader.string(fields["path"], path: "spec.health.path")
        if let path, let problem = Formats.checkPath(path) {
            reader.error("invalid-path", fields["path"], "spec.health.path \"\(path)\" \(problem)"); return nil
        }
        func duration(_ key: String, default value: Int) -> Int? {
            guard let node = fields[key] else { return value }
            guard let text = reader.string(node, path: "spec.health.\(key)") else { return nil }
            guard let milliseconds = Duration.parseMilliseconds(text), milliseconds > 0 else {
                reader.error("invalid-duration", node, "spec.health.\(key) \"\(text)\" is not a duration",
                             hint: "write a number and a unit: 500ms, 5s, 1m")
                return nil
            }
            return milliseconds
        }
        let interval = duration("interval", default: 10_000)
        // The default timeout never exceeds the interval, so `interval: 1s` alone is valid.
        let timeout = duration("timeout", default: min(2_000, interval ?? 2_000))
        if let interval, let timeout, timeout > interval {
            reader.error("conflict", fields["timeout"], "spec.health.timeout (\(Duration.format(milliseconds: timeout))) is longer than the interval (\(Duration.format(milliseconds: interval)))",
                         hint: "a check must end before the next one starts")
            return nil
        }
        let successes = fields["successes"].map { reader.int($0, path: "spec.health.successes", range: 1...10) } ?? Instance.Health.defaultSuccesses
        let startTimeout = duration("startTimeout", default: Instance.Health.defaultStartTimeoutMilliseconds)
        if let startTimeout, startTimeout > 3_600_000 {
            reader.error("out-of-range", fields["startTimeout"], "spec.health.startTimeout (\(Duration.format(milliseconds: startTimeout))) is longer than 1h",
                         hint: "a rollout waits this long for a new replica before rolling back; a few minutes is plenty for most programs")
            return nil
        }
        // At 3 failures a replica already leaves the route table; a restart before that would cut
        // one that a single slow answer had put off its stride.
        let restartAfter: Int?? = fields["restartAfter"].map { node in
            reader.int(node, path: "spec.health.restartAfter", range: 3...1000,
                       hint: "failed checks in a row before a running replica is restarted; 3 or more (it leaves the route table at 3)")
        }
        guard let path, let interval, let timeout, let successes, let startTimeout else { return nil }
        if case .some(.none) = restartAfter { return nil }
        return Instance.Health(path: path, intervalMilliseconds: interval, timeoutMilliseconds: timeout,
                               successes: successes, startTimeoutMilliseconds: startTimeout, restartAfter: restartAfter ?? nil)
    }

    static func decodeResources(_ node: Node, reader: NodeReader) -> Instance.Resources? {
        guard let fields = reader.mapping(node, path: "spec.resources", allowed: ["memory", "cpus"]) else { return nil }
        var failed = false
        var memory: Int?
        if let node = fields["memory"], let text = reader.string(node, path: "spec.resources.memory") {
            if let bytes = Quantity.parseBytes(text), bytes >= 4 << 20 {
                memory = bytes
            } else {
                reader.error("invalid-value", node, "spec.resources.memory \"\(text)\" is not a memory size of at least 4Mi",
                             hint: "write bytes with an optional unit: 256Mi, 1Gi, 512M")
                failed = true
            }
        } else if fields["memory"] != nil { failed = true }
        var cpus: Int?
        if let node = fields["cpus"], let text = reader.string(node, path: "spec.resources.cpus") {
            if let milli = Quantity.parseMilliCPUs(text) {
                cpus = milli
            } else {
                reader.error("invalid-value", node, "spec.resources.cpus \"\(text)\" is not a CPU count", hint: "write a positive number such as 0.5 or 2")
                failed = true
            }
        } else if fields["cpus"] != nil { failed = true }
        return failed ? nil : Instance.Resources(memoryBytes: memory, milliCPUs: cpus)
    }
}

extension RedisConnection {
    /// AUTH, SELECT and PING in one round trip, each failure explained; closes the connection on failure.
    func handshake() throws {
        var commands: [[String]] = []
        if url.username != nil || url.password != nil {
            commands.append(["AUTH"] + [url.username].compactMap { $0 } + [url.password ?? ""])
        }
        if url.database != 0 { commands.append(["SELECT", String(url.database)]) }
        commands.append(["PING"])
        let replies = try pipelineUnlocked(commands.map { ArgumentVector(strings: $0) })
        for (command, reply) in zip(commands, replies) {
            guard case .error(let text) = reply else { continue }
            let code = RedisError.code(ofReply: text)
            let message: String
            switch (command[0], code) {
            case (_, "NOAUTH"):
                message = "Redis at \(url.endpoint) requires a password (\(text)): put it in the URL, e.g. "
                    + exampleURLWithPassword()
            case ("AUTH", _):
                let who = url.username.map { " as user \"\($0)\"" } ?? ""
                message = "authentication to Redis at \(url.endpoint)\(who) failed: \(text)"
            case ("SELECT", _):
                message = "cannot select database \(url.database) on Redis at \(url.endpoint): \(text)"
            default:
                message = "Redis at \(url.endpoint) rejected \(command[0]) while connecting: \(text)"
            }
            closeUnlocked(reason: message)
            throw RedisError(kind: .connect, message: message, serverCode: code)
        }
    }

    private func exampleURLWithPassword() -> String {
        switch url.endpoint {
        case .tcp:
            return "redis://:PASSWORD@\(url.endpoint)/\(url.database)"
        case .unix(let path):
            return "unix://\(path)?db=\(url.database)&password=PASSWORD"
        }
    }
}

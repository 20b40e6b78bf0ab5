import CHiredis

extension RedisConnection {
    /// Runs a Lua script with EVALSHA. The script is loaded with SCRIPT LOAD the first time this connection runs it
    /// and again when the server answers NOSCRIPT (after SCRIPT FLUSH or a restart), then retried once, so the
    /// script runs exactly once per call.
    ///
    /// - Returns: the script's reply converted as for `send(_:)`.
    /// - Throws: an error raised by the script (`redis.error_reply('LEASE_LOST held by x')`) as
    ///   `RedisError(kind: .server)` with `serverCode` `LEASE_LOST`; otherwise as `send(_:)`.
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [String]) throws -> RedisValue {
        try lock.withLock {
            if let sha = scriptHashes[script.source] {
                let value = try sendUnlocked(evalsha(sha, keys: keys, arguments: arguments))
                guard case .error(let text) = value, RedisError.code(ofReply: text) == "NOSCRIPT" else {
                    return try value.orThrow()
                }
            }
            let loaded = try sendUnlocked(ArgumentVector(strings: ["SCRIPT", "LOAD", script.source])).orThrow()
            guard let sha = loaded.string else {
                throw RedisError(kind: .protocolViolation, message: "SCRIPT LOAD on Redis at \(url.endpoint) "
                    + "answered \(loaded) instead of a SHA1")
            }
            scriptHashes[script.source] = sha
            return try sendUnlocked(evalsha(sha, keys: keys, arguments: arguments)).orThrow()
        }
    }

    private func evalsha(_ sha: String, keys: [String], arguments: [String]) -> ArgumentVector {
        var parts: [String] = ["EVALSHA", sha, String(keys.count)]
        parts.reserveCapacity(3 + keys.count + arguments.count)
        parts += keys
        parts += arguments
        return ArgumentVector(strings: parts)
    }
}

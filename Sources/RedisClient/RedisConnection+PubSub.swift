import CHiredis
#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension RedisConnection {
    /// Subscribes to `channels` and waits for the server to confirm each one. From then on the connection is in
    /// pub/sub mode: it only receives messages (`nextMessage(timeout:)`); `send`, `pipeline` and `evaluate` throw
    /// `.protocolViolation`. Calling it again adds channels. To leave pub/sub mode, close the connection.
    public func subscribe(_ channels: [String]) throws {
        guard !channels.isEmpty else { return }
        try lock.withLock {
            let context = try liveContext()
            let command = ArgumentVector(strings: ["SUBSCRIBE"] + channels)
            let status = command.withCArguments { argc, argv, argvlen in
                redisAppendCommandArgv(context, argc, argv, argvlen)
            }
            guard status == REDIS_OK else { throw failure(of: context, savedErrno: errno, doing: "subscribing") }
            // One confirmation per channel, possibly after messages on channels subscribed earlier.
            var confirmed = 0
            while confirmed < channels.count {
                let reply = try readReplyUnlocked(context)
                if let message = Self.message(in: reply) {
                    pendingMessages.append(message)
                } else if let kind = reply.array?.first?.string, kind == "subscribe" {
                    confirmed += 1
                } else {
                    let error = RedisError(kind: .protocolViolation, message: "Redis at \(url.endpoint) answered "
                        + "SUBSCRIBE with \(reply) instead of a confirmation; the connection was closed")
                    closeUnlocked(reason: error.message)
                    throw error
                }
            }
            subscribedChannels.formUnion(channels)
        }
    }

    /// Waits up to `timeout` for the next message on a subscribed channel.
    ///
    /// Messages are returned in the order the server sent them. Returns nil when none arrives in time; the
    /// connection stays usable (hiredis's socket timeout is not involved: the wait is a `poll(2)`). A `timeout` of
    /// zero only returns what has already arrived.
    /// - Throws: `.protocolViolation` if `subscribe(_:)` was not called; `.io` when the server goes away (the
    ///   connection is then closed).
    public func nextMessage(timeout: Duration) throws -> (channel: String, payload: [UInt8])? {
        try lock.withLock {
            let context = try liveContext()
            guard !subscribedChannels.isEmpty else {
                throw RedisError(kind: .protocolViolation, message: "nextMessage(timeout:) needs a subscription: "
                    + "call subscribe(_:) on this connection first")
            }
            if !pendingMessages.isEmpty { return pendingMessages.removeFirst() }
            let deadline = ContinuousClock.now.advanced(by: timeout)
            while true {
                var reply: UnsafeMutableRawPointer?
                guard redisGetReplyFromReader(context, &reply) == REDIS_OK else {
                    throw failure(of: context, savedErrno: errno, doing: "reading a message")
                }
                if let reply {
                    defer { freeReplyObject(reply) }
                    let value = try RedisValue(copying: reply.assumingMemoryBound(to: redisReply.self))
                    if let message = Self.message(in: value) { return message }
                    continue // a late (un)subscribe confirmation or a PONG
                }
                let remaining = ContinuousClock.now.duration(to: deadline)
                var descriptor = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
                let ready = poll(&descriptor, 1, Int32(remaining.roundedUpMilliseconds))
                if ready == 0 { return nil }
                if ready < 0 {
                    let code = errno
                    if code == EINTR { continue }
                    throw failure(of: context, savedErrno: code, doing: "waiting for a message")
                }
                if redisBufferRead(context) != REDIS_OK {
                    throw failure(of: context, savedErrno: errno, doing: "reading a message")
                }
            }
        }
    }

    /// The channel and payload of a `message` (or `pmessage`) push, nil for anything else.
    static func message(in value: RedisValue) -> (channel: String, payload: [UInt8])? {
        guard let parts = value.array, let kind = parts.first?.string else { return nil }
        switch (kind, parts.count) {
        case ("message", 3):
            guard let channel = parts[1].string, let payload = parts[2].bytes else { return nil }
            return (channel, payload)
        case ("pmessage", 4):
            guard let channel = parts[2].string, let payload = parts[3].bytes else { return nil }
            return (channel, payload)
        default:
            return nil
        }
    }
}

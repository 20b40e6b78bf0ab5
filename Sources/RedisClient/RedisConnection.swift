import CHiredis
#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One blocking connection to Redis (RESP2, hiredis 0.14).
///
/// Every call blocks the calling thread until the reply arrives or the command timeout passes: use it from a
/// dedicated thread or a thread pool (e.g. `NIOThreadPool`), never on an event loop or Swift's cooperative pool.
///
/// The connection is safe to share between threads, but calls are serialized by an internal lock, so a shared
/// connection is a bottleneck; give each worker its own. After an I/O error, a timeout or a protocol violation the
/// connection is closed (`isClosed` becomes true) and every later call throws `.io`: open a new connection.
public final class RedisConnection: @unchecked Sendable {
    /// The URL this connection was opened with.
    public let url: RedisURL

    /// Serializes all access to the state below (`@unchecked Sendable` relies on it).
    let lock = Lock()
    /// The hiredis context; nil once closed. Guarded by `lock`.
    var context: UnsafeMutablePointer<redisContext>?
    /// Why the connection was closed, for the message of later calls. Guarded by `lock`.
    var closeReason = ""
    /// The read timeout in force, for timeout messages. Guarded by `lock`.
    var commandTimeout: Duration?
    /// SHA1 of each script loaded on this connection, by source. Guarded by `lock`.
    var scriptHashes: [String: String] = [:]
    /// Channels subscribed to; non-empty means the connection is in pub/sub mode. Guarded by `lock`.
    var subscribedChannels: Set<String> = []
    /// Pub/sub messages read while waiting for subscription confirmations. Guarded by `lock`.
    var pendingMessages: [(channel: String, payload: [UInt8])] = []
    /// True during AUTH/SELECT/PING in `init`, so failures read as connect failures. Guarded by `lock`.
    var isConnecting = false

    /// Connects, then authenticates (`AUTH [user] password` when the URL has credentials), selects the database
    /// (when it is not 0) and sends PING, all in one round trip.
    ///
    /// - Parameters:
    ///   - connectTimeout: the limit for establishing the TCP or unix-socket connection, and then for the replies
    ///     to AUTH, SELECT and PING.
    ///   - commandTimeout: the limit for each read and write afterwards (nil: wait forever). A command that times
    ///     out closes the connection.
    /// - Throws: `RedisError` with kind `.connect` (naming the address and the OS reason, e.g. `cannot connect to
    ///   Redis at 127.0.0.1:6379: Connection refused`; for a rejected password `serverCode` is `WRONGPASS`, for a
    ///   missing one `NOAUTH`), `.timeout` (`timed out after 2000 ms`) or `.io`. Messages never contain the password.
    public init(url: RedisURL, connectTimeout: Duration = .seconds(2), commandTimeout: Duration? = .seconds(30)) throws {
        self.url = url
        self.commandTimeout = commandTimeout
        let timeout = connectTimeout.asTimeval
        let connected: UnsafeMutablePointer<redisContext>?
        switch url.endpoint {
        case .tcp(let host, let port):
            connected = redisConnectWithTimeout(host, Int32(port), timeout)
        case .unix(let path):
            connected = redisConnectUnixWithTimeout(path, timeout)
        }
        guard let connected else {
            throw RedisError(kind: .connect, message: "cannot connect to Redis at \(url.endpoint): out of memory")
        }
        if connected.pointee.err != 0 {
            let reason = errorText(of: connected)
            redisFree(connected)
            if reason == systemErrorText(ETIMEDOUT) {
                throw RedisError(kind: .timeout, message: "cannot connect to Redis at \(url.endpoint): "
                    + "timed out after \(connectTimeout.roundedUpMilliseconds) ms")
            }
            throw RedisError(kind: .connect, message: "cannot connect to Redis at \(url.endpoint): \(reason)")
        }
        #if canImport(Darwin)
        var one: Int32 = 1
        setsockopt(connected.pointee.fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        context = connected
        try lock.withLock {
            isConnecting = true
            try applyCommandTimeout(connectTimeout, to: connected)
            try handshake()
            isConnecting = false
            try applyCommandTimeout(commandTimeout, to: connected)
        }
    }

    /// Parses `urlString` (see `RedisURL.init(parsing:)`) and connects to it.
    public convenience init(_ urlString: String, connectTimeout: Duration = .seconds(2),
                            commandTimeout: Duration? = .seconds(30)) throws {
        try self.init(url: RedisURL(parsing: urlString), connectTimeout: connectTimeout, commandTimeout: commandTimeout)
    }

    deinit {
        if let context { redisFree(context) }
    }

    /// Sends one command and returns its reply.
    ///
    /// - Throws: an error reply as `RedisError(kind: .server)` with its `serverCode`; I/O failures and timeouts
    ///   (which close the connection) as `.io`/`.timeout`; `.protocolViolation` for an empty command or a
    ///   connection in pub/sub mode.
    @discardableResult
    public func send(_ arguments: [String]) throws -> RedisValue {
        try send(ArgumentVector(strings: arguments))
    }

    /// Sends one command given as raw bytes (binary-safe: keys and values may hold any byte, including NUL).
    /// Errors as for `send(_:)`.
    @discardableResult
    public func send(bytes arguments: [[UInt8]]) throws -> RedisValue {
        try send(ArgumentVector(bytes: arguments))
    }

    private func send(_ arguments: ArgumentVector) throws -> RedisValue {
        try lock.withLock {
            let value = try sendUnlocked(arguments)
            if case .error(let text) = value { throw RedisError(serverReply: text) }
            return value
        }
    }

    /// Sends all commands in one write and then reads all replies: one round trip, in order.
    ///
    /// Error replies come back in place as `.error` (a failing command does not stop the others, and this does not
    /// throw for them); only I/O failures, timeouts and misuse throw, and those close the connection. An empty list
    /// returns an empty list without touching the network.
    public func pipeline(_ commands: [[String]]) throws -> [RedisValue] {
        try lock.withLock { try pipelineUnlocked(commands.map { ArgumentVector(strings: $0) }) }
    }

    /// `pipeline(_:)` with commands given as raw bytes.
    public func pipeline(bytes commands: [[[UInt8]]]) throws -> [RedisValue] {
        try lock.withLock { try pipelineUnlocked(commands.map { ArgumentVector(bytes: $0) }) }
    }

    /// Changes the limit for each read and write (nil: wait forever), e.g. before a blocking `XREAD BLOCK` that
    /// waits longer than the limit given at connect.
    public func setCommandTimeout(_ timeout: Duration?) throws {
        try lock.withLock {
            try applyCommandTimeout(timeout, to: liveContext())
        }
    }

    /// Closes the connection; later calls throw `.io`. Closing twice is harmless.
    public func close() {
        lock.withLock { closeUnlocked(reason: "it was closed by close()") }
    }

    /// True after `close()` or after an error that made the connection unusable (I/O error, timeout, protocol
    /// violation, server gone).
    public var isClosed: Bool {
        lock.withLock { context == nil }
    }

    // MARK: - Internals; callers hold `lock`

    func liveContext() throws -> UnsafeMutablePointer<redisContext> {
        guard let context else {
            throw RedisError(kind: .io, message: "the connection to Redis at \(url.endpoint) is closed: \(closeReason)")
        }
        return context
    }

    func closeUnlocked(reason: String) {
        guard let context else { return }
        redisFree(context)
        self.context = nil
        closeReason = reason
        subscribedChannels = []
        pendingMessages = []
        scriptHashes = [:]
    }

    private func applyCommandTimeout(_ timeout: Duration?, to context: UnsafeMutablePointer<redisContext>) throws {
        // A zero timeval means "no limit" to SO_RCVTIMEO/SO_SNDTIMEO; positive durations round up to ≥ 1 ms.
        guard redisSetTimeout(context, (timeout ?? .zero).asTimeval) == REDIS_OK else {
            throw failure(of: context, savedErrno: errno, doing: "setting the command timeout")
        }
        commandTimeout = timeout
    }

    func sendUnlocked(_ arguments: ArgumentVector) throws -> RedisValue {
        let context = try liveContext()
        try checkNotSubscribed()
        guard arguments.count > 0 else {
            throw RedisError(kind: .protocolViolation, message: "cannot send an empty command to Redis")
        }
        var savedErrno: Int32 = 0
        let reply = arguments.withCArguments { argc, argv, argvlen in
            withSIGPIPESuppressed {
                let reply = redisCommandArgv(context, argc, argv, argvlen)
                savedErrno = errno
                return reply
            }
        }
        guard let reply else { throw failure(of: context, savedErrno: savedErrno, doing: "waiting for a reply") }
        defer { freeReplyObject(reply) }
        do {
            return try RedisValue(copying: reply.assumingMemoryBound(to: redisReply.self))
        } catch let error as RedisError {
            closeUnlocked(reason: error.message)
            throw error
        }
    }

    func pipelineUnlocked(_ commands: [ArgumentVector]) throws -> [RedisValue] {
        let context = try liveContext()
        try checkNotSubscribed()
        guard !commands.isEmpty else { return [] }
        if let empty = commands.firstIndex(where: { $0.count == 0 }) {
            throw RedisError(kind: .protocolViolation, message: "cannot pipeline an empty command (command #\(empty + 1))")
        }
        for command in commands {
            let status = command.withCArguments { argc, argv, argvlen in
                redisAppendCommandArgv(context, argc, argv, argvlen)
            }
            guard status == REDIS_OK else { throw failure(of: context, savedErrno: errno, doing: "queueing commands") }
        }
        var values: [RedisValue] = []
        values.reserveCapacity(commands.count)
        for _ in commands {
            values.append(try readReplyUnlocked(context))
        }
        return values
    }

    /// Flushes pending output and reads the next reply (blocking, limited by the command timeout).
    func readReplyUnlocked(_ context: UnsafeMutablePointer<redisContext>) throws -> RedisValue {
        var reply: UnsafeMutableRawPointer?
        var savedErrno: Int32 = 0
        let status = withSIGPIPESuppressed {
            let status = redisGetReply(context, &reply)
            savedErrno = errno
            return status
        }
        guard status == REDIS_OK, let reply else {
            throw failure(of: context, savedErrno: savedErrno, doing: "waiting for a reply")
        }
        defer { freeReplyObject(reply) }
        do {
            return try RedisValue(copying: reply.assumingMemoryBound(to: redisReply.self))
        } catch let error as RedisError {
            closeUnlocked(reason: error.message)
            throw error
        }
    }

    private func checkNotSubscribed() throws {
        guard subscribedChannels.isEmpty else {
            throw RedisError(kind: .protocolViolation, message: "this connection to Redis at \(url.endpoint) is "
                + "subscribed to pub/sub channels and can only receive messages; use another connection for commands")
        }
    }

    /// Turns the error recorded in a hiredis context into a `RedisError` and closes the connection, which hiredis
    /// leaves unusable after any error.
    func failure(of context: UnsafeMutablePointer<redisContext>, savedErrno: Int32, doing activity: String) -> RedisError {
        let code = context.pointee.err
        let text = errorText(of: context)
        let address = url.endpoint
        let timedOut = code == REDIS_ERR_IO
            && (savedErrno == EAGAIN || savedErrno == EWOULDBLOCK || text == systemErrorText(EAGAIN))
        let error: RedisError
        if isConnecting {
            let reason: String
            if timedOut {
                reason = "it accepted the connection but did not answer within "
                    + "\(commandTimeout?.roundedUpMilliseconds ?? 0) ms"
            } else if code == REDIS_ERR_PROTOCOL {
                reason = "its answer is not RESP (\(text)); is it a Redis server?"
            } else if code == REDIS_ERR_EOF {
                reason = "it closed the connection before answering PING"
            } else {
                reason = code == 0 ? systemErrorText(savedErrno) : text
            }
            error = RedisError(kind: timedOut ? .timeout : .connect, message: "cannot connect to Redis at \(address): \(reason)")
        } else if timedOut {
            let limit = commandTimeout.map { "\($0.roundedUpMilliseconds) ms" } ?? "the socket timeout"
            error = RedisError(kind: .timeout, message: "timed out after \(limit) \(activity) from Redis at \(address); "
                + "the connection was closed")
        } else if code == REDIS_ERR_PROTOCOL {
            error = RedisError(kind: .protocolViolation, message: "Redis at \(address) sent data that is not valid "
                + "RESP (\(text)); the connection was closed")
        } else if code == REDIS_ERR_EOF {
            error = RedisError(kind: .io, message: "Redis at \(address) closed the connection while \(activity)")
        } else if code == 0 {
            error = RedisError(kind: .io, message: "I/O error with Redis at \(address) while \(activity): "
                + systemErrorText(savedErrno))
        } else {
            error = RedisError(kind: .io, message: "I/O error with Redis at \(address) while \(activity): \(text)")
        }
        closeUnlocked(reason: error.message)
        return error
    }
}

/// The context's `errstr` (a fixed-size C array, imported as a tuple) as a String.
func errorText(of context: UnsafeMutablePointer<redisContext>) -> String {
    withUnsafeBytes(of: context.pointee.errstr) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
}

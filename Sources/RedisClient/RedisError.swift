/// An error from this module. Messages are written for people: they name the Redis address (never the password),
/// the value at fault and, where one exists, the fix.
public struct RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, coarsely; `isRetryable` says whether trying again can help.
    public enum Kind: Sendable, Equatable, Hashable {
        /// The URL could not be parsed or asks for something this build cannot do (TLS).
        case invalidURL
        /// The connection could not be established or set up: the TCP/unix connect, AUTH, SELECT or the first PING
        /// failed. For a rejected AUTH, `serverCode` holds the server's code (`WRONGPASS`, `NOAUTH`, …).
        case connect
        /// Reading or writing failed, or the server closed the connection. The connection is closed afterwards.
        case io
        /// The server answered with an error reply; `message` is the reply text and `serverCode` its first word.
        case server
        /// The server sent something that is not RESP2, or the connection was used in a way the protocol does not
        /// allow (e.g. a command on a connection in pub/sub mode).
        case protocolViolation
        /// No reply arrived in time. The connection is closed afterwards (a late reply would be read as the answer
        /// to the next command).
        case timeout
    }

    /// The category of the failure.
    public var kind: Kind
    /// A human-readable explanation, e.g. `cannot connect to Redis at 127.0.0.1:6379: Connection refused`. For
    /// `.server` it is the error reply exactly as Redis sent it, e.g. `WRONGTYPE Operation against a key holding the
    /// wrong kind of value`.
    public var message: String
    /// The error code of a server error reply: its first word when that word is written in capitals, digits, `_`
    /// or `-` (Redis's convention, also followed by Lua scripts: `redis.error_reply('LEASE_LOST held by x')` gives
    /// `LEASE_LOST`). `nil` for errors that did not come from the server.
    public var serverCode: String?

    /// Creates an error; `serverCode` is only meaningful for server replies.
    public init(kind: Kind, message: String, serverCode: String? = nil) {
        self.kind = kind
        self.message = message
        self.serverCode = serverCode
    }

    /// The `.server` error for an error reply, with `serverCode` taken from the reply text.
    public init(serverReply text: String) {
        self.init(kind: .server, message: text, serverCode: RedisError.code(ofReply: text))
    }

    /// The error code that starts an error reply (`"NOSCRIPT No matching script"` → `"NOSCRIPT"`), or nil when the
    /// reply does not start with an upper-case code.
    public static func code(ofReply text: String) -> String? {
        let word = text.prefix { $0 != " " && $0 != "\n" && $0 != "\r" }
        guard !word.isEmpty,
              word.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" }),
              word.unicodeScalars.contains(where: { ("A"..."Z").contains($0) })
        else { return nil }
        return String(word)
    }

    /// Whether the same operation may succeed if tried again later (on a new connection for `.io`/`.timeout`).
    /// True for connect, I/O and timeout failures and for the server's transient codes (`LOADING`, `BUSY`,
    /// `TRYAGAIN`, `MASTERDOWN`, `CLUSTERDOWN`, `READONLY`); false for everything a retry cannot fix.
    public var isRetryable: Bool {
        switch kind {
        case .connect:
            // A rejected password or a missing database will not fix itself.
            return serverCode == nil
        case .io, .timeout:
            return true
        case .invalidURL, .protocolViolation:
            return false
        case .server:
            return ["LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN", "READONLY"].contains(serverCode ?? "")
        }
    }

    /// The message; server replies are prefixed so they read well in a log line of their own.
    public var description: String {
        kind == .server ? "Redis replied with an error: \(message)" : message
    }
}

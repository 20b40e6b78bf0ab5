/// A RESP2 reply. Values compare structurally; bulk strings are bytes, so binary data (including NUL bytes)
/// survives unchanged.
public enum RedisValue: Sendable, Equatable, Hashable {
    /// A status reply such as `OK` or `PONG`.
    case simple(String)
    /// An error reply. `send` throws these as `RedisError(kind: .server)`; `pipeline` and nested arrays (e.g. the
    /// results of EXEC) return them in place.
    case error(String)
    /// An integer reply.
    case integer(Int64)
    /// A bulk string: arbitrary bytes.
    case bulk([UInt8])
    /// The null bulk string or null array (a missing key, a timed-out BLPOP).
    case null
    /// A multi-bulk reply; elements may themselves be any value, including `.null` and `.error`.
    case array([RedisValue])

    /// The text of a simple string, or of a bulk string that is valid UTF-8; nil otherwise (never lossy).
    public var string: String? {
        switch self {
        case .simple(let text):
            return text
        case .bulk(let bytes):
            let text = String(decoding: bytes, as: UTF8.self)
            return text.utf8.elementsEqual(bytes) ? text : nil
        default:
            return nil
        }
    }

    /// The bytes of a bulk or simple string; nil for other values.
    public var bytes: [UInt8]? {
        switch self {
        case .bulk(let bytes): return bytes
        case .simple(let text): return Array(text.utf8)
        default: return nil
        }
    }

    /// The value of an integer reply, or of a string reply holding a decimal integer (Redis returns numbers as bulk
    /// strings from GET, HGET, Lua, …); nil otherwise.
    public var integer: Int64? {
        switch self {
        case .integer(let value): return value
        case .simple, .bulk: return string.flatMap { Int64($0) }
        default: return nil
        }
    }

    /// The elements of an array reply; nil for other values (including `.null`).
    public var array: [RedisValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// The text of an error reply; nil for other values.
    public var errorMessage: String? {
        if case .error(let text) = self { return text }
        return nil
    }

    /// True for the null reply.
    public var isNull: Bool { self == .null }

    /// Throws the `.server` error carried by an `.error` value and returns any other value unchanged; for checking
    /// `pipeline` results one by one.
    @discardableResult
    public func orThrow() throws -> RedisValue {
        if case .error(let text) = self { throw RedisError(serverReply: text) }
        return self
    }
}

extension RedisValue: CustomStringConvertible {
    /// A compact, redis-cli-like rendering for logs and test failures; bulk strings that are not UTF-8 are shown as
    /// their byte count.
    public var description: String {
        switch self {
        case .simple(let text): return text
        case .error(let text): return "(error) \(text)"
        case .integer(let value): return "(integer) \(value)"
        case .bulk(let bytes):
            if let text = string { return "\"\(text)\"" }
            return "(\(bytes.count) bytes)"
        case .null: return "(nil)"
        case .array(let elements): return "[" + elements.map(\.description).joined(separator: ", ") + "]"
        }
    }
}

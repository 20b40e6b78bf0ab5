/// Where and how to connect to Redis, parsed from a URL.
///
/// Accepted forms:
/// - `redis://[[user]:password@]host[:port][/db][?db=N&username=U&password=P]`: port 6379 and database 0 by
///   default; IPv6 hosts in brackets (`redis://[::1]:6379`).
/// - `unix:///path/to/redis.sock[?db=N&username=U&password=P]` (also `redis+unix://`), or with the credentials
///   in front of the path: `unix://[user]:password@/path/to/redis.sock`.
///
/// User names, passwords and socket paths are percent-decoded; reserved characters in a password (`/ ? # @ %`)
/// must be percent-encoded (`/` as `%2F`). `rediss://` is refused: hiredis 0.14 has no TLS.
public struct RedisURL: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The address of the server.
    public enum Endpoint: Sendable, Equatable, Hashable, CustomStringConvertible {
        /// A TCP address; `host` is a name or an IP address (IPv6 without brackets).
        case tcp(host: String, port: Int)
        /// A unix domain socket at an absolute path.
        case unix(path: String)

        /// The address as used in messages: `127.0.0.1:6379`, `[::1]:6379`, `unix socket /run/redis.sock`.
        public var description: String {
            switch self {
            case .tcp(let host, let port):
                return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            case .unix(let path):
                return "unix socket \(path)"
            }
        }
    }

    /// The default Redis port.
    public static let defaultPort = 6379

    /// The server address.
    public var endpoint: Endpoint
    /// The Redis 6 ACL user; when set, the connection sends `AUTH username password` (with an empty password if
    /// none is given, which a `nopass` user accepts).
    public var username: String?
    /// The password; when set, the connection authenticates before any other command.
    public var password: String?
    /// The logical database the connection selects (`SELECT`) after authenticating; 0 by default.
    public var database: Int

    /// Creates a URL from its parts.
    public init(endpoint: Endpoint, username: String? = nil, password: String? = nil, database: Int = 0) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
    }

    /// Parses redis://[[user]:password@]host[:port][/db], redis://[::1]:6379, unix:///path/redis.sock?db=2&password=x
    /// and redis+unix:///path/redis.sock (surrounding whitespace is ignored).
    ///
    /// Throws `RedisError(kind: .invalidURL)` whose message quotes the input with the password masked, says what is
    /// wrong and shows what a valid URL looks like. `rediss://` is refused because this build (hiredis 0.14) has no
    /// TLS support.
    public init(parsing string: String) throws {
        var parser = URLParser(input: string.trimmingWhitespace())
        self = try parser.parse()
    }

    /// The URL with the password replaced by `***`: `redis://:***@127.0.0.1:6379/0`,
    /// `unix:///run/redis.sock?db=2&password=***`. Port and database are always shown.
    public var description: String {
        switch endpoint {
        case .tcp:
            var userinfo = ""
            if let username { userinfo += percentEncoded(username) }
            if password != nil { userinfo += ":***" }
            if !userinfo.isEmpty { userinfo += "@" }
            return "redis://\(userinfo)\(endpoint)/\(database)"
        case .unix(let path):
            var text = "unix://\(percentEncoded(path, keepingSlashes: true))?db=\(database)"
            if let username { text += "&username=\(percentEncoded(username))" }
            if password != nil { text += "&password=***" }
            return text
        }
    }
}

extension RedisURL: CustomDebugStringConvertible, CustomReflectable {
    /// Same as `description`: the password is masked in debug output too.
    public var debugDescription: String { description }

    /// Masks the password in `dump(_:)` and other mirror-based output.
    public var customMirror: Mirror {
        Mirror(self, children: [
            "endpoint": endpoint, "username": username as Any, "password": password.map { _ in "***" } as Any,
            "database": database,
        ], displayStyle: .struct)
    }
}

private func percentEncoded(_ text: String, keepingSlashes: Bool = false) -> String {
    var result = ""
    for byte in text.utf8 {
        let scalar = Unicode.Scalar(byte)
        let unreserved = (byte < 0x80) && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
            || "-._~".unicodeScalars.contains(scalar) || (keepingSlashes && scalar == "/"))
        if unreserved {
            result.unicodeScalars.append(scalar)
        } else {
            result += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
        }
    }
    return result
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

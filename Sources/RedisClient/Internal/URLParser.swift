/// Parses the URL forms documented on `RedisURL`; errors quote the input with the password masked.
struct URLParser {
    let input: String
    let masked: String
    /// The input fragments hidden by `masked`; parts overlapping them are never quoted in messages.
    let secrets: [Substring]

    init(input: String) {
        self.input = input
        (masked, secrets) = maskPassword(in: input)
    }

    static let example = "expected redis://[[user]:password@]host[:port][/db] (e.g. redis://:secret@127.0.0.1:6379/0) "
        + "or unix:///path/to/redis.sock?db=0&password=secret"

    func failure(_ problem: String) -> RedisError {
        RedisError(kind: .invalidURL, message: "invalid Redis URL \"\(masked)\": \(problem); \(URLParser.example)")
    }

    /// ` "piece"` when quoting it cannot reveal the password, otherwise nothing. Pieces and secrets are slices of
    /// the same `input`, so their positions tell whether they overlap.
    func quoted(_ piece: Substring) -> String {
        let overlapsSecret = secrets.contains { secret in
            piece.startIndex < secret.endIndex && secret.startIndex < piece.endIndex
        }
        return overlapsSecret ? "" : " \"\(piece)\""
    }

    mutating func parse() throws -> RedisURL {
        guard !input.isEmpty else {
            throw RedisError(kind: .invalidURL, message: "invalid Redis URL: the URL is empty; \(URLParser.example)")
        }
        guard let colon = input.firstIndex(of: ":"), input[colon...].hasPrefix("://") else {
            throw failure("the scheme is missing (start with redis:// or unix://)")
        }
        let scheme = input[..<colon].lowercased()
        let rest = input[input.index(colon, offsetBy: 3)...]
        if rest.contains("#") {
            throw failure("'#' is not allowed (percent-encode it as %23 in a password)")
        }
        switch scheme {
        case "redis":
            return try parseTCP(rest)
        case "unix", "redis+unix":
            return try parseUnix(rest)
        case "rediss":
            throw failure("TLS (rediss://) is not supported by this build (hiredis 0.14 has no TLS); "
                + "use redis:// on a trusted network, a unix socket, or a TLS tunnel")
        default:
            throw failure("unsupported scheme \"\(scheme)://\" (use redis:// or unix://)")
        }
    }

    func parseTCP(_ rest: Substring) throws -> RedisURL {
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var tail = rest[authorityEnd...]

        var credentials = Credentials()
        var hostPort = authority
        if let at = authority.lastIndex(of: "@") {
            credentials = try parseUserinfo(authority[..<at])
            hostPort = authority[authority.index(after: at)...]
        }

        let host: Substring
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else {
                throw failure("the IPv6 address has no closing ']'")
            }
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let afterBracket = hostPort[hostPort.index(after: close)...]
            if !afterBracket.isEmpty {
                guard afterBracket.hasPrefix(":") else {
                    throw failure("expected ':port' after the IPv6 address, found\(quoted(afterBracket))")
                }
                portText = afterBracket.dropFirst()
            }
            // RFC 6874: a zone follows the address as %25<zone> ("fe80::1%25eth0").
            let zoneStart = host.firstIndex(of: "%") ?? host.endIndex
            let address = host[..<zoneStart]
            guard !address.isEmpty, address.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }),
                  host[zoneStart...].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "%-_.".contains($0)) })
            else {
                throw failure("the IPv6 address\(quoted(host)) is not valid")
            }
        } else {
            let colons = hostPort.filter { $0 == ":" }.count
            if colons > 1 {
                throw failure("an IPv6 address must be written in brackets, e.g. redis://[::1]:6379")
            }
            if let colon = hostPort.firstIndex(of: ":") {
                host = hostPort[..<colon]
                portText = hostPort[hostPort.index(after: colon)...]
            } else {
                host = hostPort
            }
            guard !host.isEmpty else { throw failure("the host is missing") }
            guard host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_") }) else {
                throw failure("the host\(quoted(host)) contains characters that are not allowed in a host name")
            }
        }

        var port = RedisURL.defaultPort
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value), portText.allSatisfy(\.isASCII) else {
                throw failure("the port\(quoted(portText)) is not a number between 1 and 65535")
            }
            port = value
        }

        var database: Int?
        if tail.hasPrefix("/") {
            let pathEnd = tail.firstIndex(of: "?") ?? tail.endIndex
            let dbText = tail[tail.index(after: tail.startIndex)..<pathEnd]
            if !dbText.isEmpty { database = try parseDatabase(dbText, from: "the path /<db>") }
            tail = tail[pathEnd...]
        }
        var query = try parseQuery(tail)
        if let fromQuery = query.database {
            if database != nil { throw failure("the database is given both in the path and as ?db=") }
            database = fromQuery
        }
        try credentials.merge(&query, failure: failure)
        let hostName = try percentDecoded(host, what: "the host")
        return RedisURL(endpoint: .tcp(host: hostName, port: port), username: credentials.username,
                        password: credentials.password, database: database ?? 0)
    }

    func parseUnix(_ rest: Substring) throws -> RedisURL {
        guard let slash = rest.firstIndex(of: "/") else {
            throw failure("the socket path is missing (e.g. unix:///var/run/redis/redis.sock)")
        }
        var credentials = Credentials()
        let beforePath = rest[..<slash]
        if !beforePath.isEmpty {
            guard beforePath.hasSuffix("@") else {
                throw failure("a unix socket URL has no host: write the absolute path after unix:// "
                    + "(three slashes, e.g. unix:///var/run/redis/redis.sock)")
            }
            credentials = try parseUserinfo(beforePath.dropLast())
        }
        let pathEnd = rest[slash...].firstIndex(of: "?") ?? rest.endIndex
        let path = try percentDecoded(rest[slash..<pathEnd], what: "the socket path")
        guard path.count > 1, !path.hasSuffix("/") else {
            throw failure("the socket path\(quoted(rest[slash..<pathEnd])) does not name a file")
        }
        var query = try parseQuery(rest[pathEnd...])
        try credentials.merge(&query, failure: failure)
        return RedisURL(endpoint: .unix(path: path), username: credentials.username,
                        password: credentials.password, database: query.database ?? 0)
    }

    struct Credentials {
        var username: String?
        var password: String?

        mutating func merge(_ query: inout Query, failure: (String) -> RedisError) throws {
            if let user = query.username {
                if username != nil { throw failure("the user name is given both before '@' and as ?username=") }
                username = user
            }
            if let pass = query.password {
                if password != nil { throw failure("the password is given both before '@' and as ?password=") }
                password = pass
            }
        }
    }

    func parseUserinfo(_ userinfo: Substring) throws -> Credentials {
        var credentials = Credentials()
        if let colon = userinfo.firstIndex(of: ":") {
            let user = try percentDecoded(userinfo[..<colon], what: "the user name")
            let pass = try percentDecoded(userinfo[userinfo.index(after: colon)...], what: "the password")
            credentials.username = user.isEmpty ? nil : user
            credentials.password = pass.isEmpty ? nil : pass
        } else {
            let user = try percentDecoded(userinfo, what: "the user name")
            credentials.username = user.isEmpty ? nil : user
        }
        return credentials
    }

    struct Query {
        var database: Int?
        var username: String?
        var password: String?
    }

    func parseQuery(_ tail: Substring) throws -> Query {
        var query = Query()
        guard !tail.isEmpty else { return query }
        guard tail.hasPrefix("?") else {
            throw failure("unexpected\(quoted(tail)) after the address (only /<db> and ?db=, ?username=, ?password= may follow)")
        }
        var seen: Set<Substring> = []
        for item in tail.dropFirst().split(separator: "&", omittingEmptySubsequences: true) {
            let equals = item.firstIndex(of: "=") ?? item.endIndex
            let key = item[..<equals]
            let value = equals == item.endIndex ? item[equals...] : item[item.index(after: equals)...]
            guard seen.insert(key).inserted else { throw failure("the parameter \"\(key)\" is given twice") }
            switch key {
            case "db":
                query.database = try parseDatabase(value, from: "?db=")
            case "username", "user":
                let user = try percentDecoded(value, what: "the user name")
                query.username = user.isEmpty ? nil : user
            case "password":
                let pass = try percentDecoded(value, what: "the password")
                query.password = pass.isEmpty ? nil : pass
            default:
                throw failure("unknown parameter \"\(key.prefix(40))\" (known: db, username, password)")
            }
        }
        return query
    }

    func parseDatabase(_ text: Substring, from place: String) throws -> Int {
        guard let value = Int(text), value >= 0, value <= Int(Int32.max), text.allSatisfy(\.isASCII) else {
            throw failure("the database\(quoted(text)) in \(place) is not a non-negative integer")
        }
        return value
    }

    func percentDecoded(_ text: Substring, what: String) throws -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            guard iterator.count >= 2, let high = hexValue(iterator.removeFirst()), let low = hexValue(iterator.removeFirst()) else {
                throw failure("\(what) has an invalid percent-escape (use %XX with two hex digits, e.g. %25 for '%')")
            }
            bytes.append(high << 4 | low)
        }
        let decoded = String(decoding: bytes, as: UTF8.self)
        guard decoded.utf8.elementsEqual(bytes) else {
            throw failure("\(what) is not valid UTF-8 after percent-decoding")
        }
        return decoded
    }
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
}

/// Masks everything that may be a password in a URL that may not parse: the text between the first ':' of the
/// userinfo and the last '@', and the values of `password=` parameters. It errs on the side of hiding too much.
private func maskPassword(in input: String) -> (String, [Substring]) {
    var secrets: [Substring] = []
    var result = ""
    let start = input.firstRange(of: "://")?.upperBound ?? input.startIndex
    result += input[..<start]
    var rest = input[start...]
    // Only an '@' before the query can end the userinfo, unless the '?' itself is part of an unencoded password.
    if let at = rest.lastIndex(of: "@"), !rest[..<at].contains("password=") {
        let userinfo = rest[..<at]
        if let colon = userinfo.firstIndex(of: ":") {
            let secret = userinfo[userinfo.index(after: colon)...]
            if !secret.isEmpty { secrets.append(secret) }
            result += userinfo[...colon] + (secret.isEmpty ? "" : "***")
        } else {
            result += userinfo
        }
        result += "@"
        rest = rest[rest.index(after: at)...]
    }
    // password=value up to the next '&' (case-sensitive, as parsed)
    while let range = rest.firstRange(of: "password=") {
        result += rest[..<range.upperBound]
        let valueEnd = rest[range.upperBound...].firstIndex(of: "&") ?? rest.endIndex
        let secret = rest[range.upperBound..<valueEnd]
        if !secret.isEmpty {
            secrets.append(secret)
            result += "***"
        }
        rest = rest[valueEnd...]
    }
    result += rest
    return (result, secrets)
}

extension String {
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0.isWhitespace }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}

import RedisClient
import Testing

@Suite("RedisURL parsing")
struct RedisURLTests {
    struct Valid: Sendable, CustomTestStringConvertible {
        var input: String
        var expected: RedisURL
        var testDescription: String { input.debugDescription }
    }

    static let valid: [Valid] = [
        .init(input: "redis://127.0.0.1", expected: .init(endpoint: .tcp(host: "127.0.0.1", port: 6379))),
        .init(input: "redis://localhost:6380/2", expected: .init(endpoint: .tcp(host: "localhost", port: 6380), database: 2)),
        .init(input: "redis://:secret@10.0.0.5:6379/0",
              expected: .init(endpoint: .tcp(host: "10.0.0.5", port: 6379), password: "secret")),
        .init(input: "redis://alice:s3cret@redis.internal:7000/15",
              expected: .init(endpoint: .tcp(host: "redis.internal", port: 7000), username: "alice", password: "s3cret", database: 15)),
        .init(input: "redis://alice@host", expected: .init(endpoint: .tcp(host: "host", port: 6379), username: "alice")),
        .init(input: "redis://alice:@host", expected: .init(endpoint: .tcp(host: "host", port: 6379), username: "alice")),
        .init(input: "redis://[::1]:6379", expected: .init(endpoint: .tcp(host: "::1", port: 6379))),
        .init(input: "redis://[fe80::1%25eth0]", expected: .init(endpoint: .tcp(host: "fe80::1%eth0", port: 6379))),
        .init(input: "REDIS://Host.Example:1", expected: .init(endpoint: .tcp(host: "Host.Example", port: 1))),
        .init(input: "redis://:p%40ss%2Fw%3Ard%25@host",
              expected: .init(endpoint: .tcp(host: "host", port: 6379), password: "p@ss/w:rd%")),
        .init(input: "redis://us%20er:x@host", expected: .init(endpoint: .tcp(host: "host", port: 6379), username: "us er", password: "x")),
        .init(input: "redis://:p@ss@host:1/3", expected: .init(endpoint: .tcp(host: "host", port: 1), password: "p@ss", database: 3)),
        .init(input: "redis://host/", expected: .init(endpoint: .tcp(host: "host", port: 6379))),
        .init(input: "redis://host:6379?db=4&password=x",
              expected: .init(endpoint: .tcp(host: "host", port: 6379), password: "x", database: 4)),
        .init(input: "  redis://host:6379\n", expected: .init(endpoint: .tcp(host: "host", port: 6379))),
        .init(input: "unix:///var/run/redis.sock", expected: .init(endpoint: .unix(path: "/var/run/redis.sock"))),
        .init(input: "unix:///tmp/redis.sock?db=2&password=x",
              expected: .init(endpoint: .unix(path: "/tmp/redis.sock"), password: "x", database: 2)),
        .init(input: "unix:///tmp/r.sock?username=bob&password=p%26q",
              expected: .init(endpoint: .unix(path: "/tmp/r.sock"), username: "bob", password: "p&q")),
        .init(input: "redis+unix:///tmp/r.sock?db=1", expected: .init(endpoint: .unix(path: "/tmp/r.sock"), database: 1)),
        .init(input: "unix://:pw@/tmp/r.sock", expected: .init(endpoint: .unix(path: "/tmp/r.sock"), password: "pw")),
        .init(input: "unix:///tmp/my%20redis.sock", expected: .init(endpoint: .unix(path: "/tmp/my redis.sock"))),
    ]

    @Test("parses a valid URL", arguments: valid)
    func parsesValid(_ example: Valid) throws {
        #expect(try RedisURL(parsing: example.input) == example.expected)
    }

    struct Invalid: Sendable, CustomTestStringConvertible {
        var input: String
        /// A phrase the message must contain.
        var says: String
        /// Text that must never appear in the message (the password).
        var secret: String? = nil
        var testDescription: String { input.debugDescription }
    }

    static let invalid: [Invalid] = [
        .init(input: "", says: "the URL is empty"),
        .init(input: "localhost:6379", says: "the scheme is missing"),
        .init(input: "user:hunter2@localhost", says: "the scheme is missing", secret: "hunter2"),
        .init(input: "http://host", says: "unsupported scheme \"http://\""),
        .init(input: "rediss://:hunter2@host:6380", says: "TLS (rediss://) is not supported by this build (hiredis 0.14",
              secret: "hunter2"),
        .init(input: "redis://:hunter2@host:notaport", says: "the port \"notaport\" is not a number between 1 and 65535",
              secret: "hunter2"),
        .init(input: "redis://host:0", says: "the port \"0\" is not a number between 1 and 65535"),
        .init(input: "redis://host:65536", says: "the port \"65536\""),
        .init(input: "redis://host:", says: "the port \"\" is not a number"),
        .init(input: "redis://::1:6379", says: "an IPv6 address must be written in brackets, e.g. redis://[::1]:6379"),
        .init(input: "redis://[::1", says: "no closing ']'"),
        .init(input: "redis://[::1]6379", says: "expected ':port' after the IPv6 address"),
        .init(input: "redis:///0", says: "the host is missing"),
        .init(input: "redis://ho st", says: "the host \"ho st\" contains characters that are not allowed"),
        .init(input: "redis://host/abc", says: "the database \"abc\" in the path /<db> is not a non-negative integer"),
        .init(input: "redis://host/-1", says: "the database \"-1\""),
        .init(input: "redis://host/1/", says: "the database \"1/\""),
        .init(input: "redis://host/1?db=2", says: "the database is given both in the path and as ?db="),
        .init(input: "redis://:hunter2@host?password=hunter3", says: "the password is given both", secret: "hunter"),
        .init(input: "redis://host?db=1&db=2", says: "the parameter \"db\" is given twice"),
        .init(input: "redis://host?timeout=5", says: "unknown parameter \"timeout\" (known: db, username, password)"),
        .init(input: "redis://host#x", says: "'#' is not allowed"),
        .init(input: "redis://:hun%zzter2@host", says: "the password has an invalid percent-escape", secret: "zzter2"),
        .init(input: "redis://:%FF%FEhunter2@host", says: "the password is not valid UTF-8", secret: "hunter2"),
        // An unencoded '/' in the password: the parse fails, and the password must still be hidden.
        .init(input: "redis://:ab/hunter2@host", says: "the host is missing", secret: "ab/hunter2"),
        .init(input: "redis://:hunter2@host:12x", says: "the port \"12x\"", secret: "hunter2"),
        .init(input: "unix://relative/path", says: "a unix socket URL has no host"),
        .init(input: "unix://", says: "the socket path is missing"),
        .init(input: "unix:///", says: "does not name a file"),
        .init(input: "unix:///tmp/r.sock?password=hunter2&db=x", says: "the database \"x\" in ?db=", secret: "hunter2"),
    ]

    @Test("rejects an invalid URL with a helpful message", arguments: invalid)
    func rejectsInvalid(_ example: Invalid) throws {
        let error = try #require(throws: RedisError.self) { try RedisURL(parsing: example.input) }
        #expect(error.kind == .invalidURL)
        #expect(error.message.contains(example.says), "message: \(error.message)")
        #expect(error.message.contains("invalid Redis URL"))
        #expect(error.message.contains("expected redis://[[user]:password@]host[:port][/db]"))
        if let secret = example.secret {
            #expect(!error.message.contains(secret), "the password leaked: \(error.message)")
            #expect(error.message.contains("***"))
        }
    }

    @Test("the message quotes the input with the password masked")
    func messageQuotesMaskedInput() throws {
        let error = try #require(throws: RedisError.self) {
            try RedisURL(parsing: "redis://bob:hunter2@host:99999/0")
        }
        #expect(error.message.hasPrefix("invalid Redis URL \"redis://bob:***@host:99999/0\": the port \"99999\""))
    }

    @Test("description never shows the password", arguments: [
        ("redis://:hunter2@127.0.0.1:6379", "redis://:***@127.0.0.1:6379/0"),
        ("redis://alice:hunter2@[::1]:7000/3", "redis://alice:***@[::1]:7000/3"),
        ("redis://alice@host", "redis://alice@host:6379/0"),
        ("redis://host", "redis://host:6379/0"),
        ("unix:///tmp/r.sock?db=2&password=hunter2", "unix:///tmp/r.sock?db=2&password=***"),
        ("unix:///tmp/r.sock?username=al%20ice&password=hunter2", "unix:///tmp/r.sock?db=0&username=al%20ice&password=***"),
    ])
    func descriptionMasksPassword(input: String, expected: String) throws {
        let url = try RedisURL(parsing: input)
        #expect(url.description == expected)
        #expect("\(url)" == expected)
        #expect(String(reflecting: url) == expected)
        var dumped = ""
        dump(url, to: &dumped)
        #expect(!dumped.contains("hunter2"))
    }

    @Test("endpoints describe themselves as addresses")
    func endpointDescription() {
        #expect(RedisURL.Endpoint.tcp(host: "127.0.0.1", port: 6379).description == "127.0.0.1:6379")
        #expect(RedisURL.Endpoint.tcp(host: "::1", port: 6379).description == "[::1]:6379")
        #expect(RedisURL.Endpoint.unix(path: "/run/redis.sock").description == "unix socket /run/redis.sock")
    }

    @Test("the server code is the leading upper-case word of a reply", arguments: [
        ("NOSCRIPT No matching script. Please use EVAL.", "NOSCRIPT"),
        ("WRONGTYPE Operation against a key holding the wrong kind of value", "WRONGTYPE"),
        ("LEASE_LOST held by x", "LEASE_LOST"),
        ("ERR", "ERR"),
        ("Error running script", nil),
        ("", nil),
    ] as [(String, String?)])
    func serverCode(reply: String, code: String?) {
        #expect(RedisError.code(ofReply: reply) == code)
        #expect(RedisError(serverReply: reply).serverCode == code)
    }
}

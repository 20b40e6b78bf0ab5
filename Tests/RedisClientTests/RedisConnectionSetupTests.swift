import RedisClient
import TestSupport
import Testing

@Suite("Connecting: passwords, databases, unix sockets, failures")
struct RedisConnectionSetupTests {
    static let password = "s3cret/with@odd:chars%"

    @Test("the right password authenticates, from a URL value or a URL string")
    func rightPassword() throws {
        try withRedisServer(password: Self.password) { server in
            let redis = try RedisConnection(url: server.url)
            #expect(try redis.send(["PING"]) == .simple("PONG"))
            let parsed = try RedisURL(parsing: server.urlString)
            #expect(parsed.password == Self.password)
            let viaString = try RedisConnection(server.urlString)
            #expect(try viaString.send(["ACL", "WHOAMI"]).string == "default")
        }
    }

    @Test("a wrong password fails at connect with WRONGPASS and never shows the password")
    func wrongPassword() throws {
        try withRedisServer(password: Self.password) { server in
            var url = server.url
            url.password = "not-the-password-42"
            let error = try #require(throws: RedisError.self) { try RedisConnection(url: url) }
            #expect(error.kind == .connect)
            #expect(error.serverCode == "WRONGPASS")
            #expect(error.message.hasPrefix("authentication to Redis at 127.0.0.1:\(server.port) failed: WRONGPASS"))
            #expect(!error.message.contains("not-the-password-42"))
            #expect(!error.isRetryable)
        }
    }

    @Test("a missing password fails at connect with NOAUTH and says how to fix the URL")
    func missingPassword() throws {
        try withRedisServer(password: Self.password) { server in
            var url = server.url
            url.password = nil
            let error = try #require(throws: RedisError.self) { try RedisConnection(url: url) }
            #expect(error.kind == .connect)
            #expect(error.serverCode == "NOAUTH")
            #expect(error.message.contains("Redis at 127.0.0.1:\(server.port) requires a password"))
            #expect(error.message.contains("redis://:PASSWORD@127.0.0.1:\(server.port)/0"))
        }
    }

    @Test("a password for a server without one is an error, not silently ignored")
    func passwordWithoutRequirepass() throws {
        try withRedisServer { server in
            var url = server.url
            url.password = "unneeded"
            let error = try #require(throws: RedisError.self) { try RedisConnection(url: url) }
            #expect(error.kind == .connect)
            #expect(error.serverCode == "ERR")
            #expect(error.message.contains("authentication to Redis at 127.0.0.1:\(server.port) failed"))
            #expect(!error.message.contains("unneeded"))
        }
    }

    @Test("an ACL user authenticates with AUTH user password")
    func aclUser() throws {
        try withRedisServer(password: Self.password) { server in
            let admin = try server.connect()
            try admin.send(["ACL", "SETUSER", "alice", "on", ">alice-pw", "~*", "+@all"])
            let alice = try RedisConnection("redis://alice:alice-pw@127.0.0.1:\(server.port)")
            #expect(try alice.send(["ACL", "WHOAMI"]).string == "alice")

            let error = try #require(throws: RedisError.self) {
                try RedisConnection("redis://alice:bad-pw@127.0.0.1:\(server.port)")
            }
            #expect(error.serverCode == "WRONGPASS")
            #expect(error.message.contains("as user \"alice\""))
        }
    }

    @Test("the database in the URL is selected")
    func databaseSelection() throws {
        try withRedisServer { server in
            let db3 = try RedisConnection("redis://127.0.0.1:\(server.port)/3")
            try db3.send(["SET", "where", "three"])
            let db0 = try server.connect()
            #expect(try db0.send(["GET", "where"]) == .null)
            #expect(try db0.send(["DBSIZE"]) == .integer(0))
            let again = try RedisConnection("redis://127.0.0.1:\(server.port)?db=3")
            #expect(try again.send(["GET", "where"]).string == "three")
            #expect(try again.send(["CLIENT", "INFO"]).string?.contains(" db=3 ") == true)
        }
    }

    @Test("a database the server does not have fails at connect")
    func databaseOutOfRange() throws {
        try withRedisServer { server in
            let error = try #require(throws: RedisError.self) {
                try RedisConnection("redis://127.0.0.1:\(server.port)/99")
            }
            #expect(error.kind == .connect)
            #expect(error.message == "cannot select database 99 on Redis at 127.0.0.1:\(server.port): ERR DB index is out of range")
        }
    }

    @Test("a unix socket URL connects with password and database")
    func unixSocket() throws {
        try withRedisServer(password: Self.password, unixSocket: true) { server in
            let path = try #require(server.unixSocketPath)
            let encoded = "s3cret%2Fwith%40odd%3Achars%25"
            let redis = try RedisConnection("unix://\(path)?db=2&password=\(encoded)")
            #expect(redis.url.endpoint == .unix(path: path))
            try redis.send(["SET", "via", "unix"])
            var tcpURL = server.url
            tcpURL.database = 2
            let overTCP = try RedisConnection(url: tcpURL)
            #expect(try overTCP.send(["GET", "via"]).string == "unix")
            #expect(try redis.send(["CLIENT", "INFO"]).string?.contains("laddr=\(path)") == true)
        }
    }

    @Test("connection refused names the address and the OS reason, never the password")
    func connectionRefused() throws {
        let port = try freeLoopbackPort()
        let error = try #require(throws: RedisError.self) {
            try RedisConnection("redis://:hunter2-secret@127.0.0.1:\(port)/0")
        }
        #expect(error.kind == .connect)
        #expect(error.message == "cannot connect to Redis at 127.0.0.1:\(port): Connection refused")
        #expect(!"\(error)".contains("hunter2"))
        #expect(error.isRetryable)
    }

    @Test("a missing unix socket names the path and the OS reason")
    func missingUnixSocket() throws {
        let error = try #require(throws: RedisError.self) {
            try RedisConnection("unix:///nonexistent-berth-dir/redis.sock?password=hunter2")
        }
        #expect(error.kind == .connect)
        #expect(error.message == "cannot connect to Redis at unix socket /nonexistent-berth-dir/redis.sock: No such file or directory")
    }

    @Test("rediss:// is refused before any connection attempt")
    func tlsRefused() throws {
        let error = try #require(throws: RedisError.self) { try RedisConnection("rediss://127.0.0.1:6380") }
        #expect(error.kind == .invalidURL)
        #expect(error.message.contains("not supported by this build"))
    }
}

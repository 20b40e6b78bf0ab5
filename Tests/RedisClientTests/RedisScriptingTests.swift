import RedisClient
import TestSupport
import Testing

@Suite("Lua scripts")
struct RedisScriptingTests {
    static let incrementBy = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")

    @Test("evaluate loads the script once and recovers from SCRIPT FLUSH, running it exactly once per call")
    func noscriptRecovery() throws {
        try withRedisServer { server in
            let redis = try server.connect()
            #expect(try redis.evaluate(Self.incrementBy, keys: ["n"], arguments: ["5"]) == .integer(5))
            #expect(try redis.evaluate(Self.incrementBy, keys: ["n"], arguments: ["5"]) == .integer(10))

            let other = try server.connect()
            #expect(try other.send(["SCRIPT", "FLUSH"]) == .simple("OK"))
            let sha = try #require(try other.send(["SCRIPT", "LOAD", Self.incrementBy.source]).string)
            try other.send(["SCRIPT", "FLUSH"])
            #expect(try other.send(["SCRIPT", "EXISTS", sha]) == .array([.integer(0)]))

            #expect(try redis.evaluate(Self.incrementBy, keys: ["n"], arguments: ["5"]) == .integer(15))
            #expect(try other.send(["SCRIPT", "EXISTS", sha]) == .array([.integer(1)]))
            #expect(try other.send(["GET", "n"]).integer == 15)
        }
    }

    @Test("redis.error_reply surfaces as a server error with the script's code")
    func customErrorCode() throws {
        try withRedisServer { server in
            let redis = try server.connect()
            let lease = RedisScript("""
                if redis.call('GET', KEYS[1]) ~= ARGV[1] then
                  return redis.error_reply('LEASE_LOST held by ' .. tostring(redis.call('GET', KEYS[1])))
                end
                return redis.call('PEXPIRE', KEYS[1], ARGV[2])
                """)
            try redis.send(["SET", "lock", "x"])
            let error = try #require(throws: RedisError.self) {
                try redis.evaluate(lease, keys: ["lock"], arguments: ["me", "1000"])
            }
            #expect(error.kind == .server)
            #expect(error.serverCode == "LEASE_LOST")
            #expect(error.message == "LEASE_LOST held by x")
            #expect(try redis.evaluate(lease, keys: ["lock"], arguments: ["x", "1000"]) == .integer(1))
        }
    }

    @Test("an error from redis.call inside a script keeps the command's code")
    func errorFromRedisCall() throws {
        try withRedisServer { server in
            let redis = try server.connect()
            try redis.send(["SET", "text", "v"])
            let push = RedisScript("return redis.call('LPUSH', KEYS[1], 'x')")
            let error = try #require(throws: RedisError.self) { try redis.evaluate(push, keys: ["text"], arguments: []) }
            #expect(error.serverCode == "WRONGTYPE")
        }
    }

    @Test("script replies convert: tables to arrays, false to null, numbers to integers")
    func replyConversion() throws {
        try withRedisServer { server in
            let redis = try server.connect()
            let script = RedisScript("return {1, 'two', false, {ARGV[1]}, redis.status_reply('FINE')}")
            let value = try redis.evaluate(script, keys: [], arguments: ["nested"])
            #expect(value == .array([.integer(1), .bulk(Array("two".utf8)), .null,
                                     .array([.bulk(Array("nested".utf8))]), .simple("FINE")]))
        }
    }

    @Test("a syntax error in a script is a server error")
    func syntaxError() throws {
        try withRedisServer { server in
            let redis = try server.connect()
            let error = try #require(throws: RedisError.self) {
                try redis.evaluate(RedisScript("return +"), keys: [], arguments: [])
            }
            #expect(error.kind == .server)
            #expect(error.serverCode == "ERR")
            #expect(!redis.isClosed)
        }
    }
}

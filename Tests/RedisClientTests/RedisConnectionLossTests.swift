import RedisClient
import TestSupport
import Testing

@Suite("Losing the server, timeouts, closing")
struct RedisConnectionLossTests {
    @Test("after the server is killed the next command throws .io and the connection closes; a restart accepts new connections")
    func serverKilledThenRestarted() throws {
        try withRedisServer { server in
            let redis = try server.connect()
            try redis.send(["SET", "k", "v"])
            server.kill()

            let error = try #require(throws: RedisError.self) { try redis.send(["GET", "k"]) }
            #expect(error.kind == .io)
            #expect(error.message.contains("Redis at 127.0.0.1:\(server.port)"))
            #expect(redis.isClosed)
            let later = try #require(throws: RedisError.self) { try redis.send(["PING"]) }
            #expect(later.kind == .io)
            #expect(later.message.contains("is closed"))

            try server.restart()
            let fresh = try server.connect()
            #expect(try fresh.send(["PING"]) == .simple("PONG"))
            #expect(try fresh.send(["GET", "k"]) == .null, "nothing is persisted across a restart")
        }
    }

    @Test("writing a large request to a dead server throws instead of dying of SIGPIPE")
    func noSIGPIPE() throws {
        try withRedisServer { server in
            let redis = try server.connect()
            server.kill()
            let big = [UInt8](repeating: 0x61, count: 8_000_000)
            let error = try #require(throws: RedisError.self) {
                try redis.pipeline(bytes: [[Array("SET".utf8), Array("a".utf8), big],
                                           [Array("SET".utf8), Array("b".utf8), big]])
            }
            #expect(error.kind == .io)
            #expect(redis.isClosed)
        }
    }

    @Test("a subscriber sees the server go away as .io")
    func subscriberLosesServer() throws {
        try withRedisServer { server in
            let subscriber = try server.connect()
            try subscriber.subscribe(["events"])
            server.kill()
            let error = try #require(throws: RedisError.self) { try subscriber.nextMessage(timeout: .seconds(5)) }
            #expect(error.kind == .io)
            #expect(subscriber.isClosed)
        }
    }

    @Test("a command that outlives the command timeout throws .timeout naming the limit, and closes the connection")
    func commandTimeout() throws {
        try withRedisServer { server in
            let redis = try server.connect(commandTimeout: .milliseconds(200))
            let error = try #require(throws: RedisError.self) { try redis.send(["BLPOP", "empty", "3"]) }
            #expect(error.kind == .timeout)
            #expect(error.message.contains("timed out after 200 ms"))
            #expect(error.message.contains("127.0.0.1:\(server.port)"))
            #expect(redis.isClosed)
            // A longer limit set on a new connection lets the same blocking command finish.
            let patient = try server.connect(commandTimeout: .milliseconds(200))
            try patient.setCommandTimeout(.seconds(10))
            #expect(try patient.send(["BLPOP", "empty", "0.3"]) == .null)
        }
    }

    @Test("close() makes later calls fail clearly")
    func closeConnection() throws {
        try withRedisServer { server in
            let redis = try server.connect()
            #expect(!redis.isClosed)
            redis.close()
            redis.close()
            #expect(redis.isClosed)
            let error = try #require(throws: RedisError.self) { try redis.send(["PING"]) }
            #expect(error.kind == .io)
            #expect(error.message == "the connection to Redis at 127.0.0.1:\(server.port) is closed: it was closed by close()")
        }
    }
}

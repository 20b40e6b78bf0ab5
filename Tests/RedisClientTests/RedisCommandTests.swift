import RedisClient
import TestSupport
import Testing

@Suite("Commands against a real redis-server")
struct RedisCommandTests {
    @Test("SET then GET returns the value")
    func setAndGet() throws {
        try withRedisServer { server in
            let redis = try server.connect()
            #expect(try redis.send(["SET", "greeting", "hello"]) == .simple("OK"))
            let value = try redis.send(["GET", "greeting"])
            #expect(value == .bulk(Array("hello".utf8)))
            #expect(value.string == "hello")
        }
    }

    @Test("keys and values are binary-safe, NUL bytes included")
    func binarySafe() throws {
        try withRedisServer { server in
            let redis = try server.connect()
            let key: [UInt8] = [0x6B, 0x00, 0x79]
            let value: [UInt8] = [0x00, 0x01, 0x00, 0xFF, 0x0A, 0x0D, 0xC3, 0x28]
            try redis.send(bytes: [Array("SET".utf8), key, value])
            let read = try redis.send(bytes: [Array("GET".utf8), key])
            #expect(read == .bulk(value))
            #expect(read.string == nil, "invalid UTF-8 must not be decoded lossily")
            #expect(try redis.send(bytes: [Array("STRLEN".utf8), key]) == .integer(8))
            #expect(try redis.send(["EXISTS", "k"]) == .integer(0), "the key must not be truncated at the NUL byte")
            try redis.send(["SET", "empty", ""])
            #expect(try redis.send(["GET", "empty"]) == .bulk([]))
        }
    }

    @Test("integer replies and numeric strings")
    func integers() throws {
        try withRedisServer { server in
            let redis = try server.connect()
            #expect(try redis.send(["INCR", "counter"]) == .integer(1))
            #expect(try redis.send(["INCRBY", "counter", "41"]).integer == 42)
            #expect(try redis.send(["DECRBY", "counter", "9223372036854775807"]) == .integer(42 - Int64.max))
            let stored = try redis.send(["GET", "counter"])
            #expect(stored == .bulk(Array(String(42 - Int64.max).utf8)))
            #expect(stored.integer == 42 - Int64.max)
        }
    }

    @Test("a missing key is null")
    func null() throws {
        try withRedisServer { server in
            let redis = try server.connect()
            let missing = try redis.send(["GET", "nope"])
            #expect(missing == .null)
            #expect(missing.isNull)
            #expect(missing.string == nil)
            #expect(try redis.send(["HGET", "nope", "field"]).isNull)
        }
    }

    @Test("array replies, with nulls inside and empty")
    func arrays() throws {
        try withRedisServer { server in
            let redis = try server.connect()
            #expect(try redis.send(["RPUSH", "list", "a", "b", "c"]) == .integer(3))
            let list = try redis.send(["LRANGE", "list", "0", "-1"])
            #expect(list.array?.compactMap(\.string) == ["a", "b", "c"])
            try redis.send(["SET", "x", "1"])
            #expect(try redis.send(["MGET", "x", "missing"]) == .array([.bulk(Array("1".utf8)), .null]))
            #expect(try redis.send(["LRANGE", "nothing", "0", "-1"]) == .array([]))
            // Nested arrays (and errors inside them) from a transaction.
            try redis.send(["MULTI"])
            try redis.send(["INCR", "n"])
            try redis.send(["LPUSH", "x", "oops"])
            let results = try redis.send(["EXEC"])
            #expect(results.array?.count == 2)
            #expect(results.array?.first == .integer(1))
            #expect(results.array?.last?.errorMessage?.hasPrefix("WRONGTYPE") == true)
        }
    }

    @Test("error replies are thrown with their server code; the connection stays usable")
    func errorReplies() throws {
        try withRedisServer { server in
            let redis = try server.connect()
            try redis.send(["SET", "text", "v"])
            let wrongType = try #require(throws: RedisError.self) { try redis.send(["LPUSH", "text", "x"]) }
            #expect(wrongType.kind == .server)
            #expect(wrongType.serverCode == "WRONGTYPE")
            #expect(wrongType.message == "WRONGTYPE Operation against a key holding the wrong kind of value")
            #expect(!wrongType.isRetryable)

            let unknown = try #require(throws: RedisError.self) { try redis.send(["NOSUCHCOMMAND", "a"]) }
            #expect(unknown.serverCode == "ERR")
            #expect(unknown.message.contains("unknown command"))

            #expect(!redis.isClosed)
            #expect(try redis.send(["PING"]) == .simple("PONG"))
        }
    }

    @Test("an empty command is refused without touching the connection")
    func emptyCommand() throws {
        try withRedisServer { server in
            let redis = try server.connect()
            let error = try #require(throws: RedisError.self) { try redis.send([]) }
            #expect(error.kind == .protocolViolation)
            #expect(try redis.pipeline([]) == [])
            #expect(try redis.send(["PING"]) == .simple("PONG"))
        }
    }

    @Test("a pipeline of 10,000 commands returns every reply in order, errors in place")
    func pipelineOf10000() throws {
        try withRedisServer { server in
            let redis = try server.connect()
            var commands = Array(repeating: ["INCR", "counter"], count: 10_000)
            commands[5_000] = ["LPUSH", "counter", "x"]
            let replies = try redis.pipeline(commands)
            #expect(replies.count == 10_000)
            #expect(replies[0] == .integer(1))
            #expect(replies[4_999] == .integer(5_000))
            #expect(replies[5_000].errorMessage?.hasPrefix("WRONGTYPE") == true)
            #expect(throws: RedisError.self) { try replies[5_000].orThrow() }
            #expect(replies[5_001] == .integer(5_001))
            #expect(replies[9_999] == .integer(9_999))
            #expect(try redis.send(["GET", "counter"]).integer == 9_999)
        }
    }

    @Test("a 10 MB value and a 20,000-argument command round-trip")
    func largeValuesAndArguments() throws {
        try withRedisServer { server in
            let redis = try server.connect()
            let big = (0..<10_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            try redis.send(bytes: [Array("SET".utf8), Array("big".utf8), big])
            #expect(try redis.send(["GET", "big"]) == .bulk(big))

            var mset = ["MSET"]
            for index in 0..<10_000 { mset += ["key:\(index)", "value:\(index)"] }
            #expect(mset.count == 20_001)
            try redis.send(mset)
            #expect(try redis.send(["DBSIZE"]) == .integer(10_001))
            let values = try redis.send(["MGET"] + (0..<10_000).map { "key:\($0)" })
            #expect(values.array?.count == 10_000)
            #expect(values.array?.last?.string == "value:9999")

            let count = RedisScript("return #ARGV")
            let arguments = (0..<20_000).map(String.init)
            #expect(try redis.evaluate(count, keys: [], arguments: arguments) == .integer(20_000))
        }
    }
}

import RedisClient
import TestSupport
import Testing

@Suite("Pub/sub")
struct RedisPubSubTests {
    @Test("nextMessage times out with nil, then delivers published messages in order")
    func subscribeAndReceive() throws {
        try withRedisServer { server in
            let subscriber = try server.connect()
            try subscriber.subscribe(["events", "other"])

            let clock = ContinuousClock()
            let started = clock.now
            #expect(try subscriber.nextMessage(timeout: .milliseconds(150)) == nil)
            #expect(started.duration(to: clock.now) >= .milliseconds(150))
            #expect(!subscriber.isClosed)

            let publisher = try server.connect()
            let payload: [UInt8] = [0x00, 0x7B, 0xFF, 0x0A]
            #expect(try publisher.send(bytes: [Array("PUBLISH".utf8), Array("events".utf8), payload]) == .integer(1))
            let first = try #require(try subscriber.nextMessage(timeout: .seconds(5)))
            #expect(first.channel == "events")
            #expect(first.payload == payload)

            for index in 1...3 { try publisher.send(["PUBLISH", index == 2 ? "other" : "events", "m\(index)"]) }
            var received: [String] = []
            while let message = try subscriber.nextMessage(timeout: .seconds(5)) {
                received.append("\(message.channel):\(String(decoding: message.payload, as: UTF8.self))")
                if received.count == 3 { break }
            }
            #expect(received == ["events:m1", "other:m2", "events:m3"])
            #expect(try subscriber.nextMessage(timeout: .zero) == nil)
        }
    }

    @Test("a subscribed connection refuses commands but keeps receiving")
    func subscribedConnectionRefusesCommands() throws {
        try withRedisServer { server in
            let subscriber = try server.connect()
            try subscriber.subscribe(["a"])
            let error = try #require(throws: RedisError.self) { try subscriber.send(["GET", "x"]) }
            #expect(error.kind == .protocolViolation)
            #expect(error.message.contains("subscribed"))

            // More channels can be added; a message already in flight is not lost.
            let publisher = try server.connect()
            try publisher.send(["PUBLISH", "a", "before"])
            try subscriber.subscribe(["b"])
            try publisher.send(["PUBLISH", "b", "after"])
            #expect(try subscriber.nextMessage(timeout: .seconds(5)).map { $0.channel } == "a")
            #expect(try subscriber.nextMessage(timeout: .seconds(5)).map { $0.channel } == "b")
        }
    }

    @Test("nextMessage without a subscription is a usage error")
    func nextMessageWithoutSubscription() throws {
        try withRedisServer { server in
            let redis = try server.connect()
            let error = try #require(throws: RedisError.self) { try redis.nextMessage(timeout: .milliseconds(10)) }
            #expect(error.kind == .protocolViolation)
            #expect(try redis.send(["PING"]) == .simple("PONG"))
        }
    }
}

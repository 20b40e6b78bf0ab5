import Foundation
import NIOCore
import NIOEmbedded
import RedisClient
import Testing
import TestSupport
@testable import DataPlane

@Suite struct AccessLogTests {
    static let encoder = AccessLogEncoder(streamKey: "berth:log:requests", maxStreamLength: 100_000, replica: "edge-1")

    /// An entry with an IPv6 client, non-ASCII host, path and route, and a query whose values must go.
    static func append(to batch: AccessLogBatch, milliseconds: Int = 7) {
        var memo = AccessLogEncoder.Memo()
        encoder.append(to: batch, memo: &memo, seconds: 1_795_000_000, milliseconds: milliseconds, client: "2001:db8::1", method: "GET",
                       host: "bücher.example", path: LogPath(path: "/straße/ä", query: "q=secret&page=2&&=x&flag"), status: 200,
                       bytesIn: 0, bytesOut: 12345, durationMicroseconds: 987, upstream: "[::1]:8080", route: "wéb",
                       revision: "abc123", requestID: "ff-0-1")
    }

    @Test func anEntryIsOneXADDOfOneJSONFieldWithItsKeysInOrderAndNoQueryValues() {
        let batch = AccessLogBatch(capacity: 16)  // smaller than one entry: the buffer grows
        Self.append(to: batch)
        let object = #"{"time":1795000000.007,"replica":"edge-1","client":"2001:db8::1","host":"bücher.example","method":"GET","#
            + #""path":"/straße/ä?q&page&&flag","status":200,"bytes_in":0,"bytes_out":12345,"duration_us":987,"#
            + #""upstream":"[::1]:8080","route":"wéb","revision":"abc123","request_id":"ff-0-1"}"#
        // Bulk lengths count bytes, not characters.
        let expected = "*5\r\n$4\r\nXADD\r\n$18\r\nberth:log:requests\r\n$1\r\n*\r\n"
            + "$4\r\njson\r\n$\(object.utf8.count)\r\n\(object)\r\n"
        #expect(Array(batch.bytes) == Array(expected.utf8), "\(String(decoding: batch.bytes, as: UTF8.self).debugDescription)")
        #expect(batch.entryCount == 1)
        let keys = Self.decodedObjects(batch).first.map { Array($0.keys) } ?? []
        #expect(Set(keys) == Set(AccessLogEncoder.keys) && keys.count == AccessLogEncoder.keys.count)

        // A second entry follows the first unchanged (milliseconds are zero-padded to three digits).
        Self.append(to: batch, milliseconds: 456)
        let second = expected.replacingOccurrences(of: "1795000000.007", with: "1795000000.456")
        #expect(Array(batch.bytes) == Array((expected + second).utf8))
        #expect(batch.entryCount == 2)

        // The batch ends with one trim of the stream to its cap, whatever asks for it twice.
        let trim = "*5\r\n$5\r\nXTRIM\r\n$18\r\nberth:log:requests\r\n$6\r\nMAXLEN\r\n$1\r\n~\r\n$6\r\n100000\r\n"
        Self.encoder.appendTrim(to: batch)
        Self.encoder.appendTrim(to: batch)
        #expect(Array(batch.bytes) == Array((expected + second + trim).utf8))
        #expect(batch.trimmed && batch.entryCount == 2)
        batch.reset()
        #expect(!batch.trimmed && batch.byteCount == 0 && batch.entryCount == 0)
    }

    /// The JSON objects of the XADDs in `batch`, decoded by Foundation's parser (each entry's bulk
    /// length is checked on the way: a wrong one misplaces the next command).
    static func decodedObjects(_ batch: AccessLogBatch) -> [[String: Any]] {
        var objects: [[String: Any]] = []
        var rest = Array(batch.bytes)[...]
        while !rest.isEmpty {
            // Skip the fixed part up to the `json` field name, then read `$<length>\r\n<object>\r\n`.
            guard let field = rest.firstRange(of: Array("$4\r\njson\r\n$".utf8)) else { break }
            rest = rest[field.upperBound...]
            guard let lineEnd = rest.firstRange(of: Array("\r\n".utf8)),
                  let length = Int(String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self)) else { break }
            let body = rest[lineEnd.upperBound...].prefix(length)
            rest = rest[lineEnd.upperBound...].dropFirst(length)
            guard rest.starts(with: Array("\r\n".utf8)),
                  let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { break }
            objects.append(object)
            rest = rest.dropFirst(2)
        }
        return objects
    }

    @Test func textIsEscapedAndTheLengthFitsAnySize() throws {
        let encoder = AccessLogEncoder(streamKey: "k", maxStreamLength: 10, replica: "r\"1")
        let batch = AccessLogBatch(capacity: 64)
        // Quotes, backslashes and control characters, in the words copied whole and in the tail.
        let awkward = "/a\"b\\c\u{01}d\te\nf\rg/quote\"in-the-second-word/and-a-long-clean-tail-of-text"
        let long = "/" + String(repeating: "x", count: 1_200)  // a four-digit bulk length
        var memo = AccessLogEncoder.Memo()
        for (index, path) in [awkward, "/", long].enumerated() {
            encoder.append(to: batch, memo: &memo, seconds: 1, milliseconds: 2, client: "c", method: "GET", host: "h\u{7f}ü",
                           path: LogPath(path: path, query: "a\"=1&b\\=2"), status: 200, bytesIn: 0, bytesOut: 0,
                           durationMicroseconds: 1, upstream: "u", route: "r", revision: "v",
                           requestID: RequestID(index == 0 ? "id\"\\" : "plain"))
        }
        let objects = Self.decodedObjects(batch)
        try #require(objects.count == 3, "\(String(decoding: batch.bytes, as: UTF8.self).debugDescription)")
        #expect(objects.map { $0["path"] as? String } == [awkward + "?a\"&b\\", "/?a\"&b\\", long + "?a\"&b\\"])
        #expect(objects[0]["request_id"] as? String == "id\"\\" && objects[1]["request_id"] as? String == "plain")
        #expect(objects.allSatisfy { $0["replica"] as? String == "r\"1" && $0["host"] as? String == "h\u{7f}ü" })
        #expect(objects.allSatisfy { ($0["status"] as? NSNumber)?.intValue == 200 && ($0["time"] as? NSNumber)?.doubleValue == 1.002 })
        #expect(batch.entryCount == 3)
    }

    /// A writer's memo holds the escaped text of values that repeat; any value that changes
    /// between entries (whichever, and back again) must still reach its entry.
    @Test func repeatedValuesComeFromTheMemoAndChangedOnesDoNot() throws {
        let batch = AccessLogBatch(capacity: 64)
        var memo = AccessLogEncoder.Memo()
        let rows: [(client: String, host: String, upstream: String, route: String, revision: String)] = [
            ("10.0.0.1", "a.test", "10.1.0.1:80", "web", "r1"), ("10.0.0.1", "a.test", "10.1.0.1:80", "web", "r1"),
            ("10.0.0.2", "a.test", "10.1.0.1:80", "web", "r1"), ("10.0.0.2", "b.\"test", "10.1.0.1:80", "web", "r1"),
            ("10.0.0.2", "b.\"test", "10.1.0.2:80", "web", "r1"), ("10.0.0.2", "b.\"test", "10.1.0.2:80", "api", "r1"),
            ("10.0.0.2", "b.\"test", "10.1.0.2:80", "api", "r2"), ("10.0.0.1", "a.test", "10.1.0.1:80", "web", "r1"),
            ("", "", "", "", ""),
        ]
        for row in rows {
            Self.encoder.append(to: batch, memo: &memo, seconds: 1, milliseconds: 0, client: row.client, method: "GET", host: row.host,
                                path: "/", status: 200, bytesIn: 0, bytesOut: 0, durationMicroseconds: 1, upstream: row.upstream,
                                route: row.route, revision: row.revision, requestID: "id")
        }
        let objects = Self.decodedObjects(batch)
        try #require(objects.count == rows.count, "\(String(decoding: batch.bytes, as: UTF8.self).debugDescription)")
        for (object, row) in zip(objects, rows) {
            #expect(object["client"] as? String == row.client && object["host"] as? String == row.host, "\(object)")
            #expect(object["upstream"] as? String == row.upstream && object["route"] as? String == row.route, "\(object)")
            #expect(object["revision"] as? String == row.revision && object["method"] as? String == "GET", "\(object)")
        }
    }

    @Test func theWordTestFindsExactlyTheBytesJSONEscapes() {
        // Every byte value at every position of a word, against its definition.
        for value in 0...255 {
            let needs = value < 0x20 || value == 0x22 || value == 0x5c
            for position in 0..<8 {
                var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 8)
                bytes[position] = UInt8(value)
                let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                #expect(ByteCursor.needsJSONEscape(word) == needs, "byte \(value) at \(position)")
            }
        }
    }

    @Test(arguments: [
        ("", ""), ("a=1", "a"), ("a", "a"), ("a=1&b=2", "a&b"), ("a=1&&b", "a&b"), ("=secret", ""), ("x=1=2&=y&z", "x&&z"),
        ("token=abc%3D%3D", "token"), ("&&", ""),
    ])
    func queryValuesAreDroppedAndNamesKept(query: String, names: String) {
        let bytes = Array(query.utf8)
        let length = bytes.withUnsafeBufferPointer { AccessLogEncoder.queryNames($0, into: nil) }
        var output = [UInt8](repeating: 0, count: length)
        let written = bytes.withUnsafeBufferPointer { query in
            output.withUnsafeMutableBufferPointer { AccessLogEncoder.queryNames(query, into: $0.baseAddress) }
        }
        #expect(written == length)
        #expect(String(decoding: output, as: UTF8.self) == names)
    }

    static func configuration(_ url: RedisURL) -> AccessLogShipper.Configuration {
        var configuration = AccessLogShipper.Configuration(redisURL: url, streamKey: "berth:log:requests", replica: "edge-1")
        configuration.capacity = 4
        configuration.batchSize = 2
        return configuration
    }

    static func record(_ writer: AccessLogWriter, path: String = "/a", query: String? = nil) {
        writer.record(client: "2001:db8::1", method: "POST", host: "bücher.example", path: LogPath(path: path, query: query),
                      status: 201, bytesIn: 3, bytesOut: 4, durationMicroseconds: 5, upstream: "10.0.0.2:80", route: "wéb",
                      revision: "rev", requestID: "id")
    }

    @Test func batchesTheQueueCannotTakeAreDroppedAndCounted() throws {
        // Never started: nothing leaves the queue, as when Redis is too slow.
        let shipper = AccessLogShipper(configuration: Self.configuration(try RedisURL(parsing: "redis://127.0.0.1:1/0")))
        let loop = EmbeddedEventLoop()
        let writer = shipper.makeWriter(for: loop)
        for _ in 0..<7 { Self.record(writer) }
        #expect(shipper.queued == 4, "two batches of two fill the queue")
        #expect(shipper.dropped == 2, "the third batch is dropped whole")
        writer.flush()
        #expect(shipper.queued == 4 && shipper.dropped == 3, "the seventh entry, handed over by flush, is dropped too")
    }

    /// The entries of an `XRANGE` reply: each one's `json` field (its only one) decoded, values as text.
    static func entries(_ reply: [RedisValue]) -> [[String: String]] {
        reply.compactMap { item in
            guard let fields = item.array?.last?.array?.compactMap(\.string), fields.count == 2, fields[0] == AccessLogEncoder.field,
                  let object = try? JSONSerialization.jsonObject(with: Data(fields[1].utf8)) as? [String: Any] else { return nil }
            return object.mapValues { value in (value as? String) ?? "\(value)" }
        }
    }

    @Test func entriesReachARealStreamAsJSON() throws {
        try withRedisServer { redis in
            let shipper = AccessLogShipper(configuration: Self.configuration(redis.url))
            shipper.start()
            defer { shipper.stop() }
            let loop = EmbeddedEventLoop()
            let writer = shipper.makeWriter(for: loop)
            Self.record(writer, path: "/straße", query: "q=secret&page=2")
            Self.record(writer)
            Self.record(writer, path: "/late")  // waits in the loop's batch until the flush timer
            loop.advanceTime(by: .milliseconds(100))

            let connection = try redis.connect(commandTimeout: .seconds(5))
            var entries: [[String: String]] = []
            let arrived = eventually(timeout: 5) {
                let reply = (try? connection.send(["XRANGE", "berth:log:requests", "-", "+"]).array) ?? []
                entries = Self.entries(reply)
                return entries.count == 3
            }
            #expect(arrived, "\(entries)")
            #expect(entries.map { $0["path"] ?? "?" } == ["/straße?q&page", "/a", "/late"])
            let first = try #require(entries.first)
            #expect(first.count == AccessLogEncoder.keys.count)
            #expect(first["client"] == "2001:db8::1" && first["host"] == "bücher.example" && first["route"] == "wéb")
            #expect(first["method"] == "POST" && first["status"] == "201" && first["bytes_in"] == "3" && first["bytes_out"] == "4")
            #expect(first["duration_us"] == "5" && first["upstream"] == "10.0.0.2:80" && first["replica"] == "edge-1")
            let time = try #require(first["time"].flatMap(Double.init))
            #expect(abs(time - Date().timeIntervalSince1970) < 60, "\(first)")
            #expect(eventually(timeout: 5) { shipper.shipped == 3 } && shipper.dropped == 0)
        }
    }
}

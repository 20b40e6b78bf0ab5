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
        encoder.append(to: batch, seconds: 1_795_000_000, milliseconds: milliseconds, client: "2001:db8::1", method: "GET",
                       host: "bücher.example", path: LogPath(path: "/straße/ä", query: "q=secret&page=2&&=x&flag"), status: 200,
                       bytesIn: 0, bytesOut: 12345, durationMicroseconds: 987, upstream: "[::1]:8080", route: "wéb",
                       revision: "abc123", requestID: "ff-0-1")
    }

    @Test func anEntryIsOneXADDWithItsFieldsInOrderAndNoQueryValues() {
        let batch = AccessLogBatch(capacity: 16)  // smaller than one entry: the buffer grows
        Self.append(to: batch)
        // Bulk lengths count bytes: "bücher.example" is 15, "/straße/ä?q&page&&flag" 24, "wéb" 4.
        let expected = "*34\r\n$4\r\nXADD\r\n$18\r\nberth:log:requests\r\n$6\r\nMAXLEN\r\n$1\r\n~\r\n$6\r\n100000\r\n$1\r\n*\r\n"
            + "$4\r\ntime\r\n$14\r\n1795000000.007\r\n$7\r\nreplica\r\n$6\r\nedge-1\r\n$6\r\nclient\r\n$11\r\n2001:db8::1\r\n"
            + "$6\r\nmethod\r\n$3\r\nGET\r\n$4\r\nhost\r\n$15\r\nbücher.example\r\n$4\r\npath\r\n$24\r\n/straße/ä?q&page&&flag\r\n"
            + "$6\r\nstatus\r\n$3\r\n200\r\n$8\r\nbytes_in\r\n$1\r\n0\r\n$9\r\nbytes_out\r\n$5\r\n12345\r\n"
            + "$11\r\nduration_us\r\n$3\r\n987\r\n$8\r\nupstream\r\n$10\r\n[::1]:8080\r\n$5\r\nroute\r\n$4\r\nwéb\r\n"
            + "$8\r\nrevision\r\n$6\r\nabc123\r\n$10\r\nrequest_id\r\n$6\r\nff-0-1\r\n"
        #expect(Array(batch.bytes) == Array(expected.utf8), "\(String(decoding: batch.bytes, as: UTF8.self).debugDescription)")
        #expect(batch.entryCount == 1)

        // A second entry follows the first unchanged (milliseconds are zero-padded to three digits).
        Self.append(to: batch, milliseconds: 456)
        let second = expected.replacingOccurrences(of: "1795000000.007", with: "1795000000.456")
        #expect(Array(batch.bytes) == Array((expected + second).utf8))
        #expect(batch.entryCount == 2)
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

    @Test func entriesReachARealStreamAsFields() throws {
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
                entries = reply.compactMap { item in
                    guard let fields = item.array?.last?.array?.compactMap(\.string) else { return nil }
                    return Dictionary(stride(from: 0, to: fields.count - 1, by: 2).map { (fields[$0], fields[$0 + 1]) }) { a, _ in a }
                }
                return entries.count == 3
            }
            #expect(arrived, "\(entries)")
            #expect(entries.map { $0["path"] ?? "?" } == ["/straße?q&page", "/a", "/late"])
            let first = try #require(entries.first)
            #expect(first.count == AccessLogEncoder.fieldCount)
            #expect(first["client"] == "2001:db8::1" && first["host"] == "bücher.example" && first["route"] == "wéb")
            #expect(first["method"] == "POST" && first["status"] == "201" && first["bytes_in"] == "3" && first["bytes_out"] == "4")
            #expect(first["duration_us"] == "5" && first["upstream"] == "10.0.0.2:80" && first["replica"] == "edge-1")
            let time = try #require(first["time"].flatMap(Double.init))
            #expect(abs(time - Date().timeIntervalSince1970) < 60, "\(first)")
            #expect(eventually(timeout: 5) { shipper.shipped == 3 } && shipper.dropped == 0)
        }
    }
}

/// The path of a request as the access log records it: the normalized path and the raw query.
/// The query's values are dropped while the entry is encoded (secrets often travel in query
/// strings), so logging a path needs no string of its own: both parts already exist for routing.
struct LogPath: Sendable, ExpressibleByStringLiteral {
    var path: String
    var query: String?

    init(path: String, query: String? = nil) {
        self.path = path
        self.query = query
    }

    /// For answers that have no path to log (`"-"`).
    init(stringLiteral value: String) { self.init(path: value) }
}

/// Encoded `XADD`s for a number of access-log entries in one growable buffer. Filled on one event
/// loop, handed whole to the shipper thread (under its lock), and recycled once shipped.
final class AccessLogBatch: @unchecked Sendable {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    var byteCount = 0
    var entryCount = 0

    init(capacity: Int) {
        base = .allocate(capacity: capacity)
        self.capacity = capacity
    }

    deinit { base.deallocate() }

    var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: byteCount) }

    /// Where to write up to `count` more bytes (the caller then advances `byteCount`).
    @inline(__always) func reserve(_ count: Int) -> UnsafeMutablePointer<UInt8> {
        if byteCount + count > capacity { grow(to: byteCount + count) }
        return base + byteCount
    }

    private func grow(to needed: Int) {
        let newCapacity = max(needed, capacity * 2)
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.update(from: base, count: byteCount)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    func reset() {
        byteCount = 0
        entryCount = 0
    }
}

/// RESP on top of `ByteCursor`: bulk strings and numbers, digits written by hand (no `String`).
extension ByteCursor {
    @inline(__always) static func digitCount(_ value: Int) -> Int {
        var count = 1
        var rest = value
        while rest >= 10 {
            rest /= 10
            count += 1
        }
        return count
    }

    /// The last `digits` decimal digits of `value` (not negative), zero-padded, written from the
    /// last digit back.
    @inline(__always) mutating func decimal(_ value: Int, digits: Int) {
        var rest = value
        var cursor = position + digits
        for _ in 0..<digits {
            cursor -= 1
            cursor.pointee = 0x30 &+ UInt8(truncatingIfNeeded: rest % 10)
            rest /= 10
        }
        position += digits
    }

    @inline(__always) mutating func bulkHeader(_ length: Int) {
        byte(UInt8(ascii: "$"))
        decimal(length, digits: Self.digitCount(length))
        crlf()
    }

    @inline(__always) mutating func bulk(_ text: String) {
        bulkHeader(text.utf8.count)
        utf8(text)
        crlf()
    }

    /// A count as a bulk string; negative values (never expected) are logged as 0.
    @inline(__always) mutating func bulk(number: Int) {
        let value = max(0, number)
        let digits = Self.digitCount(value)
        byte(UInt8(ascii: "$"))
        decimal(digits, digits: Self.digitCount(digits))
        crlf()
        decimal(value, digits: digits)
        crlf()
    }
}

/// Encodes access-log entries straight into RESP — `XADD <key> MAXLEN ~ <cap> * time … request_id …`
/// — on the event loop that served the request: no entry struct, no field array, no `String` per
/// number. What every entry shares (command, key, cap, replica, field names) is laid out once.
struct AccessLogEncoder: Sendable {
    static let fieldCount = 14
    /// Everything before the time value: `*34 XADD <key> MAXLEN ~ <cap> * time`.
    let head: [UInt8]
    /// Between the time and the client address: `replica <id> client`.
    let replica: [UInt8]
    /// Field names, bulk headers, the timestamp and four numbers take less than this.
    static let fixedOverhead = 640

    init(streamKey: String, maxStreamLength: Int, replica: String) {
        var head = Array("*\(6 + 2 * Self.fieldCount)\r\n".utf8)
        for text in ["XADD", streamKey, "MAXLEN", "~", String(maxStreamLength), "*", "time"] { RESPPipe.appendBulk(&head, text) }
        self.head = head
        var middle: [UInt8] = []
        for text in ["replica", replica, "client"] { RESPPipe.appendBulk(&middle, text) }
        self.replica = middle
    }

    /// Appends one entry to `batch`. `seconds` and `milliseconds` are the wall-clock time.
    func append(to batch: AccessLogBatch, seconds: Int, milliseconds: Int, client: String, method: String, host: String,
                path: LogPath, status: Int, bytesIn: Int, bytesOut: Int, durationMicroseconds: Int, upstream: String,
                route: String, revision: String, requestID: RequestID) {
        let query = path.query.flatMap { $0.isEmpty ? nil : $0 }
        let variable = client.utf8.count + method.utf8.count + host.utf8.count + path.path.utf8.count
            + (query?.utf8.count ?? 0) + upstream.utf8.count + route.utf8.count + revision.utf8.count + requestID.utf8Count
        let start = batch.reserve(head.count + replica.count + Self.fixedOverhead + variable)
        var out = ByteCursor(position: start)
        head.withUnsafeBufferPointer { out.raw($0) }

        let secondDigits = ByteCursor.digitCount(max(0, seconds))
        out.bulkHeader(secondDigits + 4)
        out.decimal(max(0, seconds), digits: secondDigits)
        out.byte(UInt8(ascii: "."))
        out.decimal(min(max(0, milliseconds), 999), digits: 3)
        out.crlf()

        replica.withUnsafeBufferPointer { out.raw($0) }
        out.bulk(client)
        out.raw("$6\r\nmethod\r\n")
        out.bulk(method)
        out.raw("$4\r\nhost\r\n")
        out.bulk(host)
        out.raw("$4\r\npath\r\n")
        if let query {
            Self.withBytes(query) { bytes in
                out.bulkHeader(path.path.utf8.count + 1 + Self.queryNames(bytes, into: nil))
                out.utf8(path.path)
                out.byte(UInt8(ascii: "?"))
                out.position += Self.queryNames(bytes, into: out.position)
                out.crlf()
            }
        } else {
            out.bulk(path.path)
        }
        out.raw("$6\r\nstatus\r\n")
        out.bulk(number: status)
        out.raw("$8\r\nbytes_in\r\n")
        out.bulk(number: bytesIn)
        out.raw("$9\r\nbytes_out\r\n")
        out.bulk(number: bytesOut)
        out.raw("$11\r\nduration_us\r\n")
        out.bulk(number: durationMicroseconds)
        out.raw("$8\r\nupstream\r\n")
        out.bulk(upstream)
        out.raw("$5\r\nroute\r\n")
        out.bulk(route)
        out.raw("$8\r\nrevision\r\n")
        out.bulk(revision)
        out.raw("$10\r\nrequest_id\r\n")
        out.bulkHeader(requestID.utf8Count)
        requestID.write(to: &out)
        out.crlf()

        batch.byteCount += out.position - start
        batch.entryCount += 1
    }

    /// The query's parameter names joined by `&`, values dropped (`q=1&&page=2` → `q&page`; empty
    /// parameters are skipped). Writes them to `output` when given; returns their length either way.
    static func queryNames(_ query: UnsafeBufferPointer<UInt8>, into output: UnsafeMutablePointer<UInt8>?) -> Int {
        var written = 0
        var first = true
        var index = 0
        let count = query.count
        while index < count {
            var end = index
            while end < count && query[end] != UInt8(ascii: "&") { end += 1 }
            if end > index {
                if !first {
                    output?[written] = UInt8(ascii: "&")
                    written += 1
                }
                first = false
                var cursor = index
                while cursor < end && query[cursor] != UInt8(ascii: "=") {
                    output?[written] = query[cursor]
                    written += 1
                    cursor += 1
                }
            }
            index = end + 1
        }
        return written
    }

    private static func withBytes<Result>(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        if let result = text.utf8.withContiguousStorageIfAvailable(body) { return result }
        return Array(text.utf8).withUnsafeBufferPointer(body)
    }
}

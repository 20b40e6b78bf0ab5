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
    /// The batch ends with the stream's XTRIM (one more reply to read after the entries').
    var trimmed = false

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
        trimmed = false
    }
}

/// RESP on top of `ByteCursor`: bulk headers and numbers, digits written by hand (no `String`).
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
}

/// Encodes access-log entries straight into RESP on the event loop that served the request: each
/// is `XADD <key> * json <object>`, one stream field holding the entry as a JSON
/// object with the `keys`. No entry struct, no field array, no `String` per number; what every
/// entry shares (command, key, replica) is laid out once, and what repeats is remembered
/// (`Memo`).
///
/// One field rather than one per value: Redis parses every argument of a command into an object
/// of its own and stores each value apart, so an entry of 14 fields cost its single thread
/// 2.5–3.2 µs against 1.2–1.7 µs as one field (measured with `redis-cli --pipe`, 200,000 entries).
/// Every replica logs to the one Redis, so that thread caps the whole fleet's request rate. The
/// price is memory: Redis stores a field name once per stream node when entries repeat it, but the
/// keys inside the JSON with every entry (about 340 bytes an entry against 170; the stream is capped).
///
/// The cap is one `XTRIM <key> MAXLEN ~ <cap>` at the end of each batch (`appendTrim`), not a
/// `MAXLEN ~ <cap>` in every XADD: three arguments fewer per entry, and one trim check per batch
/// instead of per entry, cost Redis 1.00–1.10 µs an entry against 1.20–1.40 µs (`redis-cli
/// --pipe`, 200,000 entries, a trim every 50). The stream can exceed the cap by one batch
/// between trims; `~` trimming lets it exceed the cap by up to a stream node (100 entries) anyway.
struct AccessLogEncoder: Sendable {
    /// The keys of an entry's JSON object, in order.
    static let keys = ["time", "replica", "client", "host", "method", "path", "status", "bytes_in", "bytes_out", "duration_us",
                       "upstream", "route", "revision", "request_id"]
    /// The one stream field of an entry.
    static let field = "json"
    /// Everything before the entry's bulk length: `*5 XADD <key> * json`.
    let head: [UInt8]
    /// `*5 XTRIM <key> MAXLEN ~ <cap>`, the end of every batch.
    let trim: [UInt8]
    /// Between the time and the client address: `,"replica":"<id>","client":"`.
    let replica: [UInt8]
    /// Keys, quotes, the timestamp, four numbers and the bulk header take less than this.
    static let fixedOverhead = 400
    /// The bulk length is written with this many digits first (entries are 100 to 999 bytes long
    /// unless a path or host is long); the object moves when its length needs another count.
    private static let guessedLengthDigits = 3

    /// Encoded text of the values that repeat from entry to entry, with the values it was made
    /// from: a keep-alive connection's client and host, a route's upstream, name and revision.
    /// A writer keeps one (it is not shared between threads); an entry whose values are the same
    /// copies the bytes instead of escaping the values again. Strings compare cheaply here: the
    /// same value mostly arrives as the very same string.
    struct Memo {
        fileprivate var client = "", host = ""
        /// `<client>","host":"<host>","method":"`, escaped.
        fileprivate var clientHost: [UInt8]?
        fileprivate var upstream = "", route = "", revision = ""
        /// `,"upstream":"<upstream>","route":"<route>","revision":"<revision>","request_id":"`, escaped.
        fileprivate var target: [UInt8]?

        init() {}
    }

    init(streamKey: String, maxStreamLength: Int, replica: String) {
        var head = Array("*5\r\n".utf8)
        for text in ["XADD", streamKey, "*", Self.field] { RESPPipe.appendBulk(&head, text) }
        self.head = head
        var trim = Array("*5\r\n".utf8)
        for text in ["XTRIM", streamKey, "MAXLEN", "~", String(maxStreamLength)] { RESPPipe.appendBulk(&trim, text) }
        self.trim = trim
        self.replica = Self.escaped([",\"replica\":\"", replica, "\",\"client\":\""], escaping: [1])
    }

    /// `parts` joined, those at `escaping` escaped as JSON text.
    private static func escaped(_ parts: [String], escaping: Set<Int>) -> [UInt8] {
        let bound = parts.reduce(0) { $0 + 6 * $1.utf8.count } + 8
        return [UInt8](unsafeUninitializedCapacity: bound) { buffer, count in
            var out = ByteCursor(position: buffer.baseAddress!)
            for (index, part) in parts.enumerated() {
                if escaping.contains(index) { out.jsonText(part) } else { out.utf8(part) }
            }
            count = out.position - buffer.baseAddress!
        }
    }

    /// Ends `batch` with the stream's trim to its cap (once, when the batch is handed over).
    func appendTrim(to batch: AccessLogBatch) {
        guard !batch.trimmed else { return }
        let start = batch.reserve(trim.count)
        trim.withUnsafeBufferPointer { start.update(from: $0.baseAddress!, count: $0.count) }
        batch.byteCount += trim.count
        batch.trimmed = true
    }

    /// Appends one entry to `batch`. `seconds` and `milliseconds` are the wall-clock time.
    func append(to batch: AccessLogBatch, memo: inout Memo, seconds: Int, milliseconds: Int, client: String, method: String,
                host: String, path: LogPath, status: Int, bytesIn: Int, bytesOut: Int, durationMicroseconds: Int,
                upstream: String, route: String, revision: String, requestID: RequestID) {
        let query = path.query.flatMap { $0.isEmpty ? nil : $0 }
        let variable = client.utf8.count + method.utf8.count + host.utf8.count + path.path.utf8.count
            + (query?.utf8.count ?? 0) + upstream.utf8.count + route.utf8.count + revision.utf8.count + requestID.utf8Count
        // An escaped byte takes at most six (`\u001f`); `fixedOverhead` covers `jsonText`'s spare word.
        let start = batch.reserve(head.count + replica.count + Self.fixedOverhead + 6 * variable)
        var out = ByteCursor(position: start)
        head.withUnsafeBufferPointer { out.raw($0) }
        let lengthAt = out.position
        out.position += Self.guessedLengthDigits + 3  // `$NNN\r\n`
        let objectStart = out.position

        out.raw("{\"time\":")
        out.decimal(max(0, seconds), digits: ByteCursor.digitCount(max(0, seconds)))
        out.byte(UInt8(ascii: "."))
        out.decimal(min(max(0, milliseconds), 999), digits: 3)
        replica.withUnsafeBufferPointer { out.raw($0) }
        if memo.clientHost == nil || client != memo.client || host != memo.host {
            (memo.client, memo.host) = (client, host)
            memo.clientHost = Self.escaped([client, "\",\"host\":\"", host, "\",\"method\":\""], escaping: [0, 2])
        }
        out.raw(memo.clientHost!)
        out.jsonText(method)
        out.raw("\",\"path\":\"")
        out.jsonText(path.path)
        if let query {
            Self.withBytes(query) { bytes in
                // Names only (values dropped), escaped like any text.
                let count = Self.queryNames(bytes, into: nil)
                guard count > 0 else { return }
                out.byte(UInt8(ascii: "?"))
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count) { names in
                    _ = Self.queryNames(bytes, into: names.baseAddress)
                    out.jsonText(UnsafeBufferPointer(names))
                }
            }
        }
        out.raw("\",\"status\":")
        out.number(status)
        out.raw(",\"bytes_in\":")
        out.number(bytesIn)
        out.raw(",\"bytes_out\":")
        out.number(bytesOut)
        out.raw(",\"duration_us\":")
        out.number(durationMicroseconds)
        if memo.target == nil || upstream != memo.upstream || route != memo.route || revision != memo.revision {
            (memo.upstream, memo.route, memo.revision) = (upstream, route, revision)
            memo.target = Self.escaped([",\"upstream\":\"", upstream, "\",\"route\":\"", route, "\",\"revision\":\"", revision,
                                        "\",\"request_id\":\""], escaping: [1, 3, 5])
        }
        out.raw(memo.target!)
        requestID.writeJSON(to: &out)
        out.raw("\"}")

        let length = out.position - objectStart
        let digits = ByteCursor.digitCount(length)
        if digits != Self.guessedLengthDigits {
            let moved = objectStart + (digits - Self.guessedLengthDigits)
            moved.update(from: objectStart, count: length)
            out.position = moved + length
        }
        out.crlf()
        var header = ByteCursor(position: lengthAt)
        header.bulkHeader(length)

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

/// JSON text inside quotes. Swift strings are valid UTF-8, so only the quote, the backslash and
/// control characters need escaping; everything else (UTF-8 included) is copied as it is.
extension ByteCursor {
    /// Whether any of the eight bytes of `word` is a control character, `"` or `\\`.
    @inline(__always) static func needsJSONEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let control = (word &- 0x2020_2020_2020_2020) & ~word  // a byte below 0x20 (high bit clear)
        let quote = word ^ (0x22 &* ones), backslash = word ^ (0x5c &* ones)
        let quoteZero = (quote &- ones) & ~quote, backslashZero = (backslash &- ones) & ~backslash
        return (control | quoteZero | backslashZero) & highs != 0
    }

    @inline(__always) mutating func jsonByte(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"):
            self.byte(UInt8(ascii: "\\"))
            self.byte(byte)
        case 0x0a: raw("\\n")
        case 0x0d: raw("\\r")
        case 0x09: raw("\\t")
        case ..<0x20:
            let hex: StaticString = "0123456789abcdef"
            raw("\\u00")
            self.byte(hex.utf8Start[Int(byte >> 4)])
            self.byte(hex.utf8Start[Int(byte & 0xf)])
        default:
            self.byte(byte)
        }
    }

    /// Escaped bytes: up to six for each, and the caller reserves seven more (the last bytes are
    /// checked and written as one word, whose spare bytes the next write covers).
    @inline(__always) mutating func jsonText(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress else { return }
        let count = bytes.count
        var index = 0
        // Whole words that need nothing are copied as they are.
        while index + 8 <= count {
            let word = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
            if Self.needsJSONEscape(word) { break }
            UnsafeMutableRawPointer(position).storeBytes(of: word, as: UInt64.self)
            position += 8
            index += 8
        }
        if index < count, count - index < 8 {
            // The last one to seven bytes, in a word padded with spaces (which need nothing).
            var word: UInt64 = 0x2020_2020_2020_2020
            withUnsafeMutableBytes(of: &word) { $0.baseAddress!.copyMemory(from: base + index, byteCount: count - index) }
            if !Self.needsJSONEscape(word) {
                UnsafeMutableRawPointer(position).storeBytes(of: word, as: UInt64.self)
                position += count - index
                return
            }
        }
        while index < count {
            jsonByte(base[index])
            index += 1
        }
    }

    @inline(__always) mutating func jsonText(_ text: String) {
        var text = text
        text.withUTF8 { jsonText($0) }
    }

    /// A count as a JSON number; negative values (never expected) are logged as 0.
    @inline(__always) mutating func number(_ value: Int) {
        let value = max(0, value)
        decimal(value, digits: Self.digitCount(value))
    }
}

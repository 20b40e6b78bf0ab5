#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Strict HTTP/1.x head parsing (RFC 9112) over raw bytes, for a proxy that forwards what it
/// does not need to understand as bytes. Pure: bytes in, offsets out; nothing is copied.
///
/// Strictness is deliberate (request smuggling, RFC 9112 §11.2): lines end in CRLF (a bare CR or
/// LF is refused), header names are tokens followed directly by `:` (no whitespace before the
/// colon), obsolete line folding is refused, values hold no control characters, and framing
/// headers that two parsers could read differently are refused.
public enum HeadError: Error, Equatable, Sendable {
    /// More than `HeadLimits.maxBytes` or `maxFields`: a request gets 431.
    case tooLarge
    case malformed(Malformation)
}

public enum Malformation: String, Sendable {
    case requestLine = "bad request line"
    case statusLine = "bad status line"
    case version = "unsupported HTTP version"
    case lineEnding = "line not ended by CRLF"
    case headerName = "bad header name"
    case headerValue = "bad header value"
    case folding = "obsolete line folding"
    case contentLength = "bad or conflicting Content-Length"
    case transferEncoding = "unsupported transfer-encoding"
    case lengthAndEncoding = "both Content-Length and Transfer-Encoding"
}

public struct HeadLimits: Sendable {
    public var maxBytes: Int
    public var maxFields: Int
    public init(maxBytes: Int = 32 * 1024, maxFields: Int = 200) {
        self.maxBytes = maxBytes
        self.maxFields = maxFields
    }
}

public enum ParseOutcome<Head> {
    case needMore
    case head(Head)
    case invalid(HeadError)

    /// The outcome of an in-place parse (`head` counts only when `status` is `.complete`).
    init(_ status: ParseStatus, head: Head) {
        switch status {
        case .needMore: self = .needMore
        case .invalid(let error): self = .invalid(error)
        case .complete: self = .head(head)
        }
    }
}

/// What parsing a head in place (`HeadParser.parseRequest(_:limits:into:)`) came to.
public enum ParseStatus: Equatable, Sendable {
    case needMore
    /// The head is complete and filled in.
    case complete
    case invalid(HeadError)
}

/// How a message body is delimited.
public enum BodyFraming: Equatable, Sendable {
    case none
    case length(Int)
    case chunked
    /// Until the connection closes (responses only).
    case untilClose
}

/// The `Connection` header's tokens the proxy acts on.
public struct ConnectionTokens: Equatable, Sendable {
    public var close = false
    public var keepAlive = false
    public var upgrade = false
    /// Other tokens: each names a header to drop (RFC 9110 §7.6.1); offsets into the head.
    public var named: [Range<Int>] = []
    public init() {}
}

/// A parsed request head. Offsets count from the first byte given to the parser.
public struct RequestHead: Sendable {
    /// Bytes from the start of the input to the end of the empty line (leading empty lines
    /// before the request line included, RFC 9112 §2.2).
    public var length: Int
    public var method: Range<Int>
    public var target: Range<Int>
    /// 0 or 1 (HTTP/1.0 or HTTP/1.1).
    public var minorVersion: Int
    public var fields: [HeaderField]
    public var framing: BodyFraming
    /// The value of the Host header when there is exactly one.
    public var host: Range<Int>?
    public var hostCount: Int
    public var connection: ConnectionTokens
    public var hasUpgradeHeader: Bool

    /// An empty head, for `HeadParser.parseRequest(_:limits:into:)` to fill (a connection keeps
    /// one and reuses it, with its arrays' storage, request after request).
    public init() {
        (length, method, target, minorVersion, fields, framing) = (0, 0..<0, 0..<0, 1, [], .none)
        (host, hostCount, connection, hasUpgradeHeader) = (nil, 0, ConnectionTokens(), false)
    }

    /// HTTP/1.1 stays open unless `close`; HTTP/1.0 only with `keep-alive` (RFC 9112 §9.3).
    public var keepAlive: Bool { minorVersion == 1 ? !connection.close : connection.keepAlive && !connection.close }
    /// A protocol upgrade (WebSocket…): `Upgrade` plus `Connection: upgrade`.
    public var isUpgrade: Bool { hasUpgradeHeader && connection.upgrade }
}

/// A parsed response head. Offsets count from the first byte given to the parser.
public struct ResponseHead: Sendable {
    public var length: Int
    public var minorVersion: Int
    public var status: Int
    /// The reason phrase (may be empty).
    public var reason: Range<Int>
    public var fields: [HeaderField]
    public var contentLength: Int?
    /// Transfer-Encoding present; `chunked` when its last coding is chunked.
    public var hasTransferEncoding: Bool
    public var chunked: Bool
    public var connection: ConnectionTokens

    /// An empty head, for `HeadParser.parseResponse(_:limits:into:)` to fill.
    public init() {
        (length, minorVersion, status, reason, fields) = (0, 1, 0, 0..<0, [])
        (contentLength, hasTransferEncoding, chunked, connection) = (nil, false, false, ConnectionTokens())
    }

    public var keepAlive: Bool { minorVersion == 1 ? !connection.close : connection.keepAlive && !connection.close }

    /// RFC 9112 §6.3: the body's framing, given whether the request was HEAD.
    public func framing(requestWasHead: Bool) -> BodyFraming {
        if requestWasHead || status < 200 || status == 204 || status == 304 { return .none }
        if hasTransferEncoding { return chunked ? .chunked : .untilClose }
        if let contentLength { return contentLength == 0 ? .none : .length(contentLength) }
        return .untilClose
    }
}

public enum HeadParser {
    /// Parses a request head at the start of `bytes`.
    public static func parseRequest(_ bytes: UnsafeRawBufferPointer, limits: HeadLimits = HeadLimits(),
                                    fields: inout [HeaderField]) -> ParseOutcome<RequestHead> {
        var head = RequestHead()
        swap(&head.fields, &fields)
        defer { fields = head.fields }
        let status = parseRequest(bytes, limits: limits, into: &head)
        return ParseOutcome(status, head: head)
    }

    /// Parses a request head at the start of `bytes` into `head`, whose arrays are emptied and
    /// refilled (their storage kept): what the proxy runs, with no head to copy or destroy
    /// inside an enum. `head` is complete only when `.complete` comes back.
    public static func parseRequest(_ bytes: UnsafeRawBufferPointer, limits: HeadLimits = HeadLimits(),
                                    into head: inout RequestHead) -> ParseStatus {
        head.fields.removeAll(keepingCapacity: true)
        head.connection.named.removeAll(keepingCapacity: true)
        let count = bytes.count
        var index = 0
        // Empty lines before the request line are ignored.
        while index + 1 < count, bytes[index] == 0x0d, bytes[index + 1] == 0x0a { index += 2 }
        if index + 1 == count, bytes[index] == 0x0d { return .needMore }
        if index < count, bytes[index] == 0x0a { return .invalid(.malformed(.lineEnding)) }
        let lineStart = index
        // method SP
        while index < count, ASCII.isTchar(bytes[index]) { index += 1 }
        if index == count { return moreStatus(count, limits) }
        guard index > lineStart, bytes[index] == 0x20 else { return .invalid(.malformed(.requestLine)) }
        let method = lineStart..<index
        index += 1
        // request-target SP: visible ASCII only.
        let targetStart = index
        while index < count, bytes[index] > 0x20, bytes[index] < 0x7f { index += 1 }
        if index == count { return moreStatus(count, limits) }
        guard index > targetStart, bytes[index] == 0x20 else { return .invalid(.malformed(.requestLine)) }
        let target = targetStart..<index
        index += 1
        // HTTP-version CRLF
        let version: Int
        switch parseVersion(bytes, at: index, lineEnd: true) {
        case .needMore: return moreStatus(count, limits)
        case .invalid(let error): return .invalid(error)
        case .head(let minor): version = minor
        }
        index += 10
        if index > limits.maxBytes { return .invalid(.tooLarge) }

        var host: Range<Int>? = nil
        var hostCount = 0
        var hasUpgrade = false
        var contentLength: Int? = nil
        var transferEncodings = 0
        var chunked = false
        let end: Int
        switch parseFields(bytes, from: index, limits: limits, fields: &head.fields) {
        case .needMore: return moreStatus(count, limits)
        case .invalid(let error): return .invalid(error)
        case .head(let fieldsEnd): end = fieldsEnd
        }
        var connection = ConnectionTokens()
        swap(&connection.named, &head.connection.named)
        for field in head.fields {
            switch field.kind {
            case .host:
                hostCount += 1
                host = field.value
            case .contentLength:
                guard let value = parseLength(UnsafeRawBufferPointer(rebasing: bytes[field.value])),
                      contentLength == nil || contentLength == value else { return .invalid(.malformed(.contentLength)) }
                contentLength = value
            case .transferEncoding:
                transferEncodings += 1
                chunked = ASCII.equalsIgnoringCase(UnsafeRawBufferPointer(rebasing: bytes[field.value]), "chunked")
            case .connection:
                readConnection(bytes, field.value, into: &connection)
            case .upgrade:
                hasUpgrade = true
            default:
                break
            }
        }
        let framing: BodyFraming
        if transferEncodings > 0 {
            // Only a single `Transfer-Encoding: chunked` on HTTP/1.1, never with a length.
            if contentLength != nil { return .invalid(.malformed(.lengthAndEncoding)) }
            guard transferEncodings == 1, chunked, version == 1 else { return .invalid(.malformed(.transferEncoding)) }
            framing = .chunked
        } else if let contentLength, contentLength > 0 {
            framing = .length(contentLength)
        } else {
            framing = .none
        }
        (head.length, head.method, head.target, head.minorVersion, head.framing) = (end, method, target, version, framing)
        (head.host, head.hostCount, head.connection, head.hasUpgradeHeader) = (hostCount == 1 ? host : nil, hostCount, connection, hasUpgrade)
        return .complete
    }

    /// Parses a response head at the start of `bytes`.
    public static func parseResponse(_ bytes: UnsafeRawBufferPointer, limits: HeadLimits = HeadLimits(maxBytes: 64 * 1024, maxFields: 500),
                                     fields: inout [HeaderField]) -> ParseOutcome<ResponseHead> {
        var head = ResponseHead()
        swap(&head.fields, &fields)
        defer { fields = head.fields }
        let status = parseResponse(bytes, limits: limits, into: &head)
        return ParseOutcome(status, head: head)
    }

    /// Parses a response head at the start of `bytes` into `head` (see
    /// `parseRequest(_:limits:into:)`).
    public static func parseResponse(_ bytes: UnsafeRawBufferPointer, limits: HeadLimits = HeadLimits(maxBytes: 64 * 1024, maxFields: 500),
                                     into head: inout ResponseHead) -> ParseStatus {
        head.fields.removeAll(keepingCapacity: true)
        head.connection.named.removeAll(keepingCapacity: true)
        let count = bytes.count
        let version: Int
        switch parseVersion(bytes, at: 0, lineEnd: false) {
        case .needMore: return moreStatus(count, limits)
        case .invalid: return .invalid(.malformed(.statusLine))
        case .head(let minor): version = minor
        }
        // SP 3DIGIT SP reason CRLF
        guard count >= 13 else { return moreStatus(count, limits) }
        guard bytes[8] == 0x20 else { return .invalid(.malformed(.statusLine)) }
        var status = 0
        for index in 9..<12 {
            let digit = bytes[index]
            guard digit >= 0x30, digit <= 0x39 else { return .invalid(.malformed(.statusLine)) }
            status = status * 10 + Int(digit - 0x30)
        }
        guard status >= 100 else { return .invalid(.malformed(.statusLine)) }
        var index = 12
        let reasonStart: Int
        if bytes[12] == 0x20 {
            index = 13
            reasonStart = 13
            while index < count, ASCII.isFieldByte(bytes[index]) { index += 1 }
        } else {
            reasonStart = 12
        }
        if index + 1 >= count { return moreStatus(count, limits) }
        guard bytes[index] == 0x0d, bytes[index + 1] == 0x0a else { return .invalid(.malformed(.statusLine)) }
        let reason = reasonStart..<index
        index += 2
        let end: Int
        switch parseFields(bytes, from: index, limits: limits, fields: &head.fields) {
        case .needMore: return moreStatus(count, limits)
        case .invalid(let error): return .invalid(error)
        case .head(let fieldsEnd): end = fieldsEnd
        }
        var contentLength: Int? = nil
        var hasTransferEncoding = false
        var chunked = false
        var connection = ConnectionTokens()
        swap(&connection.named, &head.connection.named)
        for field in head.fields {
            switch field.kind {
            case .contentLength:
                guard let value = parseLength(UnsafeRawBufferPointer(rebasing: bytes[field.value])),
                      contentLength == nil || contentLength == value else { return .invalid(.malformed(.contentLength)) }
                contentLength = value
            case .transferEncoding:
                hasTransferEncoding = true
                // The last coding decides (`gzip, chunked` is chunked framing of gzip data).
                var last: Range<Int>? = nil
                ASCII.forEachListElement(UnsafeRawBufferPointer(rebasing: bytes[field.value]), base: field.value.lowerBound) { last = $0 }
                chunked = last.map { ASCII.equalsIgnoringCase(UnsafeRawBufferPointer(rebasing: bytes[$0]), "chunked") } ?? false
            case .connection:
                readConnection(bytes, field.value, into: &connection)
            default:
                break
            }
        }
        (head.length, head.minorVersion, head.status, head.reason) = (end, version, status, reason)
        (head.contentLength, head.hasTransferEncoding, head.chunked, head.connection) = (contentLength, hasTransferEncoding, chunked, connection)
        return .complete
    }

    /// A request method as a String: the common ones (methods are case-sensitive, RFC 9110
    /// §9.1) as literals, which cost no decoding, allocation or reference counting; any other
    /// as decoded.
    public static func methodName(_ bytes: UnsafeRawBufferPointer) -> String {
        func spells(_ literal: StaticString) -> Bool {
            literal.utf8CodeUnitCount == bytes.count && memcmp(bytes.baseAddress!, literal.utf8Start, bytes.count) == 0
        }
        switch bytes.count {
        case 3:
            if spells("GET") { return "GET" }
            if spells("PUT") { return "PUT" }
        case 4:
            if spells("POST") { return "POST" }
            if spells("HEAD") { return "HEAD" }
        case 5: if spells("PATCH") { return "PATCH" }
        case 6: if spells("DELETE") { return "DELETE" }
        case 7: if spells("OPTIONS") { return "OPTIONS" }
        default: break
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Pieces

    @inline(__always) private static func moreStatus(_ count: Int, _ limits: HeadLimits) -> ParseStatus {
        count > limits.maxBytes ? .invalid(.tooLarge) : .needMore
    }

    /// `HTTP/1.0` or `HTTP/1.1` at `start` (followed by CRLF when `lineEnd`); the minor version.
    private static func parseVersion(_ bytes: UnsafeRawBufferPointer, at start: Int, lineEnd: Bool) -> ParseOutcome<Int> {
        let expected: StaticString = "HTTP/1."
        let prefix = expected.utf8Start
        let length = lineEnd ? 10 : 8
        // The whole version in one 8-byte compare when it is there (nearly always); the loop
        // below tells `needMore` and each kind of error apart.
        if start + length <= bytes.count {
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: start, as: UInt64.self))
            let http11: UInt64 = 0x312e_312f_5054_5448, http10: UInt64 = 0x302e_312f_5054_5448  // "HTTP/1.1", "HTTP/1.0"
            if word == http11 || word == http10, !lineEnd || (bytes[start + 8] == 0x0d && bytes[start + 9] == 0x0a) {
                return .head(word == http11 ? 1 : 0)
            }
        }
        for offset in 0..<length {
            let index = start + offset
            guard index < bytes.count else { return .needMore }
            let byte = bytes[index]
            switch offset {
            case 0..<7: if byte != prefix[offset] { return .invalid(.malformed(offset < 5 ? .requestLine : .version)) }
            case 7: if byte != 0x30 && byte != 0x31 { return .invalid(.malformed(.version)) }
            case 8: if byte != 0x0d { return .invalid(.malformed(byte == 0x0a ? .lineEnding : .requestLine)) }
            default: if byte != 0x0a { return .invalid(.malformed(.lineEnding)) }
            }
        }
        return .head(Int(bytes[start + 7] - 0x30))
    }

    /// Header lines from `start` to the empty line; returns the offset after the empty line.
    ///
    /// Names and values are scanned eight bytes at a time: a name while all eight are letters,
    /// digits or `-` (what names nearly always consist of), a value while all eight are
    /// printable ASCII (spaces included). A word that fails tells where its first other byte is:
    /// nearly always the colon after the name or the CR after the value, reached without a loop
    /// over the bytes before it. Other bytes (a tab, obs-text, the rarer name characters,
    /// and fewer than eight bytes before the end of the input) go one at a time.
    /// `HeadParserTests` holds this to a byte-by-byte model of the same grammar.
    private static func parseFields(_ bytes: UnsafeRawBufferPointer, from start: Int, limits: HeadLimits,
                                    fields: inout [HeaderField]) -> ParseOutcome<Int> {
        let count = bytes.count
        var index = start
        while true {
            if index > limits.maxBytes { return .invalid(.tooLarge) }
            guard index < count else { return .needMore }
            let lineStart = index
            let first = bytes[index]
            if first == 0x0d {
                guard index + 1 < count else { return .needMore }
                guard bytes[index + 1] == 0x0a else { return .invalid(.malformed(.lineEnding)) }
                let end = index + 2
                return end > limits.maxBytes ? .invalid(.tooLarge) : .head(end)
            }
            if first == 0x20 || first == 0x09 { return .invalid(.malformed(.folding)) }
            while index + 8 <= count {
                guard let offset = ASCII.firstNonNameByte(bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)) else {
                    index += 8
                    continue
                }
                index += offset
                break
            }
            // The rarer tchars (`_`, `.` …), and the last bytes of the input.
            while index < count, ASCII.isTchar(bytes[index]) { index += 1 }
            guard index < count else { return .needMore }
            guard index > lineStart, bytes[index] == 0x3a else {
                return .invalid(.malformed(bytes[index] == 0x0a ? .lineEnding : .headerName))
            }
            let name = lineStart..<index
            index += 1
            while index < count, bytes[index] == 0x20 || bytes[index] == 0x09 { index += 1 }
            let valueStart = index
            value: while index < count {
                if index + 8 <= count {
                    let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                    guard let offset = ASCII.firstNonPrintable(word) else {
                        index += 8
                        continue
                    }
                    index += offset
                }
                let byte = bytes[index]
                if byte == 0x0d { break value }
                guard ASCII.isFieldByte(byte) else { return .invalid(.malformed(byte == 0x0a ? .lineEnding : .headerValue)) }
                index += 1
            }
            guard index + 1 < count else { return index > limits.maxBytes ? .invalid(.tooLarge) : .needMore }
            guard bytes[index + 1] == 0x0a else { return .invalid(.malformed(.lineEnding)) }
            var valueEnd = index
            while valueEnd > valueStart, bytes[valueEnd - 1] == 0x20 || bytes[valueEnd - 1] == 0x09 { valueEnd -= 1 }
            index += 2
            if fields.count >= limits.maxFields { return .invalid(.tooLarge) }
            let kind = HeaderKind.classify(UnsafeRawBufferPointer(rebasing: bytes[name]))
            fields.append(HeaderField(line: lineStart..<index, name: name, value: valueStart..<valueEnd, kind: kind))
        }
    }

    /// A Content-Length value: 1 to 18 digits, nothing else (no sign, no list).
    static func parseLength(_ value: UnsafeRawBufferPointer) -> Int? {
        guard !value.isEmpty, value.count <= 18 else { return nil }
        var result = 0
        for byte in value {
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            result = result * 10 + Int(byte - 0x30)
        }
        return result
    }

    /// `ASCII.isName` compares exactly here too: a field value holds no CR (the one byte besides
    /// `-` that folds onto `-`), and the tokens compared are lower-case letters and `-`.
    private static func readConnection(_ bytes: UnsafeRawBufferPointer, _ value: Range<Int>, into tokens: inout ConnectionTokens) {
        // Most values are one token (the parser trimmed the value's surrounding whitespace).
        let whole = UnsafeRawBufferPointer(rebasing: bytes[value])
        if ASCII.isName(whole, "keep-alive") { tokens.keepAlive = true; return }
        if ASCII.isName(whole, "close") { tokens.close = true; return }
        ASCII.forEachListElement(whole, base: value.lowerBound) { range in
            let token = UnsafeRawBufferPointer(rebasing: bytes[range])
            if ASCII.isName(token, "close") { tokens.close = true }
            else if ASCII.isName(token, "keep-alive") { tokens.keepAlive = true }
            else if ASCII.isName(token, "upgrade") { tokens.upgrade = true }
            else { tokens.named.append(range) }
        }
    }
}

/// One header line of a parsed head, as offsets into the bytes that were parsed (nothing is
/// copied while parsing: the proxy copies the lines it keeps straight into the outgoing head).
public struct HeaderField: Equatable, Sendable {
    /// The whole line, from the first byte of the name to the end of its CRLF.
    public var line: Range<Int>
    public var name: Range<Int>
    /// The value without leading and trailing whitespace.
    public var value: Range<Int>
    public var kind: HeaderKind

    public init(line: Range<Int>, name: Range<Int>, value: Range<Int>, kind: HeaderKind) {
        self.line = line
        self.name = name
        self.value = value
        self.kind = kind
    }
}

/// The header names the proxy acts on, recognised case-insensitively without allocating.
public enum HeaderKind: UInt8, Sendable {
    case other
    case host
    case contentLength
    case transferEncoding
    case connection
    case upgrade
    case requestID
    /// Hop-by-hop (RFC 9110 §7.6.1) other than Connection, Upgrade and Transfer-Encoding.
    case hopByHop
    /// Identity headers a client could forge (`X-Forwarded-*`, `Forwarded`, `X-Real-IP`, `X-Auth-*`…).
    case forged

    /// Classifies a header name (bytes exactly as received).
    public static func classify(_ name: UnsafeRawBufferPointer) -> HeaderKind {
        let count = name.count
        // Cheap dispatch on the length first: almost every common header is `other`.
        switch count {
        case 2: return ASCII.equalsIgnoringCase(name, "te") ? .hopByHop : .other
        case 4: return ASCII.equalsIgnoringCase(name, "host") ? .host : .other
        case 7:
            if ASCII.equalsIgnoringCase(name, "upgrade") { return .upgrade }
            if ASCII.equalsIgnoringCase(name, "trailer") { return .hopByHop }
        case 9:
            if ASCII.equalsIgnoringCase(name, "forwarded") { return .forged }
            if ASCII.equalsIgnoringCase(name, "x-real-ip") { return .forged }
        case 10:
            if ASCII.equalsIgnoringCase(name, "connection") { return .connection }
            if ASCII.equalsIgnoringCase(name, "keep-alive") { return .hopByHop }
        case 11: if ASCII.equalsIgnoringCase(name, "x-client-ip") { return .forged }
        case 12: if ASCII.equalsIgnoringCase(name, "x-request-id") { return .requestID }
        case 14:
            if ASCII.equalsIgnoringCase(name, "content-length") { return .contentLength }
            if ASCII.equalsIgnoringCase(name, "true-client-ip") { return .forged }
        case 16: if ASCII.equalsIgnoringCase(name, "proxy-connection") { return .hopByHop }
        case 17: if ASCII.equalsIgnoringCase(name, "transfer-encoding") { return .transferEncoding }
        case 18: if ASCII.equalsIgnoringCase(name, "proxy-authenticate") { return .hopByHop }
        case 19: if ASCII.equalsIgnoringCase(name, "proxy-authorization") { return .hopByHop }
        case 24: if ASCII.equalsIgnoringCase(name, "x-original-forwarded-for") { return .forged }
        default: break
        }
        // Every `X-Forwarded-*` (For, Host, Proto, Port, Prefix, Server, Ssl, Scheme, and any
        // other) and every `X-Auth-*`.
        if count >= 12, ASCII.hasPrefixIgnoringCase(name, "x-forwarded-") { return .forged }
        if count >= 7, ASCII.hasPrefixIgnoringCase(name, "x-auth-") { return .forged }
        return .other
    }
}

/// Byte helpers for US-ASCII protocol text.
public enum ASCII {
    @inline(__always) public static func lower(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte }

    /// `literal` must be lower case.
    public static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        guard bytes.count == literal.utf8CodeUnitCount else { return false }
        let other = literal.utf8Start
        for index in 0..<bytes.count where lower(bytes[index]) != other[index] { return false }
        return true
    }

    /// `literal` must be lower case.
    public static func hasPrefixIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        let length = literal.utf8CodeUnitCount
        guard bytes.count >= length else { return false }
        let other = literal.utf8Start
        for index in 0..<length where lower(bytes[index]) != other[index] { return false }
        return true
    }

    public static func equalsIgnoringCase(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) -> Bool {
        guard first.count == second.count else { return false }
        for index in 0..<first.count where lower(first[index]) != lower(second[index]) { return false }
        return true
    }

    /// RFC 9110 §5.6.2 `tchar` (DIGIT, ALPHA and ``!#$%&'*+-.^_`|~``) as two 64-bit masks, one
    /// bit per byte value: a test is a shift and an AND, with no global array to reach (a `static
    /// let` array costs a lazy-initialisation check and a bounds check on every byte of a name).
    /// Bytes 0x00–0x3F in the first mask, 0x40–0x7F in the second; nothing above 0x7F.
    @inline(__always) public static func isTchar(_ byte: UInt8) -> Bool {
        let mask: UInt64 = byte < 64 ? 0x03ff_6cfa_0000_0000 : byte < 128 ? 0x57ff_ffff_c7ff_fffe : 0
        return (mask &>> UInt64(byte & 63)) & 1 != 0
    }

    /// A byte allowed inside a field value: HTAB, SP, VCHAR, obs-text (never CR, LF, NUL or
    /// another control character, RFC 9110 §5.5).
    @inline(__always) public static func isFieldByte(_ byte: UInt8) -> Bool { byte == 0x09 || (byte >= 0x20 && byte != 0x7f) }

    /// Whether any of the eight bytes of `word` is outside 0x20–0x7E (printable ASCII, space
    /// included): the word test for header values, which often hold spaces. Exact, with no
    /// per-byte branch (the "has less / has more than n" word tricks, n = 0x20 and 0x7E): a borrow
    /// or carry crossing into a neighbouring byte happens only when some byte is already outside.
    @inline(__always) public static func hasNonPrintable(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let below = (word &- ones &* 0x20) & ~word & highs
        let above = ((word &+ ones &* (0x7f - 0x7e)) | word) & highs
        return below | above != 0
    }

    /// Splits a comma-separated list value into trimmed, non-empty elements (offsets relative
    /// to `value`'s own start are added to `base`).
    public static func forEachListElement(_ value: UnsafeRawBufferPointer, base: Int, _ body: (Range<Int>) -> Void) {
        var start = 0
        var index = 0
        while index <= value.count {
            if index == value.count || value[index] == 0x2c {
                var low = start, high = index
                while low < high, value[low] == 0x20 || value[low] == 0x09 { low += 1 }
                while high > low, value[high - 1] == 0x20 || value[high - 1] == 0x09 { high -= 1 }
                if low < high { body((base + low)..<(base + high)) }
                start = index + 1
            }
            index += 1
        }
    }
}

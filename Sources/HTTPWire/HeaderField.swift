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

    /// Classifies a header name (bytes exactly as received; tchars, as the parser checked).
    public static func classify(_ name: UnsafeRawBufferPointer) -> HeaderKind {
        let count = name.count
        // Cheap dispatch on the length first: almost every common header is `other`.
        switch count {
        case 2: return ASCII.isName(name, "te") ? .hopByHop : .other
        case 4: return ASCII.isName(name, "host") ? .host : .other
        case 7:
            if ASCII.isName(name, "upgrade") { return .upgrade }
            if ASCII.isName(name, "trailer") { return .hopByHop }
        case 9:
            if ASCII.isName(name, "forwarded") { return .forged }
            if ASCII.isName(name, "x-real-ip") { return .forged }
        case 10:
            if ASCII.isName(name, "connection") { return .connection }
            if ASCII.isName(name, "keep-alive") { return .hopByHop }
        case 11: if ASCII.isName(name, "x-client-ip") { return .forged }
        case 12: if ASCII.isName(name, "x-request-id") { return .requestID }
        case 14:
            if ASCII.isName(name, "content-length") { return .contentLength }
            if ASCII.isName(name, "true-client-ip") { return .forged }
        case 16: if ASCII.isName(name, "proxy-connection") { return .hopByHop }
        case 17: if ASCII.isName(name, "transfer-encoding") { return .transferEncoding }
        case 18: if ASCII.isName(name, "proxy-authenticate") { return .hopByHop }
        case 19: if ASCII.isName(name, "proxy-authorization") { return .hopByHop }
        case 24: if ASCII.isName(name, "x-original-forwarded-for") { return .forged }
        default: break
        }
        // Every `X-Forwarded-*` (For, Host, Proto, Port, Prefix, Server, Ssl, Scheme, and any
        // other) and every `X-Auth-*`.
        guard count >= 7, name[0] | 0x20 == UInt8(ascii: "x") else { return .other }
        if count >= 12, ASCII.isName(UnsafeRawBufferPointer(rebasing: name[..<12]), "x-forwarded-") { return .forged }
        if ASCII.isName(UnsafeRawBufferPointer(rebasing: name[..<7]), "x-auth-") { return .forged }
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

    /// Whether a header name equals `literal` (lower-case letters and `-`), ignoring case.
    /// `name` must consist of tchars (the parser has checked): then setting bit 0x20 of each byte
    /// folds exactly the letters onto the literal's, and no other tchar onto a letter or `-` (the
    /// only byte besides `-` that turns into `-` is CR). Eight bytes per compare; a last partial
    /// word overlaps the one before it.
    public static func isName(_ name: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard name.count == count else { return false }
        let other = UnsafeRawPointer(literal.utf8Start)
        guard count >= 8 else {
            for index in 0..<count where name[index] | 0x20 != other.load(fromByteOffset: index, as: UInt8.self) { return false }
            return true
        }
        let fold: UInt64 = 0x2020_2020_2020_2020
        var offset = 0
        while true {
            let start = min(offset, count - 8)
            if name.loadUnaligned(fromByteOffset: start, as: UInt64.self) | fold != other.loadUnaligned(fromByteOffset: start, as: UInt64.self) {
                return false
            }
            offset += 8
            if offset >= count { return true }
        }
    }

    /// The offset of the first byte of `word` (eight bytes as loaded from memory) that is not a
    /// letter, digit or `-` (what header names nearly always consist of), or nil when there is
    /// none: the name scan's word test, which finds the colon after a short name in one step.
    /// Exact, with no per-byte branch: with the high bits cleared, adding 0x80 - b to each byte
    /// sets its high bit exactly when the byte is at least b, with no carry into the next byte;
    /// bytes that had their high bit set are then ruled out.
    @inline(__always) public static func firstNonNameByte(_ word: UInt64) -> Int? {
        let value = UInt64(littleEndian: word)
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let low = value & ~highs
        @inline(__always) func atLeast(_ bytes: UInt64, _ bound: UInt64) -> UInt64 { (bytes &+ ones &* (0x80 - bound)) & highs }
        let folded = low | (ones &* 0x20)
        let letters = atLeast(folded, 0x61) & ~atLeast(folded, 0x7b)
        let digits = atLeast(low, 0x30) & ~atLeast(low, 0x3a)
        let dashes = atLeast(low, 0x2d) & ~atLeast(low, 0x2e)
        let others = ~(letters | digits | dashes) & highs | (value & highs)
        return others == 0 ? nil : others.trailingZeroBitCount >> 3
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

    /// The offset of the first byte of `word` (eight bytes as loaded from memory) outside
    /// 0x20–0x7E, or nil when all are printable. The masks of `hasNonPrintable` can flag a byte
    /// wrongly only above a byte that is flagged rightly (a borrow or carry runs towards higher
    /// bytes), so the lowest flag is exact.
    @inline(__always) public static func firstNonPrintable(_ word: UInt64) -> Int? {
        let value = UInt64(littleEndian: word)
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let flags = ((value &- ones &* 0x20) & ~value & highs) | (((value &+ ones &* (0x7f - 0x7e)) | value) & highs)
        return flags == 0 ? nil : flags.trailingZeroBitCount >> 3
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

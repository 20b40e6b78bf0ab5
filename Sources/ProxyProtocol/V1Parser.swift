/// Version 1: `PROXY TCP4 <src> <dst> <sport> <dport>\r\n`, `PROXY TCP6 ...\r\n` or
/// `PROXY UNKNOWN[ <ignored>]\r\n`, at most 107 bytes.
///
/// Scanned left to right with each field validated as soon as its delimiter arrives, so a
/// malformed line is usually refused before its CRLF; a field still being received is only
/// checked for its character set and length.
enum V1Parser {
    private static let space = UInt8(ascii: " ")
    private static let cr = UInt8(ascii: "\r")
    private static let lf = UInt8(ascii: "\n")

    private enum LineProtocol { case tcp4, tcp6, unknown }
    private static let protocolWords: [(word: [UInt8], value: LineProtocol)] = [
        (Array("TCP4".utf8), .tcp4), (Array("TCP6".utf8), .tcp6), (Array("UNKNOWN".utf8), .unknown),
    ]

    static func parse(_ bytes: UnsafeRawBufferPointer) -> ProxyParseResult {
        var scanner = Scanner(bytes: bytes, position: ProxyProtocolParser.v1Prefix.count)
        do throws(ParseStop) {
            return .header(try parseLine(&scanner))
        } catch {
            return ProxyParseResult(error)
        }
    }

    private static func parseLine(_ s: inout Scanner) throws(ParseStop) -> ProxyHeader {
        let proto = try protocolToken(&s)
        if proto == .unknown {
            // "UNKNOWN" then CRLF, or a space and anything (ignored) up to CRLF.
            if try s.peek() == space {
                s.position += 1
                while true {
                    let c = try s.peek()
                    if c == cr { break }
                    if c == lf { throw .invalid("line ends with LF without CR") }
                    s.position += 1
                }
            }
            try s.expectCRLF()
            return ProxyHeader(version: 1, command: .proxy, transport: .unspecified, length: s.position)
        }
        let v6 = proto == .tcp6
        let family = v6 ? "TCP6" : "TCP4"
        guard try s.peek() == space else { throw .invalid("\(family) must be followed by addresses and ports") }
        s.position += 1

        let sourceIP = try address(&s, v6: v6, name: "source address")
        let destinationIP = try address(&s, v6: v6, name: "destination address")
        let sourcePort = try port(&s, name: "source port", terminator: space)
        let destinationPort = try port(&s, name: "destination port", terminator: cr)
        try s.expectCRLF()
        return ProxyHeader(
            version: 1, command: .proxy, transport: v6 ? .tcp6 : .tcp4,
            source: Address(ip: sourceIP, port: sourcePort),
            destination: Address(ip: destinationIP, port: destinationPort),
            length: s.position)
    }

    /// Reads the protocol word and leaves the scanner on the byte after it.
    private static func protocolToken(_ s: inout Scanner) throws(ParseStop) -> LineProtocol {
        let start = s.position
        while true {
            let c = try s.peek()
            if c == space || c == cr { break }
            let length = s.position - start + 1
            let stillPossible = protocolWords.contains { entry in
                guard length <= entry.word.count else { return false }
                for k in 0..<length where s.bytes[start + k] != entry.word[k] { return false }
                return true
            }
            guard stillPossible else { throw .invalid("unknown protocol: expected TCP4, TCP6 or UNKNOWN") }
            s.position += 1
        }
        let length = s.position - start
        if length == 0 { throw .invalid("expected a protocol after a single space") }
        for entry in protocolWords where entry.word.count == length {
            var same = true
            for k in 0..<length where s.bytes[start + k] != entry.word[k] { same = false; break }
            if same { return entry.value }
        }
        throw .invalid("unknown protocol: expected TCP4, TCP6 or UNKNOWN")
    }

    private static func address(_ s: inout Scanner, v6: Bool, name: String) throws(ParseStop) -> [UInt8] {
        let range = try s.field(name: name, maximumLength: v6 ? 45 : 15, terminator: space) { c, before throws(ParseStop) in
            if v6 {
                guard IPText.isHexDigit(c) || c == UInt8(ascii: ":") || c == UInt8(ascii: ".") else {
                    throw .invalid("unexpected character in IPv6 \(name)")
                }
            } else if c == UInt8(ascii: ":") {
                throw .invalid("TCP4 header carries an IPv6 \(name)")
            } else if !IPText.ipv4PrefixAllows(before, c) {
                throw .invalid("malformed IPv4 \(name)")
            }
        }
        s.position += 1  // the space
        if v6 {
            if let ip = IPText.parseIPv6(s.bytes, range) { return ip }
            var hasColon = false
            for i in range where s.bytes[i] == UInt8(ascii: ":") { hasColon = true; break }
            throw .invalid(hasColon ? "malformed IPv6 \(name)" : "TCP6 header carries an IPv4 \(name)")
        }
        var ip = [UInt8](repeating: 0, count: 4)
        guard IPText.parseIPv4(s.bytes, range, into: &ip, at: 0) else {
            throw .invalid("malformed IPv4 \(name)")
        }
        return ip
    }

    private static func port(_ s: inout Scanner, name: String, terminator: UInt8) throws(ParseStop) -> UInt16 {
        let range = try s.field(name: name, maximumLength: 5, terminator: terminator) { c, before throws(ParseStop) in
            guard IPText.isDigit(c) else { throw .invalid("unexpected character in \(name)") }
            if before.count == 1 && before[0] == UInt8(ascii: "0") { throw .invalid("\(name) has a leading zero") }
            if before.count == 4 {
                var value = Int(c &- UInt8(ascii: "0"))
                var scale = 10
                for k in (0..<4).reversed() { value += Int(before[k] &- UInt8(ascii: "0")) * scale; scale *= 10 }
                if value > 65535 { throw .invalid("\(name) is above 65535") }
            }
        }
        if terminator == space { s.position += 1 }
        if range.count > 1 && s.bytes[range.lowerBound] == UInt8(ascii: "0") {
            throw .invalid("\(name) has a leading zero")
        }
        var value = 0
        for i in range { value = value * 10 + Int(s.bytes[i] &- UInt8(ascii: "0")) }
        guard value <= 65535 else { throw .invalid("\(name) is above 65535") }
        return UInt16(value)
    }

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var position: Int

        /// The byte at `position`, or why there is none: not received yet, or beyond 107 bytes.
        func peek() throws(ParseStop) -> UInt8 {
            if position >= ProxyProtocolParser.v1MaximumLength {
                throw .invalid("v1 header exceeds 107 bytes without CRLF")
            }
            if position >= bytes.count { throw .needMore }
            return bytes[position]
        }

        /// Reads a non-empty field up to (not including) `terminator`, checking each byte with
        /// `check` (which also sees the bytes of the field before it, so it can refuse a bad prefix
        /// early) and the length against `maximumLength`; stops on the terminator.
        mutating func field(
            name: String, maximumLength: Int, terminator: UInt8,
            check: (_ byte: UInt8, _ fieldSoFar: UnsafeRawBufferPointer) throws(ParseStop) -> Void
        ) throws(ParseStop) -> Range<Int> {
            let start = position
            while true {
                let c = try peek()
                if c == terminator { break }
                switch c {
                case V1Parser.space:
                    throw .invalid(position == start ? "empty \(name) (double space?)" : "unexpected space after \(name)")
                case V1Parser.cr:
                    throw .invalid("line ends before or inside the \(name)")
                case V1Parser.lf:
                    throw .invalid("line ends with LF without CR")
                default:
                    try check(c, UnsafeRawBufferPointer(rebasing: bytes[start..<position]))
                }
                if position - start == maximumLength { throw .invalid("\(name) is too long") }
                position += 1
            }
            if position == start { throw .invalid("empty \(name) (double space?)") }
            return start..<position
        }

        mutating func expectCRLF() throws(ParseStop) {
            guard try peek() == V1Parser.cr else { throw .invalid("expected CRLF at the end of the line") }
            position += 1
            guard try peek() == V1Parser.lf else { throw .invalid("CR not followed by LF") }
            position += 1
        }
    }
}

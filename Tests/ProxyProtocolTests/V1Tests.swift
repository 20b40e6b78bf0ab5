import Testing
@testable import ProxyProtocol

@Suite("PROXY protocol v1 (text)")
struct V1Tests {
    struct Valid: Sendable, CustomTestStringConvertible {
        var name: String
        var line: String
        var transport: ProxyHeader.Transport
        var source: String?
        var destination: String?
        var testDescription: String { name }
    }

    static let valid: [Valid] = [
        Valid(name: "TCP4", line: "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
              transport: .tcp4, source: "192.168.0.1:56324", destination: "192.168.0.11:443"),
        Valid(name: "TCP4 extreme values", line: "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n",
              transport: .tcp4, source: "0.0.0.0:0", destination: "255.255.255.255:65535"),
        Valid(name: "TCP6 compressed", line: "PROXY TCP6 2001:db8::1 2001:db8::2 1234 80\r\n",
              transport: .tcp6, source: "[2001:db8::1]:1234", destination: "[2001:db8::2]:80"),
        Valid(name: "TCP6 loopback and any", line: "PROXY TCP6 ::1 :: 1 2\r\n",
              transport: .tcp6, source: "[::1]:1", destination: "[::]:2"),
        Valid(name: "TCP6 uppercase, full form, leading zeros in groups",
              line: "PROXY TCP6 2001:0DB8:0000:0000:0000:0000:0000:00FF FE80:0:0:0:0:0:0:1 443 8443\r\n",
              transport: .tcp6, source: "[2001:db8::ff]:443", destination: "[fe80::1]:8443"),
        Valid(name: "TCP6 with dotted-quad tail", line: "PROXY TCP6 ::ffff:10.0.0.1 64:ff9b::192.0.2.33 5 6\r\n",
              transport: .tcp6, source: "[::ffff:10.0.0.1]:5", destination: "[64:ff9b::c000:221]:6"),
        Valid(name: "TCP6 gap at the end and in the middle", line: "PROXY TCP6 1:2:3:4:5:6:7:: 1::8 7 8\r\n",
              transport: .tcp6, source: "[1:2:3:4:5:6:7:0]:7", destination: "[1::8]:8"),
        Valid(name: "TCP6 longest possible (104 bytes)",
              line: "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
              transport: .tcp6, source: "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
              destination: "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
        Valid(name: "UNKNOWN bare", line: "PROXY UNKNOWN\r\n", transport: .unspecified),
        Valid(name: "UNKNOWN with ignored addresses",
              line: "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", transport: .unspecified),
        Valid(name: "UNKNOWN exactly 107 bytes",
              line: "PROXY UNKNOWN " + String(repeating: "x", count: 107 - 16) + "\r\n", transport: .unspecified),
    ]

    @Test("valid line", arguments: valid)
    func validLine(_ c: Valid) throws {
        let bytes = ascii(c.line)
        let header = try #require(ProxyProtocolParser.parse(bytes).header)
        #expect(header.version == 1)
        #expect(header.command == .proxy)
        #expect(header.transport == c.transport)
        #expect(header.source?.description == c.source)
        #expect(header.destination?.description == c.destination)
        #expect(header.tlvs.isEmpty)
        #expect(header.length == bytes.count)
        #expect(header.length <= 107)
    }

    @Test("every proper prefix of a valid line needs more bytes", arguments: valid)
    func prefixes(_ c: Valid) {
        for (k, result) in prefixResults(ascii(c.line)) {
            #expect(result == .needMoreBytes, "prefix of \(k) bytes")
        }
    }

    @Test("exact field values")
    func exactValues() throws {
        let header = try #require(ProxyProtocolParser.parse(ascii("PROXY TCP6 2001:db8::a:1 ::ffff:1.2.3.4 65535 0\r\n")).header)
        #expect(header == ProxyHeader(
            version: 1, command: .proxy, transport: .tcp6,
            source: Address(ip: [0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0A, 0, 1], port: 65535),
            destination: Address(ip: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 1, 2, 3, 4], port: 0),
            length: 49))
        let v4 = try #require(ProxyProtocolParser.parse(ascii("PROXY TCP4 10.1.2.3 172.16.0.254 1 80\r\n")).header)
        #expect(v4.source == Address(ip: [10, 1, 2, 3], port: 1))
        #expect(v4.destination == Address(ip: [172, 16, 0, 254], port: 80))
    }

    @Test("the payload after CRLF is not consumed")
    func trailingPayload() throws {
        let line = "PROXY TCP4 192.0.2.1 192.0.2.2 40000 80\r\n"
        let stream = ascii(line + "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        let header = try #require(ProxyProtocolParser.parse(stream).header)
        #expect(header.length == line.utf8.count)
        #expect(Array(stream[header.length...]) == ascii("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"))
        let unknown = ascii("PROXY UNKNOWN\r\nPROXY TCP4 1.1.1.1 2.2.2.2 1 2\r\n")
        #expect(ProxyProtocolParser.parse(unknown).header?.length == 15)
    }

    enum Verdict: Sendable { case invalid, notProxyProtocol }

    struct Malformed: Sendable, CustomTestStringConvertible {
        var name: String
        var line: String
        var verdict: Verdict = .invalid
        var testDescription: String { name }
    }

    static let malformed: [Malformed] = [
        // spacing
        Malformed(name: "double space before protocol", line: "PROXY  TCP4 1.2.3.4 5.6.7.8 80 443\r\n"),
        Malformed(name: "double space before source", line: "PROXY TCP4  1.2.3.4 5.6.7.8 80 443\r\n"),
        Malformed(name: "double space between addresses", line: "PROXY TCP4 1.2.3.4  5.6.7.8 80 443\r\n"),
        Malformed(name: "double space between ports", line: "PROXY TCP4 1.2.3.4 5.6.7.8 80  443\r\n"),
        Malformed(name: "space before CRLF", line: "PROXY TCP4 1.2.3.4 5.6.7.8 80 443 \r\n"),
        Malformed(name: "tab instead of space", line: "PROXY TCP4\t1.2.3.4 5.6.7.8 80 443\r\n"),
        Malformed(name: "extra field", line: "PROXY TCP4 1.2.3.4 5.6.7.8 80 443 9\r\n"),
        Malformed(name: "missing ports", line: "PROXY TCP4 1.2.3.4 5.6.7.8\r\n"),
        Malformed(name: "missing destination port", line: "PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n"),
        Malformed(name: "protocol without addresses", line: "PROXY TCP4\r\n"),
        Malformed(name: "empty protocol", line: "PROXY \r\n"),
        // protocol word
        Malformed(name: "lowercase proxy", line: "proxy TCP4 1.2.3.4 5.6.7.8 80 443\r\n", verdict: .notProxyProtocol),
        Malformed(name: "PROXY without its space", line: "PROXYTCP4 1.2.3.4 5.6.7.8 80 443\r\n", verdict: .notProxyProtocol),
        Malformed(name: "lowercase tcp4", line: "PROXY tcp4 1.2.3.4 5.6.7.8 80 443\r\n"),
        Malformed(name: "unknown protocol TCP5", line: "PROXY TCP5 1.2.3.4 5.6.7.8 80 443\r\n"),
        Malformed(name: "truncated protocol TCP", line: "PROXY TCP 1.2.3.4 5.6.7.8 80 443\r\n"),
        Malformed(name: "UDP4 is not a v1 protocol", line: "PROXY UDP4 1.2.3.4 5.6.7.8 80 443\r\n"),
        Malformed(name: "UNKNOWN glued to junk", line: "PROXY UNKNOWNX\r\n"),
        // ports
        Malformed(name: "port with leading zero", line: "PROXY TCP4 1.2.3.4 5.6.7.8 080 443\r\n"),
        Malformed(name: "port 00", line: "PROXY TCP4 1.2.3.4 5.6.7.8 80 00\r\n"),
        Malformed(name: "port 65536", line: "PROXY TCP4 1.2.3.4 5.6.7.8 65536 443\r\n"),
        Malformed(name: "port 99999", line: "PROXY TCP4 1.2.3.4 5.6.7.8 80 99999\r\n"),
        Malformed(name: "six-digit port", line: "PROXY TCP4 1.2.3.4 5.6.7.8 100000 443\r\n"),
        Malformed(name: "negative port", line: "PROXY TCP4 1.2.3.4 5.6.7.8 -1 443\r\n"),
        Malformed(name: "port with plus sign", line: "PROXY TCP4 1.2.3.4 5.6.7.8 +80 443\r\n"),
        Malformed(name: "hex port", line: "PROXY TCP4 1.2.3.4 5.6.7.8 0x50 443\r\n"),
        // IPv4
        Malformed(name: "IPv4 octet with leading zero", line: "PROXY TCP4 01.2.3.4 5.6.7.8 80 443\r\n"),
        Malformed(name: "IPv4 last octet with leading zero", line: "PROXY TCP4 1.2.3.4 5.6.7.08 80 443\r\n"),
        Malformed(name: "IPv4 octet 256", line: "PROXY TCP4 256.2.3.4 5.6.7.8 80 443\r\n"),
        Malformed(name: "IPv4 three octets", line: "PROXY TCP4 1.2.3 5.6.7.8 80 443\r\n"),
        Malformed(name: "IPv4 five octets", line: "PROXY TCP4 1.2.3.4.5 5.6.7.8 80 443\r\n"),
        Malformed(name: "IPv4 empty octet", line: "PROXY TCP4 1..3.4 5.6.7.8 80 443\r\n"),
        Malformed(name: "IPv4 trailing dot", line: "PROXY TCP4 1.2.3.4. 5.6.7.8 80 443\r\n"),
        Malformed(name: "IPv4 leading dot", line: "PROXY TCP4 .1.2.3 5.6.7.8 80 443\r\n"),
        Malformed(name: "IPv4 as a single number", line: "PROXY TCP4 16909060 5.6.7.8 80 443\r\n"),
        Malformed(name: "IPv4 hostname", line: "PROXY TCP4 localhost 5.6.7.8 80 443\r\n"),
        // family mismatch
        Malformed(name: "TCP4 with IPv6 source", line: "PROXY TCP4 ::1 5.6.7.8 80 443\r\n"),
        Malformed(name: "TCP4 with IPv6 destination", line: "PROXY TCP4 1.2.3.4 2001:db8::1 80 443\r\n"),
        Malformed(name: "TCP6 with IPv4 source", line: "PROXY TCP6 1.2.3.4 ::1 80 443\r\n"),
        Malformed(name: "TCP6 with IPv4 addresses", line: "PROXY TCP6 1.2.3.4 5.6.7.8 80 443\r\n"),
        // IPv6
        Malformed(name: "IPv6 two gaps", line: "PROXY TCP6 1::2::3 ::1 80 443\r\n"),
        Malformed(name: "IPv6 triple colon", line: "PROXY TCP6 :::1 ::1 80 443\r\n"),
        Malformed(name: "IPv6 nine groups", line: "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 80 443\r\n"),
        Malformed(name: "IPv6 seven groups without gap", line: "PROXY TCP6 1:2:3:4:5:6:7 ::1 80 443\r\n"),
        Malformed(name: "IPv6 eight groups plus gap", line: "PROXY TCP6 1:2:3:4:5:6:7:8:: ::1 80 443\r\n"),
        Malformed(name: "IPv6 five hex digits", line: "PROXY TCP6 12345::1 ::1 80 443\r\n"),
        Malformed(name: "IPv6 single leading colon", line: "PROXY TCP6 :1:2:3:4:5:6:7 ::1 80 443\r\n"),
        Malformed(name: "IPv6 single trailing colon", line: "PROXY TCP6 1:2:3:4:5:6:7: ::1 80 443\r\n"),
        Malformed(name: "IPv6 non-hex letter", line: "PROXY TCP6 fe80::g ::1 80 443\r\n"),
        Malformed(name: "IPv6 zone index", line: "PROXY TCP6 fe80::1%eth0 ::1 80 443\r\n"),
        Malformed(name: "IPv6 in brackets", line: "PROXY TCP6 [::1] ::1 80 443\r\n"),
        Malformed(name: "IPv6 dotted tail with too many groups", line: "PROXY TCP6 1:2:3:4:5:6:7:1.2.3.4 ::1 80 443\r\n"),
        Malformed(name: "IPv6 dotted tail not last", line: "PROXY TCP6 ::1.2.3.4:1 ::1 80 443\r\n"),
        Malformed(name: "IPv6 dotted tail with three octets", line: "PROXY TCP6 ::1.2.3 ::1 80 443\r\n"),
        Malformed(name: "IPv6 dotted tail with leading zero", line: "PROXY TCP6 ::ffff:1.2.3.04 ::1 80 443\r\n"),
        Malformed(name: "IPv6 hex dotted tail", line: "PROXY TCP6 ::ffff:a.2.3.4 ::1 80 443\r\n"),
        // line endings and length
        Malformed(name: "LF only", line: "PROXY TCP4 1.2.3.4 5.6.7.8 80 443\n"),
        Malformed(name: "UNKNOWN with LF only", line: "PROXY UNKNOWN\n"),
        Malformed(name: "UNKNOWN junk with LF only", line: "PROXY UNKNOWN 1.2.3.4\nmore\r\n"),
        Malformed(name: "CR not followed by LF", line: "PROXY TCP4 1.2.3.4 5.6.7.8 80 443\rX"),
        Malformed(name: "CR CR LF", line: "PROXY TCP4 1.2.3.4 5.6.7.8 80 443\r\r\n"),
        Malformed(name: "missing CRLF before payload", line: "PROXY TCP4 1.2.3.4 5.6.7.8 80 443GET / HTTP/1.1\r\n"),
        Malformed(name: "missing CRLF, payload after a space", line: "PROXY TCP4 1.2.3.4 5.6.7.8 80 443 GET / HTTP/1.1\r\n"),
        Malformed(name: "NUL inside the line", line: "PROXY TCP4 1.2.3.4\u{0} 5.6.7.8 80 443\r\n"),
        Malformed(name: "UNKNOWN line of 200 bytes",
                  line: "PROXY UNKNOWN " + String(repeating: "x", count: 200 - 16) + "\r\n"),
        Malformed(name: "107 bytes without CRLF", line: "PROXY UNKNOWN " + String(repeating: "x", count: 107 - 14)),
        Malformed(name: "CR as byte 107, LF as byte 108",
                  line: "PROXY UNKNOWN " + String(repeating: "x", count: 106 - 14) + "\r\n"),
        Malformed(name: "TCP6 with dotted tails over 107 bytes",
                  line: "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 65535 65535\r\n"),
    ]

    @Test("malformed line", arguments: malformed)
    func malformedLine(_ c: Malformed) {
        let bytes = ascii(c.line)
        let result = ProxyProtocolParser.parse(bytes)
        switch c.verdict {
        case .invalid: #expect(result.isInvalid, "got \(result)")
        case .notProxyProtocol: #expect(result == .notProxyProtocol)
        }
        // No prefix of a malformed line may ever pass as a header.
        for (k, prefix) in prefixResults(bytes) {
            #expect(prefix.header == nil, "prefix of \(k) bytes")
        }
    }

    struct Early: Sendable, CustomTestStringConvertible {
        var partial: String
        var testDescription: String { partial.debugDescription }
    }

    @Test("malformed fields are refused before the CRLF arrives", arguments: [
        Early(partial: "PROXY TCPX"),
        Early(partial: "PROXY  "),
        Early(partial: "PROXY TCP4 1.2.3.4 x"),
        Early(partial: "PROXY TCP4 999.0.0.1 "),
        Early(partial: "PROXY TCP4 1.2.3.4 5.6.7.8 0123"),
        Early(partial: "PROXY TCP4 1.2.3.4 5.6.7.8 80 65536"),
        Early(partial: "PROXY TCP4 01"),
        Early(partial: "PROXY TCP4 300"),
        Early(partial: "PROXY TCP4 1..2"),
        Early(partial: "PROXY TCP4 1.2.3.4."),
        Early(partial: "PROXY TCP4 ."),
        Early(partial: "PROXY TCP4 1.2.3.4 5.6.7.8 123456"),
        Early(partial: "PROXY TCP4 ::"),
        Early(partial: "PROXY TCP6 1.2.3.4 "),
        Early(partial: "PROXY TCP4 1.2.3.4 5.6.7.8 80 443\n"),
        Early(partial: "PROXY UNKNOWN\rX"),
    ])
    func early(_ c: Early) {
        #expect(ProxyProtocolParser.parse(ascii(c.partial)).isInvalid)
    }

    @Test("partial fields that can still become valid need more bytes", arguments: [
        Early(partial: "PROXY TCP4 0"),
        Early(partial: "PROXY TCP4 255.25"),
        Early(partial: "PROXY TCP4 1.2.3.4 5.6.7.8 6553"),
        Early(partial: "PROXY TCP4 1.2.3.4 5.6.7.8 0"),
        Early(partial: "PROXY TCP6 ::ffff:1.2."),
        Early(partial: "PROXY UNKNOWN anything at all"),
        Early(partial: "PROXY TCP4 1.2.3.4 5.6.7.8 80 443\r"),
    ])
    func stillPossible(_ c: Early) {
        #expect(ProxyProtocolParser.parse(ascii(c.partial)) == .needMoreBytes)
    }

    @Test("107 bytes without CRLF are refused; fewer still need more bytes")
    func lengthLimit() {
        let junk = ascii("PROXY UNKNOWN " + String(repeating: "y", count: 200))
        #expect(ProxyProtocolParser.parse(junk[0..<105]) == .needMoreBytes)
        #expect(ProxyProtocolParser.parse(junk[0..<107]).isInvalid)
        #expect(ProxyProtocolParser.parse(junk).isInvalid)
    }

    struct Spelling: Sendable, CustomTestStringConvertible {
        var text: String
        var bytes: [UInt8]
        var testDescription: String { text }
    }

    @Test("IPv6 spellings decode to the right 16 bytes", arguments: [
        Spelling(text: "::", bytes: [UInt8](repeating: 0, count: 16)),
        Spelling(text: "::1", bytes: [UInt8](repeating: 0, count: 15) + [1]),
        Spelling(text: "1::", bytes: [0, 1] + [UInt8](repeating: 0, count: 14)),
        Spelling(text: "1:2:3:4:5:6:7:8", bytes: [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]),
        Spelling(text: "1::8", bytes: [0, 1] + [UInt8](repeating: 0, count: 12) + [0, 8]),
        Spelling(text: "1:2::7:8", bytes: [0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 8]),
        Spelling(text: "::2:3:4:5:6:7:8", bytes: [0, 0, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]),
        Spelling(text: "1:2:3:4:5:6:7::", bytes: [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 0]),
        Spelling(text: "ABCD:ef01::", bytes: [0xAB, 0xCD, 0xEF, 0x01] + [UInt8](repeating: 0, count: 12)),
        Spelling(text: "::192.0.2.1", bytes: [UInt8](repeating: 0, count: 12) + [192, 0, 2, 1]),
        Spelling(text: "1:2:3:4:5:6:7.8.9.10", bytes: [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 7, 8, 9, 10]),
        Spelling(text: "1::5:6:0.0.0.0", bytes: [0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 6, 0, 0, 0, 0]),
    ])
    func ipv6Spelling(_ c: Spelling) throws {
        let header = try #require(ProxyProtocolParser.parse(ascii("PROXY TCP6 \(c.text) ::1 1 2\r\n")).header)
        #expect(header.source?.ip == c.bytes)
    }
}

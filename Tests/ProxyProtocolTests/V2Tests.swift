import Testing
@testable import ProxyProtocol

/// Byte-exact v2 headers, spelled out by hand.
enum V2Vectors {
    /// 192.0.2.1:50000 → 198.51.100.7:443
    static let inetAddresses: [UInt8] = [
        192, 0, 2, 1,        // source address
        198, 51, 100, 7,     // destination address
        0xC3, 0x50,          // source port 50000
        0x01, 0xBB,          // destination port 443
    ]
    /// [2001:db8::1]:1234 → [2001:db8::2]:80
    static let inet6Addresses: [UInt8] = [
        0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,  // source address
        0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,  // destination address
        0x04, 0xD2,                                                      // source port 1234
        0x00, 0x50,                                                      // destination port 80
    ]
    static let inetSource = Address(ip: [192, 0, 2, 1], port: 50000)
    static let inetDestination = Address(ip: [198, 51, 100, 7], port: 443)
    static let inet6Source = Address(ip: [0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], port: 1234)
    static let inet6Destination = Address(ip: [0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], port: 80)

    static let proxyTCP4: [UInt8] = signature + [0x21, 0x11, 0x00, 0x0C] + inetAddresses
    static let proxyUDP4: [UInt8] = signature + [0x21, 0x12, 0x00, 0x0C] + inetAddresses
    static let proxyTCP6: [UInt8] = signature + [0x21, 0x21, 0x00, 0x24] + inet6Addresses
    static let proxyUDP6: [UInt8] = signature + [0x21, 0x22, 0x00, 0x24] + inet6Addresses
    static let proxyUnixStream: [UInt8] = signature + [0x21, 0x31, 0x00, 0xD8]
        + padded(ascii("/run/lb.sock"), to: 108) + padded(ascii("/run/berth.sock"), to: 108)
    static let proxyUnixDatagramAbstract: [UInt8] = signature + [0x21, 0x32, 0x00, 0xD8]
        + padded([0] + ascii("lb"), to: 108) + padded(ascii("/run/b"), to: 108)
    static let local: [UInt8] = signature + [0x20, 0x00, 0x00, 0x00]
    static let localWithAddresses: [UInt8] = signature + [0x20, 0x11, 0x00, 0x0C] + inetAddresses
    static let localWithUnknownFamily: [UInt8] = signature + [0x20, 0xFF, 0x00, 0x03, 1, 2, 3]
    static let proxyUnspec: [UInt8] = signature + [0x21, 0x00, 0x00, 0x00]
    static let proxyUnspecWithALPN: [UInt8] = signature + [0x21, 0x00, 0x00, 0x05]
        + [0x01, 0x00, 0x02, 0x68, 0x32]                      // ALPN "h2"
    static let proxyTCP4WithTLVs: [UInt8] = signature + [0x21, 0x11, 0x00, 0x2D] + inetAddresses
        + [0x01, 0x00, 0x02, 0x68, 0x32]                      // ALPN "h2"
        + [0x04, 0x00, 0x03, 0x00, 0x00, 0x00]                // NOOP, 3 bytes of padding
        + [0x02, 0x00, 0x0B] + ascii("example.com")           // AUTHORITY
        + [0x04, 0x00, 0x00]                                  // NOOP, empty
        + [0xE0, 0x00, 0x02, 0xAB, 0xCD]                      // a custom type
    static let proxyTCP6WithUniqueID: [UInt8] = signature + [0x21, 0x21, 0x00, 0x2B] + inet6Addresses
        + [0x05, 0x00, 0x04, 0xDE, 0xAD, 0xBE, 0xEF]          // UNIQUE_ID
    static let proxyTCP4WithCRC: [UInt8] = signature + [0x21, 0x11, 0x00, 0x13] + inetAddresses
        + [0x03, 0x00, 0x04, 0x5C, 0x42, 0x83, 0x41]          // CRC32C of the whole header
}

@Suite("PROXY protocol v2 (binary)")
struct V2Tests {
    typealias TLV = ProxyHeader.TLV

    struct Valid: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: [UInt8]
        var expected: ProxyHeader
        var testDescription: String { name }
    }

    static let valid: [Valid] = {
        typealias V = V2Vectors
        return [
            Valid(name: "PROXY TCP over IPv4", bytes: V.proxyTCP4, expected: ProxyHeader(
                version: 2, command: .proxy, transport: .tcp4,
                source: V.inetSource, destination: V.inetDestination, length: 28)),
            Valid(name: "PROXY UDP over IPv4", bytes: V.proxyUDP4, expected: ProxyHeader(
                version: 2, command: .proxy, transport: .udp4,
                source: V.inetSource, destination: V.inetDestination, length: 28)),
            Valid(name: "PROXY TCP over IPv6", bytes: V.proxyTCP6, expected: ProxyHeader(
                version: 2, command: .proxy, transport: .tcp6,
                source: V.inet6Source, destination: V.inet6Destination, length: 52)),
            Valid(name: "PROXY UDP over IPv6", bytes: V.proxyUDP6, expected: ProxyHeader(
                version: 2, command: .proxy, transport: .udp6,
                source: V.inet6Source, destination: V.inet6Destination, length: 52)),
            Valid(name: "PROXY UNIX stream", bytes: V.proxyUnixStream, expected: ProxyHeader(
                version: 2, command: .proxy, transport: .unixStream,
                unixSource: ascii("/run/lb.sock"), unixDestination: ascii("/run/berth.sock"), length: 232)),
            Valid(name: "PROXY UNIX datagram, abstract source", bytes: V.proxyUnixDatagramAbstract, expected: ProxyHeader(
                version: 2, command: .proxy, transport: .unixDatagram,
                unixSource: [0] + ascii("lb"), unixDestination: ascii("/run/b"), length: 232)),
            Valid(name: "LOCAL", bytes: V.local, expected: ProxyHeader(
                version: 2, command: .local, transport: .unspecified, length: 16)),
            Valid(name: "LOCAL ignores its addresses", bytes: V.localWithAddresses, expected: ProxyHeader(
                version: 2, command: .local, transport: .unspecified, length: 28)),
            Valid(name: "LOCAL ignores its family byte", bytes: V.localWithUnknownFamily, expected: ProxyHeader(
                version: 2, command: .local, transport: .unspecified, length: 19)),
            Valid(name: "PROXY AF_UNSPEC", bytes: V.proxyUnspec, expected: ProxyHeader(
                version: 2, command: .proxy, transport: .unspecified, length: 16)),
            Valid(name: "PROXY AF_UNSPEC with ALPN", bytes: V.proxyUnspecWithALPN, expected: ProxyHeader(
                version: 2, command: .proxy, transport: .unspecified,
                tlvs: [TLV(type: 0x01, value: ascii("h2"))], length: 21)),
            Valid(name: "PROXY TCP4 with ALPN, NOOP, AUTHORITY, custom TLV", bytes: V.proxyTCP4WithTLVs, expected: ProxyHeader(
                version: 2, command: .proxy, transport: .tcp4,
                source: V.inetSource, destination: V.inetDestination,
                tlvs: [TLV(type: 0x01, value: ascii("h2")),
                       TLV(type: 0x02, value: ascii("example.com")),
                       TLV(type: 0xE0, value: [0xAB, 0xCD])],
                length: 61)),
            Valid(name: "PROXY TCP6 with UNIQUE_ID", bytes: V.proxyTCP6WithUniqueID, expected: ProxyHeader(
                version: 2, command: .proxy, transport: .tcp6,
                source: V.inet6Source, destination: V.inet6Destination,
                tlvs: [TLV(type: 0x05, value: [0xDE, 0xAD, 0xBE, 0xEF])], length: 59)),
            Valid(name: "PROXY TCP4 with a correct CRC32C", bytes: V.proxyTCP4WithCRC, expected: ProxyHeader(
                version: 2, command: .proxy, transport: .tcp4,
                source: V.inetSource, destination: V.inetDestination,
                tlvs: [TLV(type: 0x03, value: [0x5C, 0x42, 0x83, 0x41])], length: 35)),
        ]
    }()

    @Test("valid header", arguments: valid)
    func validHeader(_ c: Valid) {
        #expect(c.bytes.count == c.expected.length)
        #expect(ProxyProtocolParser.parse(c.bytes) == .header(c.expected))
    }

    @Test("truncated at every offset needs more bytes, then parses at full length", arguments: valid)
    func truncation(_ c: Valid) {
        for (k, result) in prefixResults(c.bytes) {
            #expect(result == .needMoreBytes, "truncated to \(k) bytes")
        }
        #expect(ProxyProtocolParser.parse(c.bytes).header?.length == c.bytes.count)
    }

    @Test("the payload after the header is not consumed", arguments: valid)
    func trailingPayload(_ c: Valid) throws {
        let payload = ascii("GET / HTTP/1.1\r\n") + signature + [0x21, 0x11, 0xFF, 0xFF]
        let stream = c.bytes + payload
        let header = try #require(ProxyProtocolParser.parse(stream).header)
        #expect(header == c.expected)
        #expect(Array(stream[header.length...]) == payload)
    }

    @Test("TLV conveniences")
    func conveniences() throws {
        let header = try #require(ProxyProtocolParser.parse(V2Vectors.proxyTCP4WithTLVs).header)
        #expect(header.alpn == ascii("h2"))
        #expect(header.authority == "example.com")
        #expect(header.tlvValue(0xE0) == [0xAB, 0xCD])
        #expect(header.tlvValue(ProxyHeader.TLV.Kind.noop) == nil)
        #expect(header.source?.description == "192.0.2.1:50000")
        #expect(header.destination?.description == "198.51.100.7:443")
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: [UInt8]
        var maximumLength = ProxyProtocolParser.defaultMaximumLength
        var testDescription: String { name }
    }

    static let invalid: [Bad] = {
        let a = V2Vectors.inetAddresses
        return [
            Bad(name: "version 1 in the binary header", bytes: signature + [0x11, 0x11, 0x00, 0x0C] + a),
            Bad(name: "version 0", bytes: signature + [0x01, 0x11, 0x00, 0x0C] + a),
            Bad(name: "version 3", bytes: signature + [0x31, 0x11, 0x00, 0x0C] + a),
            Bad(name: "version 15", bytes: signature + [0xF1, 0x11, 0x00, 0x0C] + a),
            Bad(name: "command 2", bytes: signature + [0x22, 0x11, 0x00, 0x0C] + a),
            Bad(name: "command 15", bytes: signature + [0x2F, 0x11, 0x00, 0x0C] + a),
            Bad(name: "family 4 (undefined)", bytes: signature + [0x21, 0x41, 0x00, 0x0C] + a),
            Bad(name: "protocol 3 (undefined)", bytes: signature + [0x21, 0x13, 0x00, 0x0C] + a),
            Bad(name: "AF_UNSPEC with STREAM", bytes: signature + [0x21, 0x01, 0x00, 0x00]),
            Bad(name: "AF_INET with UNSPEC protocol", bytes: signature + [0x21, 0x10, 0x00, 0x0C] + a),
            Bad(name: "family byte 0xFF", bytes: signature + [0x21, 0xFF, 0x00, 0x00]),
            Bad(name: "short INET address block (11)", bytes: signature + [0x21, 0x11, 0x00, 0x0B] + a.prefix(11)),
            Bad(name: "empty INET address block", bytes: signature + [0x21, 0x11, 0x00, 0x00]),
            Bad(name: "short INET6 address block (35)",
                bytes: signature + [0x21, 0x21, 0x00, 0x23] + V2Vectors.inet6Addresses.prefix(35)),
            Bad(name: "INET-sized block for INET6 (12)", bytes: signature + [0x21, 0x21, 0x00, 0x0C] + a),
            Bad(name: "short UNIX address block (215)",
                bytes: signature + [0x21, 0x31, 0x00, 0xD7] + [UInt8](repeating: 0x41, count: 215)),
            Bad(name: "TLV overrunning the block",
                bytes: signature + [0x21, 0x11, 0x00, 0x11] + a + [0x01, 0x00, 0x05, 0x68, 0x32]),
            Bad(name: "TLV with length 0xFFFF",
                bytes: signature + [0x21, 0x11, 0x00, 0x0F] + a + [0x02, 0xFF, 0xFF]),
            Bad(name: "second TLV overrunning the block",
                bytes: signature + [0x21, 0x11, 0x00, 0x14] + a + [0x04, 0x00, 0x00] + [0x01, 0x00, 0x03, 0x68, 0x32]),
            Bad(name: "truncated TLV header (2 bytes left)",
                bytes: signature + [0x21, 0x11, 0x00, 0x0E] + a + [0x01, 0x00]),
            Bad(name: "truncated TLV header (1 byte left)",
                bytes: signature + [0x21, 0x11, 0x00, 0x0D] + a + [0x04]),
            Bad(name: "CRC32C mismatch",
                bytes: signature + [0x21, 0x11, 0x00, 0x13] + a + [0x03, 0x00, 0x04, 0x5C, 0x42, 0x83, 0x42]),
            Bad(name: "CRC32C right for different addresses",
                bytes: signature + [0x21, 0x11, 0x00, 0x13] + [10, 0, 2, 1] + a.dropFirst(4)
                    + [0x03, 0x00, 0x04, 0x5C, 0x42, 0x83, 0x41]),
            Bad(name: "CRC32C of 3 bytes",
                bytes: signature + [0x21, 0x11, 0x00, 0x12] + a + [0x03, 0x00, 0x03, 0x5C, 0x42, 0x83]),
            Bad(name: "UNIQUE_ID of 129 bytes",
                bytes: signature + [0x21, 0x11, 0x00, 0x90] + a + [0x05, 0x00, 0x81] + [UInt8](repeating: 7, count: 129)),
            Bad(name: "over the default maximum (4097-byte block)",
                bytes: signature + [0x21, 0x11, 0x10, 0x01] + a + [0x04, 0x0F, 0xF2] + [UInt8](repeating: 0, count: 4082)),
            Bad(name: "over a maximumLength of 27", bytes: V2Vectors.proxyTCP4, maximumLength: 27),
            Bad(name: "LOCAL over a maximumLength of 15", bytes: V2Vectors.local, maximumLength: 15),
        ]
    }()

    @Test("invalid header", arguments: invalid)
    func invalidHeader(_ c: Bad) {
        let result = ProxyProtocolParser.parse(c.bytes, maximumLength: c.maximumLength)
        #expect(result.isInvalid, "got \(result)")
        for (k, prefix) in prefixResults(c.bytes, maximumLength: c.maximumLength) {
            #expect(prefix.header == nil, "truncated to \(k) bytes")
        }
    }

    @Test("bad version and command are refused from byte 13 on")
    func earlyVersionAndCommand() {
        #expect(ProxyProtocolParser.parse(signature + [0x11]).isInvalid)
        #expect(ProxyProtocolParser.parse(signature + [0x23]).isInvalid)
        #expect(ProxyProtocolParser.parse(signature + [0x21, 0x14]).isInvalid)
        #expect(ProxyProtocolParser.parse(signature + [0x21, 0x11]) == .needMoreBytes)
    }

    @Test("an oversized length field is refused before the block arrives")
    func earlyOversize() {
        #expect(ProxyProtocolParser.parse(signature + [0x21, 0x11, 0x10, 0x01]).isInvalid)
        #expect(ProxyProtocolParser.parse(signature + [0x21, 0x11, 0x10, 0x00]) == .needMoreBytes)
        #expect(ProxyProtocolParser.parse(signature + [0x20, 0x00, 0xFF, 0xFF]).isInvalid)
        #expect(ProxyProtocolParser.parse(signature + [0x21, 0x11, 0x00, 0x0B]).isInvalid)
    }

    @Test("blocks of exactly the maximum are accepted")
    func exactMaximum() throws {
        // 4096-byte block: addresses + one NOOP TLV padding to the end.
        let atDefault = signature + [0x21, 0x11, 0x10, 0x00] + V2Vectors.inetAddresses
            + [0x04, 0x0F, 0xF1] + [UInt8](repeating: 0, count: 4081)
        #expect(atDefault.count == 4112)
        let header = try #require(ProxyProtocolParser.parse(atDefault).header)
        #expect(header.length == 4112)
        #expect(header.tlvs.isEmpty)
        #expect(ProxyProtocolParser.parse(atDefault, maximumLength: 4111).isInvalid)

        // The largest header the format allows: a 65535-byte block.
        let largest = signature + [0x21, 0x11, 0xFF, 0xFF] + V2Vectors.inetAddresses
            + [0xE1, 0xFF, 0xF0] + [UInt8](repeating: 0x5A, count: 65520)
        #expect(largest.count == ProxyProtocolParser.absoluteMaximumLength)
        #expect(ProxyProtocolParser.parse(largest).isInvalid)
        let maximum = ProxyProtocolParser.absoluteMaximumLength
        #expect(ProxyProtocolParser.parse(largest[0..<16], maximumLength: maximum) == .needMoreBytes)
        #expect(ProxyProtocolParser.parse(largest[0..<65550], maximumLength: maximum) == .needMoreBytes)
        let big = try #require(ProxyProtocolParser.parse(largest, maximumLength: maximum).header)
        #expect(big.length == 65551)
        #expect(big.tlvs == [ProxyHeader.TLV(type: 0xE1, value: [UInt8](repeating: 0x5A, count: 65520))])
    }

    @Test("CRC32C matches the standard check value")
    func crcCheckValue() {
        #expect(CRC32C.checksum(ascii("123456789")) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
        var zeroed = V2Vectors.proxyTCP4WithCRC
        zeroed.replaceSubrange(31..<35, with: [0, 0, 0, 0])
        #expect(CRC32C.checksum(zeroed) == 0x5C42_8341)
    }
}

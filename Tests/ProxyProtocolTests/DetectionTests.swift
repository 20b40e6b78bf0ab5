import Testing
@testable import ProxyProtocol

@Suite("Detection and addresses")
struct DetectionTests {
    struct Stream: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: [UInt8]
        var testDescription: String { name }
    }

    static let notProxy: [Stream] = [
        Stream(name: "plain HTTP/1.1", bytes: ascii("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")),
        Stream(name: "first byte of plain HTTP", bytes: ascii("G")),
        Stream(name: "HTTP/2 preface (diverges at byte 3)", bytes: ascii("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")),
        Stream(name: "POST (diverges at byte 2)", bytes: ascii("PO")),
        Stream(name: "TLS ClientHello", bytes: [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC]),
        Stream(name: "SSH banner", bytes: ascii("SSH-2.0-OpenSSH_9.6\r\n")),
        Stream(name: "lowercase proxy", bytes: ascii("proxy TCP4 1.2.3.4 5.6.7.8 80 443\r\n")),
        Stream(name: "PROXY followed by a tab", bytes: ascii("PROXY\tTCP4")),
        Stream(name: "blank line (diverges at byte 4)", bytes: ascii("\r\n\r\n\r\n")),
        Stream(name: "signature with QUIX", bytes: [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x58, 0x0A]),
        Stream(name: "lone LF", bytes: [0x0A]),
        Stream(name: "NUL byte", bytes: [0x00]),
    ]

    @Test("not the PROXY protocol", arguments: notProxy)
    func notProxyProtocol(_ c: Stream) {
        #expect(ProxyProtocolParser.parse(c.bytes) == .notProxyProtocol)
        #expect(!ProxyProtocolParser.looksLikeProxyProtocol(c.bytes))
    }

    static let undecided: [Stream] = [
        Stream(name: "nothing yet", bytes: []),
        Stream(name: "P", bytes: ascii("P")),
        Stream(name: "PROX", bytes: ascii("PROX")),
        Stream(name: "PROXY", bytes: ascii("PROXY")),
        Stream(name: "PROXY and a space", bytes: ascii("PROXY ")),
        Stream(name: "PROXY TCP4 and part of an address", bytes: ascii("PROXY TCP4 192.16")),
        Stream(name: "CR", bytes: [0x0D]),
        Stream(name: "signature up to QUI", bytes: Array(signature.prefix(11))),
        Stream(name: "whole v2 signature", bytes: signature),
        Stream(name: "v2 signature and version/command", bytes: signature + [0x21]),
    ]

    @Test("a valid prefix needs more bytes and looks like the PROXY protocol", arguments: undecided)
    func undecidedPrefix(_ c: Stream) {
        #expect(ProxyProtocolParser.parse(c.bytes) == .needMoreBytes)
        #expect(ProxyProtocolParser.looksLikeProxyProtocol(c.bytes))
    }

    @Test("a complete header also looks like the PROXY protocol")
    func completeLooksLike() {
        #expect(ProxyProtocolParser.looksLikeProxyProtocol(V2Vectors.proxyTCP4))
        #expect(ProxyProtocolParser.looksLikeProxyProtocol(ascii("PROXY UNKNOWN\r\n")))
        // Signatures only: a malformed header still "looks like" one; parse says why not.
        #expect(ProxyProtocolParser.looksLikeProxyProtocol(ascii("PROXY tcp4")))
        #expect(ProxyProtocolParser.parse(ascii("PROXY tcp4")).isInvalid)
    }

    @Test("the raw-buffer entry point agrees with the array one")
    func rawBuffer() {
        let bytes = V2Vectors.proxyTCP6
        let viaRaw = bytes.withUnsafeBytes { ProxyProtocolParser.parse($0) }
        #expect(viaRaw == ProxyProtocolParser.parse(bytes))
        #expect(viaRaw.header?.length == 52)
        let looks = ascii("GET").withUnsafeBytes { ProxyProtocolParser.looksLikeProxyProtocol($0) }
        #expect(!looks)
    }

    struct Printed: Sendable, CustomTestStringConvertible {
        var address: Address
        var text: String
        var testDescription: String { text }
    }

    static let printed: [Printed] = [
        Printed(address: Address(ip: [1, 2, 3, 4], port: 80), text: "1.2.3.4:80"),
        Printed(address: Address(ip: [0, 0, 0, 0], port: 0), text: "0.0.0.0:0"),
        Printed(address: Address(ip: [UInt8](repeating: 0, count: 15) + [1], port: 80), text: "[::1]:80"),
        Printed(address: Address(ip: [UInt8](repeating: 0, count: 16), port: 0), text: "[::]:0"),
        Printed(address: Address(ip: [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [1], port: 443),
                text: "[2001:db8::1]:443"),
        Printed(address: Address(ip: [0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1], port: 1),
                text: "[2001:db8:0:1:1:1:1:1]:1"),
        Printed(address: Address(ip: [0x20, 0x01, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], port: 2),
                text: "[2001:0:0:1::1]:2"),
        Printed(address: Address(ip: [0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1], port: 3),
                text: "[2001:db8::1:0:0:1]:3"),
        Printed(address: Address(ip: [0, 1] + [UInt8](repeating: 0, count: 14), port: 4), text: "[1::]:4"),
        Printed(address: Address(ip: [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF, 192, 0, 2, 1], port: 8080),
                text: "[::ffff:192.0.2.1]:8080"),
        Printed(address: Address(ip: [0xFE, 0x80] + [UInt8](repeating: 0, count: 12) + [0xAB, 0xCD], port: 65535),
                text: "[fe80::abcd]:65535"),
    ]

    @Test("address description", arguments: printed)
    func description(_ c: Printed) throws {
        #expect(c.address.description == c.text)
        // And the text form reads back to the same bytes through a v1 line.
        let family = c.address.isIPv6 ? "TCP6" : "TCP4"
        let line = "PROXY \(family) \(c.address.ipString) \(c.address.ipString) \(c.address.port) 1\r\n"
        let header = try #require(ProxyProtocolParser.parse(ascii(line)).header)
        #expect(header.source == c.address)
    }
}

@Suite("Robustness")
struct RobustnessTests {
    /// SplitMix64, so the run is reproducible.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test("mutated headers never crash and never claim bytes that are not there")
    func mutations() {
        let seeds: [[UInt8]] = [
            V2Vectors.proxyTCP4WithTLVs, V2Vectors.proxyTCP6, V2Vectors.proxyUnixStream, V2Vectors.proxyTCP4WithCRC,
            ascii("PROXY TCP6 2001:db8::1 ::ffff:1.2.3.4 1234 80\r\n"), ascii("PROXY UNKNOWN\r\n"),
        ]
        var rng = Generator(state: 42)
        var headers = 0
        for round in 0..<20_000 {
            var bytes = seeds[round % seeds.count]
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.remove(at: at)
                default: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: at)
                }
                if bytes.isEmpty { bytes = [0] }
            }
            if case .header(let h) = ProxyProtocolParser.parse(bytes) {
                headers += 1
                #expect(h.length <= bytes.count && h.length >= 15)
                #expect(h.version == 1 ? h.length <= 107 : h.length >= 16)
            }
        }
        #expect(headers > 0)  // some mutations (e.g. in a port or TLV value) stay valid
    }
}

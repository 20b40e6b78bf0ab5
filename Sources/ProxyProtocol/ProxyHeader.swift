/// A decoded PROXY protocol header (version 1 text or version 2 binary).
///
/// The header says who the peer of the load balancer really was; `length` is the exact number
/// of bytes the header occupied at the start of the stream, so the caller drops exactly those
/// and hands the rest to the application protocol.
public struct ProxyHeader: Sendable, Equatable {
    /// `local`: the connection was made by the proxy itself (health check); use the real
    /// endpoints. `proxy`: the connection is relayed on behalf of `source`.
    public enum Command: Sendable, Equatable { case local, proxy }

    /// The transport of the proxied connection (v2 family/protocol byte, or v1 TCP4/TCP6).
    public enum Transport: Sendable, Equatable {
        /// v1 `UNKNOWN`, v2 `AF_UNSPEC`, or any v2 `LOCAL` header (whose family is ignored).
        case unspecified
        case tcp4, tcp6, udp4, udp6
        case unixStream, unixDatagram
    }

    /// A v2 type-length-value extension. `PP2_TYPE_NOOP` entries are never reported.
    public struct TLV: Sendable, Equatable {
        public var type: UInt8
        public var value: [UInt8]

        public init(type: UInt8, value: [UInt8]) {
            self.type = type
            self.value = value
        }

        /// Registered TLV type codes (`PP2_TYPE_*`).
        public enum Kind {
            public static let alpn: UInt8 = 0x01
            public static let authority: UInt8 = 0x02
            /// Verified by the parser: a header whose checksum does not match is invalid.
            public static let crc32c: UInt8 = 0x03
            public static let noop: UInt8 = 0x04
            /// At most 128 bytes, enforced by the parser.
            public static let uniqueID: UInt8 = 0x05
            public static let ssl: UInt8 = 0x20
            public static let netns: UInt8 = 0x30
        }
    }

    /// 1 or 2.
    public var version: Int
    /// v1 is always `.proxy` (a v1 `UNKNOWN` header is `.proxy` without addresses).
    public var command: Command
    public var transport: Transport
    /// The original client; nil for LOCAL, v1 UNKNOWN, AF_UNSPEC and AF_UNIX.
    public var source: Address?
    /// The address the client connected to; nil in the same cases as `source`.
    public var destination: Address?
    /// AF_UNIX source path bytes (NUL padding removed; abstract names keep their leading NUL).
    public var unixSource: [UInt8]?
    /// AF_UNIX destination path bytes, as `unixSource`.
    public var unixDestination: [UInt8]?
    /// v2 extensions in wire order, without NOOP; always empty for v1 and for LOCAL.
    public var tlvs: [TLV]
    /// Bytes the header occupied in the stream (v1 including CRLF, v2 16 + length field).
    public var length: Int

    public init(
        version: Int, command: Command, transport: Transport,
        source: Address? = nil, destination: Address? = nil,
        unixSource: [UInt8]? = nil, unixDestination: [UInt8]? = nil,
        tlvs: [TLV] = [], length: Int
    ) {
        self.version = version
        self.command = command
        self.transport = transport
        self.source = source
        self.destination = destination
        self.unixSource = unixSource
        self.unixDestination = unixDestination
        self.tlvs = tlvs
        self.length = length
    }

    /// The value of the first TLV of `type`, if any.
    public func tlvValue(_ type: UInt8) -> [UInt8]? {
        for tlv in tlvs where tlv.type == type { return tlv.value }
        return nil
    }

    /// The negotiated ALPN protocol (e.g. `h2`), if the sender reported one.
    public var alpn: [UInt8]? { tlvValue(TLV.Kind.alpn) }

    /// The TLS SNI host name the client sent, if the sender reported one (decoded leniently as
    /// UTF-8: invalid sequences become U+FFFD).
    public var authority: String? {
        tlvValue(TLV.Kind.authority).map { String(decoding: $0, as: UTF8.self) }
    }
}

/// An IP endpoint carried in a PROXY header.
public struct Address: Sendable, Hashable, CustomStringConvertible {
    /// 4 bytes (IPv4) or 16 bytes (IPv6), network order.
    public var ip: [UInt8]
    public var port: UInt16

    public init(ip: [UInt8], port: UInt16) {
        self.ip = ip
        self.port = port
    }

    public var isIPv6: Bool { ip.count == 16 }

    /// The address alone: `1.2.3.4`, or RFC 5952 text for IPv6 (`2001:db8::1`, `::ffff:1.2.3.4`).
    public var ipString: String { IPText.format(ip) }

    /// `1.2.3.4:80` or `[::1]:80`.
    public var description: String {
        isIPv6 ? "[\(ipString)]:\(port)" : "\(ipString):\(port)"
    }
}

/// The verdict on the bytes at the start of a connection.
public enum ProxyParseResult: Sendable, Equatable {
    /// What has arrived is a valid prefix of a PROXY header; read more and parse again from the
    /// start of the stream.
    case needMoreBytes
    /// A complete header; drop `header.length` bytes from the stream.
    case header(ProxyHeader)
    /// The bytes cannot be the start of a PROXY header (they diverge from both `PROXY ` and the
    /// v2 signature), e.g. plain HTTP or a TLS ClientHello.
    case notProxyProtocol
    /// The bytes start like a PROXY header but are malformed; the reason is meant for logs.
    case invalid(String)
}

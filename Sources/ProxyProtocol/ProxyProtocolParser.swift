/// Parser of the HAProxy PROXY protocol, versions 1 (text) and 2 (binary).
///
/// Pure: bytes in, verdict out; no I/O, no Foundation. Always parse from the first byte of the
/// connection; on `.needMoreBytes` read more and call again with everything received so far.
/// The parser is strict (this is a trust boundary): anything the specification does not allow
/// is `.invalid`, and the caller should close the connection.
public enum ProxyProtocolParser {
    /// The longest v1 line allowed, CRLF included.
    public static let v1MaximumLength = 107
    /// The fixed part of a v2 header: signature, version/command, family, length.
    public static let v2FixedLength = 16
    /// The default cap on a whole v2 header (fixed part plus 4096 bytes of addresses and TLVs).
    public static let defaultMaximumLength = 4096 + 16
    /// The largest v2 header the wire format can express.
    public static let absoluteMaximumLength = 65535 + 16

    /// `PROXY ` — the start of every v1 header.
    public static let v1Prefix: [UInt8] = Array("PROXY ".utf8)
    /// `\r\n\r\n\0\r\nQUIT\n` — the start of every v2 header.
    public static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    /// Parses the PROXY header at the start of `bytes`.
    ///
    /// - Parameter maximumLength: total size above which a v2 header is refused as `.invalid`
    ///   (checked as soon as its length field has arrived). v1 is always capped at 107 bytes.
    public static func parse(
        _ bytes: UnsafeRawBufferPointer, maximumLength: Int = defaultMaximumLength
    ) -> ProxyParseResult {
        switch classify(bytes) {
        case .notProxy: return .notProxyProtocol
        case .undecided: return .needMoreBytes
        case .v1: return V1Parser.parse(bytes)
        case .v2: return V2Parser.parse(bytes, maximumLength: maximumLength)
        }
    }

    /// Parses the PROXY header at the start of `bytes`.
    public static func parse(_ bytes: [UInt8], maximumLength: Int = defaultMaximumLength) -> ProxyParseResult {
        bytes.withUnsafeBytes { parse($0, maximumLength: maximumLength) }
    }

    /// Parses the PROXY header at the start of `bytes`.
    public static func parse(_ bytes: ArraySlice<UInt8>, maximumLength: Int = defaultMaximumLength) -> ProxyParseResult {
        bytes.withUnsafeBytes { parse($0, maximumLength: maximumLength) }
    }

    /// False once `prefix` has diverged from both `PROXY ` and the v2 signature; true while it
    /// is still consistent with one of them (including when it is empty or shorter than both).
    /// Only the signatures are looked at: a true answer does not mean the header is valid.
    public static func looksLikeProxyProtocol(_ prefix: UnsafeRawBufferPointer) -> Bool {
        classify(prefix) != .notProxy
    }

    /// See `looksLikeProxyProtocol(_:)`.
    public static func looksLikeProxyProtocol(_ prefix: [UInt8]) -> Bool {
        prefix.withUnsafeBytes { looksLikeProxyProtocol($0) }
    }

    enum Kind: Equatable { case notProxy, undecided, v1, v2 }

    static func classify(_ b: UnsafeRawBufferPointer) -> Kind {
        guard let first = b.first else { return .undecided }
        let signature: [UInt8]
        let kind: Kind
        switch first {
        case v1Prefix[0]: (signature, kind) = (v1Prefix, .v1)
        case v2Signature[0]: (signature, kind) = (v2Signature, .v2)
        default: return .notProxy
        }
        let n = min(b.count, signature.count)
        for i in 1..<n where b[i] != signature[i] { return .notProxy }
        return n == signature.count ? kind : .undecided
    }
}

/// Why a scan stopped early.
enum ParseStop: Error {
    case needMore
    case invalid(String)
}

extension ProxyParseResult {
    init(_ stop: ParseStop) {
        switch stop {
        case .needMore: self = .needMoreBytes
        case .invalid(let reason): self = .invalid(reason)
        }
    }
}

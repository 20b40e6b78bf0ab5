/// An IPv4 or IPv6 network (`10.0.0.0/8`, `2001:db8::/32`); a bare address is a /32 or /128.
/// Shared by the loader (validation) and, later, by the data plane's allow lists.
public struct CIDR: Sendable, Hashable, CustomStringConvertible {
    /// 4 or 16 bytes, host bits zero.
    public var address: [UInt8]
    public var prefixLength: Int

    public enum ParseError: Error, Equatable, Sendable {
        case invalidAddress
        case invalidPrefix
        /// Host bits are set; carries the network the operator probably meant.
        case hostBitsSet(suggestion: String)
    }

    public static func parse(_ text: String) -> Result<CIDR, ParseError> {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = CIDR.parseAddress(String(parts[0])) else { return .failure(.invalidAddress) }
        let maxPrefix = address.count * 8
        var prefix = maxPrefix
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...maxPrefix).contains(value), String(value) == parts[1] else {
                return .failure(.invalidPrefix)
            }
            prefix = value
        }
        let masked = CIDR.mask(address, prefix)
        let cidr = CIDR(address: masked, prefixLength: prefix)
        if masked != address { return .failure(.hostBitsSet(suggestion: cidr.description)) }
        return .success(cidr)
    }

    public init(address: [UInt8], prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    /// Whether `address` (4 or 16 bytes) lies inside this network. IPv4-mapped IPv6 addresses
    /// (`::ffff:a.b.c.d`) are compared as IPv4.
    public func contains(_ other: [UInt8]) -> Bool {
        var candidate = other
        if candidate.count == 16, address.count == 4, candidate[0..<10].allSatisfy({ $0 == 0 }),
           candidate[10] == 0xff, candidate[11] == 0xff {
            candidate = Array(candidate[12...])
        }
        guard candidate.count == address.count else { return false }
        return CIDR.mask(candidate, prefixLength) == address
    }

    static func mask(_ bytes: [UInt8], _ prefix: Int) -> [UInt8] {
        var out = bytes
        for index in out.indices {
            let bitsHere = max(0, min(8, prefix - index * 8))
            out[index] &= bitsHere == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - bitsHere))
        }
        return out
    }

    public var description: String { "\(CIDR.format(address))/\(prefixLength)" }

    /// Parses dotted IPv4 or RFC 4291 IPv6 text (with `::` and an embedded IPv4 tail).
    public static func parseAddress(_ text: String) -> [UInt8]? {
        if text.contains(":") { return parseIPv6(text) }
        return parseIPv4(text)
    }

    static func parseIPv4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  !(part.count > 1 && part.hasPrefix("0")), let value = UInt8(part) else { return nil }
            out.append(value)
        }
        return out
    }

    static func parseIPv6(_ text: String) -> [UInt8]? {
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String, allowIPv4Tail: Bool) -> [UInt8]? {
            if part.isEmpty { return [] }
            var out: [UInt8] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if allowIPv4Tail, index == pieces.count - 1, piece.contains(".") {
                    guard let v4 = parseIPv4(String(piece)) else { return nil }
                    out += v4
                    continue
                }
                guard (1...4).contains(piece.count), let value = UInt16(piece, radix: 16) else { return nil }
                out += [UInt8(value >> 8), UInt8(value & 0xff)]
            }
            return out
        }
        // An embedded IPv4 address may only be the last 32 bits (RFC 4291 §2.2).
        guard let head = groups(halves[0], allowIPv4Tail: halves.count == 1) else { return nil }
        if halves.count == 1 { return head.count == 16 ? head : nil }
        guard let tail = groups(halves[1], allowIPv4Tail: true), head.count + tail.count <= 14 else { return nil }
        return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
    }

    static func format(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        let groups = stride(from: 0, to: 16, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
        // RFC 5952: compress the longest run (length ≥ 2) of zero groups, the first such run on a tie.
        var bestStart = -1, bestLength = 0, runStart = -1
        for index in 0...groups.count {
            if index < groups.count, groups[index] == 0 {
                if runStart < 0 { runStart = index }
            } else if runStart >= 0 {
                if index - runStart > bestLength, index - runStart >= 2 { bestStart = runStart; bestLength = index - runStart }
                runStart = -1
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        if bestStart < 0 { return hex.joined(separator: ":") }
        let head = hex[..<bestStart].joined(separator: ":")
        let tail = hex[(bestStart + bestLength)...].joined(separator: ":")
        return head + "::" + tail
    }
}

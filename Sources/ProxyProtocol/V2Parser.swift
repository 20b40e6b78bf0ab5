/// Version 2: 12-byte signature, version/command byte, family/protocol byte, 16-bit big-endian
/// length of what follows (addresses, then TLVs).
enum V2Parser {
    static func parse(_ b: UnsafeRawBufferPointer, maximumLength: Int) -> ProxyParseResult {
        let n = b.count
        // The signature (bytes 0–11) has been matched by the caller.
        guard n > 12 else { return .needMoreBytes }
        let versionCommand = b[12]
        guard versionCommand >> 4 == 2 else {
            return .invalid("unsupported binary PROXY protocol version \(versionCommand >> 4)")
        }
        let command: ProxyHeader.Command
        switch versionCommand & 0x0F {
        case 0x0: command = .local
        case 0x1: command = .proxy
        default: return .invalid("unknown v2 command \(versionCommand & 0x0F)")
        }

        guard n > 13 else { return .needMoreBytes }
        let family = b[13]
        // LOCAL: the family byte is ignored (the receiver uses the real endpoints).
        var transport = ProxyHeader.Transport.unspecified
        var addressLength = 0
        if command == .proxy {
            switch family {
            case 0x00: (transport, addressLength) = (.unspecified, 0)
            case 0x11: (transport, addressLength) = (.tcp4, 12)
            case 0x12: (transport, addressLength) = (.udp4, 12)
            case 0x21: (transport, addressLength) = (.tcp6, 36)
            case 0x22: (transport, addressLength) = (.udp6, 36)
            case 0x31: (transport, addressLength) = (.unixStream, 216)
            case 0x32: (transport, addressLength) = (.unixDatagram, 216)
            default: return .invalid("unknown v2 address family/protocol 0x\(hex(family))")
            }
        }

        guard n >= 16 else { return .needMoreBytes }
        let blockLength = Int(b[14]) << 8 | Int(b[15])
        let total = 16 + blockLength
        guard total <= maximumLength else {
            return .invalid("v2 header of \(total) bytes exceeds the maximum of \(maximumLength)")
        }
        guard blockLength >= addressLength else {
            return .invalid(
                "v2 address block of \(blockLength) bytes is shorter than the \(addressLength) bytes family 0x\(hex(family)) needs")
        }
        guard n >= total else { return .needMoreBytes }

        if command == .local {
            return .header(ProxyHeader(version: 2, command: .local, transport: .unspecified, length: total))
        }

        var header = ProxyHeader(version: 2, command: .proxy, transport: transport, length: total)
        switch addressLength {
        case 12:
            header.source = Address(ip: bytes(b, 16..<20), port: port(b, 24))
            header.destination = Address(ip: bytes(b, 20..<24), port: port(b, 26))
        case 36:
            header.source = Address(ip: bytes(b, 16..<32), port: port(b, 48))
            header.destination = Address(ip: bytes(b, 32..<48), port: port(b, 50))
        case 216:
            header.unixSource = unixPath(b, 16..<124)
            header.unixDestination = unixPath(b, 124..<232)
        default:
            break
        }

        var p = 16 + addressLength
        while p < total {
            guard total - p >= 3 else { return .invalid("truncated TLV header at offset \(p)") }
            let type = b[p]
            let length = Int(b[p + 1]) << 8 | Int(b[p + 2])
            let valueStart = p + 3
            guard length <= total - valueStart else {
                return .invalid("TLV 0x\(hex(type)) of \(length) bytes at offset \(p) overruns the header")
            }
            let value = valueStart..<(valueStart + length)
            switch type {
            case ProxyHeader.TLV.Kind.noop:
                break
            case ProxyHeader.TLV.Kind.crc32c:
                guard length == 4 else { return .invalid("CRC32C TLV must be 4 bytes, not \(length)") }
                let expected = UInt32(b[valueStart]) << 24 | UInt32(b[valueStart + 1]) << 16
                    | UInt32(b[valueStart + 2]) << 8 | UInt32(b[valueStart + 3])
                var crc = CRC32C.update(0xFFFF_FFFF, b, 0..<valueStart)
                crc = CRC32C.updateZeros(crc, count: 4)
                crc = ~CRC32C.update(crc, b, value.upperBound..<total)
                guard crc == expected else { return .invalid("CRC32C checksum mismatch") }
                header.tlvs.append(.init(type: type, value: bytes(b, value)))
            case ProxyHeader.TLV.Kind.uniqueID:
                guard length <= 128 else { return .invalid("UNIQUE_ID TLV longer than 128 bytes") }
                header.tlvs.append(.init(type: type, value: bytes(b, value)))
            default:
                header.tlvs.append(.init(type: type, value: bytes(b, value)))
            }
            p = value.upperBound
        }
        return .header(header)
    }

    @inline(__always) private static func bytes(_ b: UnsafeRawBufferPointer, _ range: Range<Int>) -> [UInt8] {
        [UInt8](UnsafeRawBufferPointer(rebasing: b[range]))
    }

    @inline(__always) private static func port(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt16 {
        UInt16(b[at]) << 8 | UInt16(b[at + 1])
    }

    /// A `sun_path`: up to the first NUL, or for an abstract name (leading NUL) without the
    /// trailing NUL padding.
    private static func unixPath(_ b: UnsafeRawBufferPointer, _ range: Range<Int>) -> [UInt8] {
        var end = range.upperBound
        if b[range.lowerBound] != 0 {
            end = range.lowerBound
            while end < range.upperBound && b[end] != 0 { end += 1 }
        } else {
            while end > range.lowerBound && b[end - 1] == 0 { end -= 1 }
        }
        return bytes(b, range.lowerBound..<end)
    }

    private static func hex(_ byte: UInt8) -> String {
        let s = String(byte, radix: 16)
        return s.count == 1 ? "0" + s : s
    }
}

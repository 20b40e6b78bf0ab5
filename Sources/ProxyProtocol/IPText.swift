/// Text forms of IP addresses: strict parsing for v1 headers, RFC 5952 formatting for display.
enum IPText {
    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    @inline(__always) static func isHexDigit(_ c: UInt8) -> Bool { hexValue(c) != nil }

    @inline(__always) static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }

    /// Whether `c` may follow `before` in a dotted quad that is still arriving: digits and dots
    /// only, at most four octets, no empty octet, no leading zero, no octet above 255.
    static func ipv4PrefixAllows(_ before: UnsafeRawBufferPointer, _ c: UInt8) -> Bool {
        // The octet being typed: the bytes after the last dot.
        var octetStart = 0
        var dots = 0
        for k in 0..<before.count where before[k] == UInt8(ascii: ".") { dots += 1; octetStart = k + 1 }
        let octet = UnsafeRawBufferPointer(rebasing: before[octetStart...])
        if c == UInt8(ascii: ".") { return !octet.isEmpty && dots < 3 }
        guard isDigit(c) else { return false }
        if octet.count == 1 && octet[0] == 0x30 { return false }  // leading zero
        var value = Int(c - 0x30)
        var scale = 10
        for k in (0..<octet.count).reversed() { value += Int(octet[k] - 0x30) * scale; scale *= 10 }
        return octet.count < 3 && value <= 255
    }

    /// Dotted quad, four decimal octets 0–255 without leading zeros (`0` itself is fine).
    /// Writes the four bytes at `out[offset...]`.
    static func parseIPv4(
        _ b: UnsafeRawBufferPointer, _ range: Range<Int>, into out: inout [UInt8], at offset: Int
    ) -> Bool {
        var i = range.lowerBound
        var octets = 0
        while true {
            let start = i
            var value = 0
            while i < range.upperBound, isDigit(b[i]) {
                if i - start == 3 { return false }
                if i > start && b[start] == 0x30 { return false }  // leading zero
                value = value * 10 + Int(b[i] - 0x30)
                i += 1
            }
            if i == start || value > 255 || octets == 4 { return false }
            out[offset + octets] = UInt8(value)
            octets += 1
            if i == range.upperBound { break }
            guard b[i] == UInt8(ascii: "."), octets < 4 else { return false }
            i += 1
            if i == range.upperBound { return false }  // trailing dot
        }
        return octets == 4
    }

    /// RFC 4291 section 2.2 text: eight groups of 1–4 hex digits, at most one `::` standing for
    /// one or more zero groups, optionally ending in a dotted quad for the last 32 bits.
    static func parseIPv6(_ b: UnsafeRawBufferPointer, _ range: Range<Int>) -> [UInt8]? {
        let colon = UInt8(ascii: ":")
        let end = range.upperBound
        var out = [UInt8](repeating: 0, count: 16)
        var groups = 0          // 16-bit groups written so far (an IPv4 tail counts as two)
        var gap: Int? = nil     // group index where `::` stands
        var i = range.lowerBound
        guard i < end else { return nil }
        if b[i] == colon {
            guard i + 1 < end, b[i + 1] == colon else { return nil }
            gap = 0
            i += 2
            if i == end { return out }
        }
        while true {
            let start = i
            var value = 0
            while i < end, i - start < 5, let h = hexValue(b[i]) {
                value = value << 4 | Int(h)
                i += 1
            }
            if i == start { return nil }
            if i < end && b[i] == UInt8(ascii: ".") {
                // Dotted-quad tail: must be the last piece and leave room for itself.
                guard groups <= 6, parseIPv4(b, start..<end, into: &out, at: groups * 2) else { return nil }
                groups += 2
                break
            }
            if i - start > 4 || groups == 8 { return nil }
            out[groups * 2] = UInt8(value >> 8)
            out[groups * 2 + 1] = UInt8(value & 0xFF)
            groups += 1
            if i == end { break }
            guard b[i] == colon else { return nil }
            i += 1
            guard i < end else { return nil }  // a single trailing colon
            if b[i] == colon {
                guard gap == nil else { return nil }  // a second `::`
                gap = groups
                i += 1
                if i == end { break }
            }
        }
        if let gap {
            guard groups <= 7 else { return nil }
            // Move the groups after `::` to the end and zero the hole.
            let tail = groups - gap
            let hole = 8 - groups
            var k = tail * 2 - 1
            while k >= 0 {
                out[(gap + hole) * 2 + k] = out[gap * 2 + k]
                k -= 1
            }
            for j in (gap * 2)..<((gap + hole) * 2) { out[j] = 0 }
        } else if groups != 8 {
            return nil
        }
        return out
    }

    /// `a.b.c.d` for 4 bytes; RFC 5952 text for 16 (lowercase, longest run of two or more zero
    /// groups as `::`, IPv4-mapped addresses as `::ffff:a.b.c.d`); hex bytes otherwise.
    static func format(_ ip: [UInt8]) -> String {
        switch ip.count {
        case 4:
            return "\(ip[0]).\(ip[1]).\(ip[2]).\(ip[3])"
        case 16:
            if ip[0..<10].allSatisfy({ $0 == 0 }) && ip[10] == 0xFF && ip[11] == 0xFF {
                return "::ffff:\(ip[12]).\(ip[13]).\(ip[14]).\(ip[15])"
            }
            var groups = [UInt16](repeating: 0, count: 8)
            for g in 0..<8 { groups[g] = UInt16(ip[g * 2]) << 8 | UInt16(ip[g * 2 + 1]) }
            var bestStart = -1, bestLength = 0
            var g = 0
            while g < 8 {
                if groups[g] == 0 {
                    let start = g
                    while g < 8 && groups[g] == 0 { g += 1 }
                    if g - start > bestLength { (bestStart, bestLength) = (start, g - start) }
                } else {
                    g += 1
                }
            }
            if bestLength < 2 { bestStart = -1 }
            var text = ""
            text.reserveCapacity(39)
            g = 0
            while g < 8 {
                if g == bestStart {
                    text += "::"
                    g += bestLength
                    continue
                }
                if !text.isEmpty && !text.hasSuffix(":") { text += ":" }
                text += String(groups[g], radix: 16)
                g += 1
            }
            return text
        default:
            let digits: [Character] = Array("0123456789abcdef")
            var text = ""
            for byte in ip { text.append(digits[Int(byte >> 4)]); text.append(digits[Int(byte & 0xF)]) }
            return text
        }
    }
}

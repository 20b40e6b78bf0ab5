/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by `PP2_TYPE_CRC32C`.
enum CRC32C {
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 == 1 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    /// Continues a running (pre-inverted) CRC over `bytes[range]`.
    static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> UInt32 {
        var c = crc
        table.withUnsafeBufferPointer { t in
            for i in range { c = t[Int((c ^ UInt32(bytes[i])) & 0xFF)] ^ (c >> 8) }
        }
        return c
    }

    /// Continues a running CRC over `count` zero bytes.
    static func updateZeros(_ crc: UInt32, count: Int) -> UInt32 {
        var c = crc
        for _ in 0..<count { c = table[Int(c & 0xFF)] ^ (c >> 8) }
        return c
    }

    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        ~update(0xFFFF_FFFF, bytes, 0..<bytes.count)
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}

/// base64url without padding (RFC 7515 §2, RFC 4648 §5), decoded strictly: only the URL-safe
/// alphabet, no `=`, no whitespace, no length ≡ 1 (mod 4), and the unused low bits of the last
/// character must be zero — so every byte string has exactly one accepted encoding and a token
/// cannot be altered without changing the bytes its signature covers.
public enum Base64URL {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    static let table: [UInt8] = {
        var table = [UInt8](repeating: 0xff, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    public static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        guard text.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count * 3 / 4)
        var bits: UInt32 = 0, bitCount = 0
        for char in text {
            let value = table[Int(char)]
            guard value != 0xff else { return nil }
            bits = bits << 6 | UInt32(value)
            bitCount += 6
            if bitCount >= 8 {
                bitCount -= 8
                out.append(UInt8(truncatingIfNeeded: bits >> UInt32(bitCount)))
                bits &= (1 << UInt32(bitCount)) - 1
            }
        }
        // Leftover bits (2 or 4) must be zero for the encoding to be canonical.
        return bits == 0 ? out : nil
    }

    public static func decode(_ text: String) -> [UInt8]? { decode(Array(text.utf8)) }

    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        let bytes = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= bytes.count {
            let word = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out += [alphabet[Int(word >> 18)], alphabet[Int((word >> 12) & 63)], alphabet[Int((word >> 6) & 63)], alphabet[Int(word & 63)]]
            index += 3
        }
        let rest = bytes.count - index
        if rest == 1 {
            let word = UInt32(bytes[index]) << 16
            out += [alphabet[Int(word >> 18)], alphabet[Int((word >> 12) & 63)]]
        } else if rest == 2 {
            let word = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out += [alphabet[Int(word >> 18)], alphabet[Int((word >> 12) & 63)], alphabet[Int((word >> 6) & 63)]]
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Standard base64 with padding (RFC 4648 §4), for `Authorization: Basic` (RFC 7617), decoded
/// strictly (padding required, canonical last character).
enum Base64Standard {
    static let table: [UInt8] = {
        var table = [UInt8](repeating: 0xff, count: 256)
        for (index, byte) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(byte)] = UInt8(index)
        }
        return table
    }()

    static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        let bytes = Array(text)
        guard bytes.count % 4 == 0 else { return nil }
        var end = bytes.count
        var padding = 0
        while end > 0, bytes[end - 1] == UInt8(ascii: "="), padding < 2 { end -= 1; padding += 1 }
        var translated: [UInt8] = []
        translated.reserveCapacity(end)
        for byte in bytes[..<end] {
            guard table[Int(byte)] != 0xff else { return nil }
            translated.append(Base64URL.alphabet[Int(table[Int(byte)])])
        }
        return Base64URL.decode(translated)
    }
}

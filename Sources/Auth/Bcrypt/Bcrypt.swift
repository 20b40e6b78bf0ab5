/// bcrypt (Provos & Mazières 1999) as crypt_blowfish computes `$2a$`, `$2b$` and `$2y$` hashes.
///
/// - `$2b$` and `$2y$` are the corrected algorithm: the password's bytes (unsigned) followed by
///   its NUL terminator, cycled to 72 bytes; bytes past the 72nd are ignored.
/// - `$2a$` is the same, plus crypt_blowfish's countermeasure (1.1, 2011): when the password has
///   a byte ≥ 0x80 whose sign extension would have changed nothing in the buggy 2a of old
///   crypt_blowfish, bit 16 of the first P word is flipped so such a hash cannot be shared by the
///   buggy and the corrected computation. For passwords without bytes ≥ 0x80, `$2a$` = `$2b$`.
/// - `$2x$` (the buggy variant) and every other prefix are refused, as are costs outside 4...31.
///
/// Pure and CPU-bound (2^cost key schedules): callers run it off the event loop.
public enum Bcrypt {
    public enum Variant: UInt8, Sendable {
        case a = 0x61, b = 0x62, y = 0x79
    }

    /// A parsed `$2?$NN$` + 22 salt characters + 31 hash characters.
    public struct Hash: Sendable, Hashable {
        public var variant: Variant
        public var cost: Int
        /// 16 bytes.
        public var salt: [UInt8]
        /// The 60-character string it was parsed from.
        public var encoded: String

        /// Strict: exactly 60 bytes, a known variant, two decimal cost digits in 04...31, the bcrypt
        /// alphabet only, and a canonical salt (its last character carries 2 bits; the 4 unused
        /// bits must be zero, as every real implementation writes them).
        public init?(_ text: String) {
            let bytes = Array(text.utf8)
            guard bytes.count == 60, bytes[0] == UInt8(ascii: "$"), bytes[1] == UInt8(ascii: "2"),
                  let variant = Variant(rawValue: bytes[2]), bytes[3] == UInt8(ascii: "$"), bytes[6] == UInt8(ascii: "$"),
                  (0x30...0x39).contains(bytes[4]), (0x30...0x39).contains(bytes[5]) else { return nil }
            let cost = Int(bytes[4] - 0x30) * 10 + Int(bytes[5] - 0x30)
            guard (4...31).contains(cost), bytes[7...].allSatisfy({ Bcrypt.decodeTable[Int($0)] != 0xff }),
                  let salt = Bcrypt.decode(bytes[7..<29], count: 16),
                  Bcrypt.encode(salt).elementsEqual(bytes[7..<29]) else { return nil }
            self.variant = variant
            self.cost = cost
            self.salt = salt
            self.encoded = text
        }
    }

    /// Whether `password` matches `hash` (a 60-character bcrypt string). Malformed hashes never
    /// match, and neither does a password with a NUL byte (C implementations would stop reading
    /// it there, so `"a\0b"` would pass as `"a"`). The comparison of the computed and stored
    /// strings is constant-time.
    public static func verify(password: some Collection<UInt8>, hash: String) -> Bool {
        guard let parsed = Hash(hash), !password.contains(0) else { return false }
        let computed = Array(self.hash(password: password, variant: parsed.variant, cost: parsed.cost, salt: parsed.salt).utf8)
        return ConstantTime.equals(computed, Array(hash.utf8))
    }

    /// The full 60-character hash string. `salt` must be 16 bytes and `cost` within 4...31.
    public static func hash(password: some Collection<UInt8>, variant: Variant, cost: Int, salt: [UInt8]) -> String {
        precondition(salt.count == 16 && (4...31).contains(cost), "bcrypt: salt must be 16 bytes and cost 4...31")
        let raw = self.raw(password: Array(password), safety: variant == .a, cost: cost, salt: salt)
        let costText = cost < 10 ? "0\(cost)" : "\(cost)"
        let prefix = "$2" + String(UnicodeScalar(variant.rawValue)) + "$" + costText + "$"
        return prefix + String(decoding: encode(salt), as: UTF8.self) + String(decoding: encode(Array(raw.prefix(23))), as: UTF8.self)
    }

    /// The 24 bytes of "OrpheanBeholderScryDoubt" encrypted 64 times under the EksBlowfish state.
    static func raw(password: [UInt8], safety: Bool, cost: Int, salt: [UInt8]) -> [UInt8] {
        // The key: password bytes then NUL, cycled over 18 words (72 bytes), big-endian words.
        var key = [UInt32](repeating: 0, count: 18)
        var sign: UInt32 = 0, diff: UInt32 = 0
        var position = 0
        for word in 0..<18 {
            var correct: UInt32 = 0, buggy: UInt32 = 0
            for byteIndex in 0..<4 {
                let byte: UInt8 = position < password.count ? password[position] : 0
                correct = correct << 8 | UInt32(byte)
                // The pre-2011 bug: `char` sign-extended before OR-ing (crypt_blowfish BF_set_key).
                buggy = buggy << 8 | UInt32(bitPattern: Int32(Int8(bitPattern: byte)))
                if byteIndex > 0 { sign |= buggy & 0x80 }
                position = position < password.count ? position + 1 : 0
            }
            diff |= correct ^ buggy
            key[word] = correct
        }
        var firstWordFlip: UInt32 = 0
        if safety {
            diff |= diff >> 16
            diff &= 0xffff
            diff &+= 0xffff  // bit 16 set iff the two computations differed
            firstWordFlip = (sign << 9) & ~diff & 0x10000
        }

        let saltWords = (0..<4).map { index in
            salt[index * 4..<index * 4 + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        }
        let saltKey = (0..<18).map { saltWords[$0 % 4] }
        var state = Blowfish()
        var cipher: [UInt32] = Array("OrpheanBeholderScryDoubt".utf8).withUnsafeBufferPointer { text in
            (0..<6).map { index in text[index * 4..<index * 4 + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
        }
        state.words.withUnsafeMutableBufferPointer { stateBuffer in
            let s = stateBuffer.baseAddress!
            key.withUnsafeBufferPointer { keyBuffer in
                saltWords.withUnsafeBufferPointer { saltBuffer in
                    saltKey.withUnsafeBufferPointer { saltKeyBuffer in
                        s[0] ^= firstWordFlip
                        Blowfish.expand(s, key: keyBuffer.baseAddress!, salt: saltBuffer.baseAddress!)
                        var rounds: UInt64 = 1 << UInt64(cost)
                        while rounds > 0 {
                            Blowfish.expand(s, key: keyBuffer.baseAddress!, salt: nil)
                            Blowfish.expand(s, key: saltKeyBuffer.baseAddress!, salt: nil)
                            rounds -= 1
                        }
                    }
                }
            }
            for _ in 0..<64 {
                for pair in 0..<3 {
                    var left = cipher[pair * 2], right = cipher[pair * 2 + 1]
                    Blowfish.encipher(s, &left, &right)
                    cipher[pair * 2] = left
                    cipher[pair * 2 + 1] = right
                }
            }
        }
        return cipher.flatMap { word in [UInt8(word >> 24), UInt8((word >> 16) & 0xff), UInt8((word >> 8) & 0xff), UInt8(word & 0xff)] }
    }

    // MARK: bcrypt's base64 (its own alphabet, no padding)

    static let alphabet = Array("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
    static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xff, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    static func encode(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index < bytes.count {
            let c1 = bytes[index]
            out.append(alphabet[Int(c1 >> 2)])
            var carry = (c1 & 0x03) << 4
            guard index + 1 < bytes.count else { out.append(alphabet[Int(carry)]); break }
            let c2 = bytes[index + 1]
            out.append(alphabet[Int(carry | c2 >> 4)])
            carry = (c2 & 0x0f) << 2
            guard index + 2 < bytes.count else { out.append(alphabet[Int(carry)]); break }
            let c3 = bytes[index + 2]
            out.append(alphabet[Int(carry | c3 >> 6)])
            out.append(alphabet[Int(c3 & 0x3f)])
            index += 3
        }
        return out
    }

    static func decode(_ text: ArraySlice<UInt8>, count: Int) -> [UInt8]? {
        var bits: UInt32 = 0, bitCount = 0
        var out: [UInt8] = []
        for char in text {
            let value = decodeTable[Int(char)]
            guard value != 0xff else { return nil }
            bits = bits << 6 | UInt32(value)
            bitCount += 6
            if bitCount >= 8 {
                bitCount -= 8
                if out.count < count { out.append(UInt8((bits >> UInt32(bitCount)) & 0xff)) }
                bits &= (1 << UInt32(bitCount)) - 1
            }
        }
        return out.count == count ? out : nil
    }
}

/// Comparisons whose time depends only on the lengths, never on where the inputs differ.
public enum ConstantTime {
    public static func equals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}

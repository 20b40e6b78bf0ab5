/// The Blowfish state as bcrypt uses it: P-array (18 words) followed by the four S-boxes
/// (4 × 256 words) in one buffer, so the hot loops run over one pointer without bounds checks
/// or reference counting. Only what bcrypt needs is here (encipher, the salted key schedule).
struct Blowfish {
    static let wordCount = 18 + 4 * 256

    var words: [UInt32]

    init() {
        words = Blowfish.initialP + Blowfish.initialS
        precondition(words.count == Blowfish.wordCount)
    }

    /// One Blowfish block: 16 Feistel rounds (Schneier 1993; the round layout of OpenBSD's blf.c).
    @inline(__always)
    static func encipher(_ state: UnsafeMutablePointer<UInt32>, _ left: inout UInt32, _ right: inout UInt32) {
        let s0 = state + 18, s1 = state + 18 + 256, s2 = state + 18 + 512, s3 = state + 18 + 768
        @inline(__always) func f(_ x: UInt32) -> UInt32 {
            ((s0[Int(x >> 24)] &+ s1[Int((x >> 16) & 0xff)]) ^ s2[Int((x >> 8) & 0xff)]) &+ s3[Int(x & 0xff)]
        }
        var xl = left ^ state[0], xr = right
        var round = 1
        while round < 17 {
            xr ^= f(xl) ^ state[round]
            xl ^= f(xr) ^ state[round + 1]
            round += 2
        }
        left = xr ^ state[17]
        right = xl
    }

    /// XORs `key` (18 words) into P, then re-encrypts the whole state in a chain, mixing in the
    /// salt words (4, cycled) before each block — bcrypt's ExpandKey. A nil salt is the all-zero salt.
    @inline(__always)
    static func expand(_ state: UnsafeMutablePointer<UInt32>, key: UnsafePointer<UInt32>, salt: UnsafePointer<UInt32>?) {
        for index in 0..<18 { state[index] ^= key[index] }
        var left: UInt32 = 0, right: UInt32 = 0
        var saltIndex = 0
        var index = 0
        while index < wordCount {
            if let salt {
                left ^= salt[saltIndex]
                right ^= salt[saltIndex + 1]
                saltIndex ^= 2
            }
            encipher(state, &left, &right)
            state[index] = left
            state[index + 1] = right
            index += 2
        }
    }
}

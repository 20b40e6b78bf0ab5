#if canImport(Glibc)
import Glibc
#endif

/// A deterministic byte stream for large bodies: 64 KiB blocks of pseudo-random bytes, each
/// stamped with its index in its first 8 bytes (little endian), so that a lost, repeated or
/// reordered piece shows at its offset. Generated and checked with memcpy/memcmp only (the tests
/// run unoptimized).
enum Pattern {
    static let blockSize = 64 * 1024

    static let base: [UInt8] = {
        var state: UInt32 = 2_463_534_242
        return (0..<blockSize).map { _ in
            state ^= state << 13
            state ^= state >> 17
            state ^= state << 5
            return UInt8(truncatingIfNeeded: state)
        }
    }()

    /// Block `index`, cut to `count` bytes.
    static func block(_ index: Int, count: Int = blockSize) -> [UInt8] {
        var bytes = Array(base[0..<count])
        var stamp = UInt64(index).littleEndian
        withUnsafeBytes(of: &stamp) { stampBytes in
            for offset in 0..<min(8, count) { bytes[offset] = stampBytes[offset] }
        }
        return bytes
    }
}

/// Checks that bytes handed to it, in order, are the pattern stream from offset 0.
struct PatternVerifier {
    private(set) var offset = 0
    private(set) var firstMismatch: Int?

    var valid: Bool { firstMismatch == nil }

    mutating func consume(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        var position = 0
        Pattern.base.withUnsafeBytes { base in
            while position < bytes.count {
                let index = offset / Pattern.blockSize, inBlock = offset % Pattern.blockSize
                let count = min(Pattern.blockSize - inBlock, bytes.count - position)
                var checked = 0
                while checked < count && inBlock + checked < 8 {
                    let expected = UInt8(truncatingIfNeeded: UInt64(index) >> (8 * UInt64(inBlock + checked)))
                    if bytes[position + checked] != expected, firstMismatch == nil { firstMismatch = offset + checked }
                    checked += 1
                }
                if checked < count, firstMismatch == nil,
                   memcmp(bytes.baseAddress! + position + checked, base.baseAddress! + inBlock + checked, count - checked) != 0 {
                    // Rare: find the exact byte.
                    var at = checked
                    while bytes[position + at] == base[inBlock + at] { at += 1 }
                    firstMismatch = offset + at
                }
                position += count
                offset += count
            }
        }
    }
}

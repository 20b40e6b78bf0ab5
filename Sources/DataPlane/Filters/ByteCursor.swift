/// Writes bytes into memory reserved beforehand for an upper bound of what is written, so no
/// step checks capacity or uniqueness (a `ByteBuffer` write checks both, every time). Used for
/// access-log entries (RESP) and the heads the proxy writes.
struct ByteCursor {
    var position: UnsafeMutablePointer<UInt8>

    @inline(__always) mutating func byte(_ value: UInt8) {
        position.pointee = value
        position += 1
    }

    @inline(__always) mutating func crlf() {
        position[0] = 0x0d
        position[1] = 0x0a
        position += 2
    }

    @inline(__always) mutating func raw(_ text: StaticString) {
        let count = text.utf8CodeUnitCount
        position.update(from: text.utf8Start, count: count)
        position += count
    }

    @inline(__always) mutating func raw(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let start = bytes.baseAddress else { return }
        position.update(from: start, count: bytes.count)
        position += bytes.count
    }

    /// A `String`'s bytes. Named apart from `raw` on purpose: with a `raw(String)` overload, every
    /// string literal meant for `raw(StaticString)` resolved to the `String` one (a literal's
    /// default type wins), and went through a String and its storage check on every request.
    @inline(__always) mutating func utf8(_ text: String) {
        let utf8 = text.utf8
        // Native and small strings are contiguous; the loop is for bridged ones.
        if utf8.withContiguousStorageIfAvailable({ raw($0) }) == nil {
            for value in utf8 { byte(value) }
        }
    }

    @inline(__always) mutating func raw(_ bytes: UnsafeRawBufferPointer) {
        guard let start = bytes.baseAddress else { return }
        UnsafeMutableRawPointer(position).copyMemory(from: start, byteCount: bytes.count)
        position += bytes.count
    }

    @inline(__always) mutating func raw(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { raw($0) }
    }
}


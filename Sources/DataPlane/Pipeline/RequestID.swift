/// A request's id: the one the client sent (when acceptable), or one the proxy made,
/// `<stem><sequence in lower-case hex>` (see `ProxyServices.nextRequestID`). A made id stays
/// two parts until something needs its text: the request head and the access log write its
/// bytes straight from them, so the proxy builds no String for it on its way.
struct RequestID: Sendable, Equatable, ExpressibleByStringLiteral, CustomStringConvertible {
    private enum Form: Sendable, Equatable {
        case text(String)
        case made(stem: String, sequence: UInt64)
    }

    private let form: Form

    init(_ text: String) { form = .text(text) }
    init(stringLiteral text: String) { form = .text(text) }
    init(stem: String, sequence: UInt64) {
        assert(stem.utf8.allSatisfy { $0 == UInt8(ascii: "-") || ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7a) },
               "a made request id's stem is written to JSON unescaped")
        form = .made(stem: stem, sequence: sequence)
    }

    /// Hex digits of a sequence number (at least one).
    @inline(__always) static func hexDigitCount(_ value: UInt64) -> Int { max(1, (64 - value.leadingZeroBitCount + 3) / 4) }

    var utf8Count: Int {
        switch form {
        case .text(let text): text.utf8.count
        case .made(let stem, let sequence): stem.utf8.count + Self.hexDigitCount(sequence)
        }
    }

    /// Writes the id's bytes (exactly `utf8Count` of them).
    @inline(__always) func write(to cursor: inout ByteCursor) {
        switch form {
        case .text(let text): cursor.utf8(text)
        case .made(let stem, let sequence):
            cursor.utf8(stem)
            let digits = Self.hexDigitCount(sequence)
            var value = sequence
            for position in stride(from: digits - 1, through: 0, by: -1) {
                let nibble = UInt8(truncatingIfNeeded: value & 0xf)
                cursor.position[position] = nibble < 10 ? 0x30 + nibble : 0x57 + nibble
                value >>= 4
            }
            cursor.position += digits
        }
    }

    /// Writes the id as JSON text, without quotes (up to six bytes for each of `utf8Count`). Only
    /// an id the client sent can need escaping: a made one is the proxy's own hex digits, loop
    /// number and dashes (checked in `init(stem:sequence:)`).
    @inline(__always) func writeJSON(to cursor: inout ByteCursor) {
        if case .text(let text) = form { cursor.jsonText(text) } else { write(to: &cursor) }
    }

    var description: String {
        switch form {
        case .text(let text): return text
        case .made:
            return String(unsafeUninitializedCapacity: utf8Count) { out in
                var cursor = ByteCursor(position: out.baseAddress!)
                write(to: &cursor)
                return utf8Count
            }
        }
    }
}

/// Follows `Transfer-Encoding: chunked` framing (RFC 9112 §7.1) across reads, strictly: hex
/// sizes without sign or overflow, CRLF everywhere, extensions and trailer lines without
/// control characters. It never buffers: each call consumes what it can and reports which
/// bytes were chunk data, so a proxy can forward the framing as received or only the data.
public struct ChunkedDecoder: Sendable {
    public enum Failure: Error, Equatable, Sendable {
        case size, lineEnding, extensionByte, trailer, tooLarge
    }

    enum State: Equatable, Sendable {
        case size(digits: Int, value: Int)
        case sizeExtension(value: Int)
        case sizeLF(value: Int)
        case data(remaining: Int)
        case dataCR
        case dataLF
        /// After the last chunk: at the start of a trailer line or of the final CRLF.
        case trailerStart
        case trailerLine
        case trailerLF
        case finalLF
        case done
    }

    var state: State = .size(digits: 0, value: 0)
    /// Bytes of trailer section seen (bounded).
    var trailerBytes = 0
    public let maxTrailerBytes: Int

    public init(maxTrailerBytes: Int = 32 * 1024) { self.maxTrailerBytes = maxTrailerBytes }

    public var isDone: Bool { state == .done }

    /// Consumes bytes of the body from the start of `bytes` and stops after the end of the
    /// message (bytes after it belong to the next message). Calls `data` with each range of
    /// chunk data. Returns how many bytes were consumed.
    public mutating func consume(_ bytes: UnsafeRawBufferPointer, data: (Range<Int>) -> Void) throws(Failure) -> Int {
        var index = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            switch state {
            case .size(let digits, let value):
                if let digit = Self.hexValue(byte) {
                    // 15 hex digits keep the size below 2^60: no overflow.
                    guard digits < 15 else { throw .size }
                    state = .size(digits: digits + 1, value: value << 4 | digit)
                } else {
                    guard digits > 0 else { throw .size }
                    switch byte {
                    case 0x0d: state = .sizeLF(value: value)
                    case 0x3b, 0x20, 0x09: state = .sizeExtension(value: value)
                    default: throw .size
                    }
                }
                index += 1
            case .sizeExtension(let value):
                if byte == 0x0d { state = .sizeLF(value: value) }
                else if !ASCII.isFieldByte(byte) { throw .extensionByte }
                index += 1
            case .sizeLF(let value):
                guard byte == 0x0a else { throw .lineEnding }
                state = value == 0 ? .trailerStart : .data(remaining: value)
                index += 1
            case .data(let remaining):
                let take = min(remaining, count - index)
                data(index..<(index + take))
                index += take
                state = remaining == take ? .dataCR : .data(remaining: remaining - take)
            case .dataCR:
                guard byte == 0x0d else { throw .lineEnding }
                state = .dataLF
                index += 1
            case .dataLF:
                guard byte == 0x0a else { throw .lineEnding }
                state = .size(digits: 0, value: 0)
                index += 1
            case .trailerStart:
                if byte == 0x0d { state = .finalLF }
                else if ASCII.isTchar(byte) { state = .trailerLine }
                else { throw .trailer }
                try countTrailer()
                index += 1
            case .trailerLine:
                if byte == 0x0d { state = .trailerLF }
                else if !ASCII.isFieldByte(byte) { throw .trailer }
                try countTrailer()
                index += 1
            case .trailerLF:
                guard byte == 0x0a else { throw .lineEnding }
                state = .trailerStart
                index += 1
            case .finalLF:
                guard byte == 0x0a else { throw .lineEnding }
                state = .done
                return index + 1
            case .done:
                return index
            }
        }
        return index
    }

    private mutating func countTrailer() throws(Failure) {
        trailerBytes += 1
        if trailerBytes > maxTrailerBytes { throw .tooLarge }
    }

    @inline(__always) static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case 0x30...0x39: return Int(byte - 0x30)
        case 0x41...0x46: return Int(byte - 0x41 + 10)
        case 0x61...0x66: return Int(byte - 0x61 + 10)
        default: return nil
        }
    }
}

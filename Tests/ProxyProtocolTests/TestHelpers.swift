@testable import ProxyProtocol

func ascii(_ text: String) -> [UInt8] { Array(text.utf8) }

/// `\r\n\r\n\0\r\nQUIT\n`, spelled out byte by byte.
let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

/// `text` as bytes, NUL-padded to `size` (a `sun_path` field).
func padded(_ text: [UInt8], to size: Int) -> [UInt8] {
    text + [UInt8](repeating: 0, count: size - text.count)
}

extension ProxyParseResult {
    var header: ProxyHeader? {
        if case .header(let h) = self { return h }
        return nil
    }

    var isInvalid: Bool {
        if case .invalid(let reason) = self { return !reason.isEmpty }
        return false
    }
}

/// Parses every proper prefix of `bytes` (without copying), collecting the results.
func prefixResults(_ bytes: [UInt8], maximumLength: Int = ProxyProtocolParser.defaultMaximumLength)
    -> [(Int, ProxyParseResult)]
{
    (0..<bytes.count).map { k in (k, ProxyProtocolParser.parse(bytes[0..<k], maximumLength: maximumLength)) }
}

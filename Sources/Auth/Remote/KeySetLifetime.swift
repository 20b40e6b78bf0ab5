/// How long the proxy keeps a fetched JWK set before fetching it again: the issuer's
/// `Cache-Control: max-age` (RFC 9111 §5.2.2.1), held within bounds — at least a minute, so an
/// issuer answering `no-cache` or `max-age=0` cannot make every request a fetch, and at most a
/// day, so a rotated-out key does not stay trusted for longer than that.
public enum KeySetLifetime {
    public static let minimum: Double = 60
    public static let maximum: Double = 86_400
    /// Without a usable `max-age`.
    public static let standard: Double = 600

    /// The lifetime for the `Cache-Control` field values of a JWKS response (all of them, in order).
    /// `no-store`/`no-cache` give the minimum; several `max-age`s count as the smallest (RFC 9111
    /// §4.2.1 leaves conflicting directives to the cache; the short one is the safe reading).
    public static func seconds(cacheControl values: [String]) -> Double {
        var maxAge: Double?
        var noCache = false
        for value in values {
            for directive in directives(value) {
                switch directive.name {
                case "no-store", "no-cache":
                    noCache = true
                case "max-age":
                    guard let argument = directive.argument, let seconds = deltaSeconds(argument) else { noCache = true; continue }
                    maxAge = min(maxAge ?? seconds, seconds)
                default:
                    continue
                }
            }
        }
        if noCache { return minimum }
        guard let maxAge else { return standard }
        return min(max(maxAge, minimum), maximum)
    }

    /// `name[=token|quoted-string]` items of one field value, names lower-cased; an argument that
    /// is not well-formed is nil (a `max-age` without a usable number then counts as `no-cache`).
    static func directives(_ value: String) -> [(name: String, argument: String?)] {
        var out: [(name: String, argument: String?)] = []
        var bytes = Array(value.utf8)[...]
        while !bytes.isEmpty {
            bytes = bytes.drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x2c }
            let name = bytes.prefix { $0 != 0x3d && $0 != 0x2c && $0 != 0x20 && $0 != 0x09 }
            bytes = bytes.dropFirst(name.count)
            // RFC 9111 §5.2: no whitespace around `=`; `max-age = 5` is not a max-age.
            var argument: String?
            if bytes.first == 0x3d {
                bytes = bytes.dropFirst()
                if bytes.first == 0x22 {
                    // quoted-string: up to the closing quote, `\` escapes the next byte.
                    bytes = bytes.dropFirst()
                    var text: [UInt8] = []
                    var closed = false
                    while let byte = bytes.first {
                        bytes = bytes.dropFirst()
                        if byte == 0x22 { closed = true; break }
                        if byte == 0x5c, let next = bytes.first { text.append(next); bytes = bytes.dropFirst(); continue }
                        text.append(byte)
                    }
                    argument = closed ? String(decoding: text, as: UTF8.self) : nil
                } else {
                    let token = bytes.prefix { $0 != 0x2c && $0 != 0x20 && $0 != 0x09 }
                    bytes = bytes.dropFirst(token.count)
                    argument = String(decoding: token, as: UTF8.self)
                }
            }
            if !name.isEmpty { out.append((String(decoding: name, as: UTF8.self).lowercased(), argument)) }
            // Skip anything up to the next comma (junk after an argument).
            bytes = bytes.drop { $0 != 0x2c }
        }
        return out
    }

    /// delta-seconds (RFC 9111 §1.2.2): digits only; values too large to matter saturate.
    static func deltaSeconds(_ text: String) -> Double? {
        guard !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        var value: Double = 0
        for byte in text.utf8 {
            value = min(value * 10 + Double(byte - 0x30), 2_147_483_648)
        }
        return value
    }
}

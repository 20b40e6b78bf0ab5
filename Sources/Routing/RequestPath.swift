/// The path of a request as the matcher sees it: RFC 3986 §6.2.2 normalization, so that encoded
/// or dotted spellings of a path cannot dodge the route that guards it.
///
/// - percent-encoded unreserved characters are decoded (`/%61dmin` → `/admin`), other escapes keep
///   their encoding with upper-case hex (`%2f` → `%2F`: an encoded slash is not a separator);
/// - dot segments are removed (`/admin/../public` → `/public`), never above the root;
/// - a segment that is `.` or `..` followed by `;parameters` is refused: some servers drop the
///   parameters and would then resolve it (`/public/..;/admin`), which the matcher cannot see.
public enum RequestPath {
    public enum Problem: Error, Equatable, Sendable {
        /// Not an origin-form path (`*`, an absolute URI, empty).
        case notOriginForm
        /// A `%` not followed by two hex digits.
        case badPercentEncoding
        /// Control characters, spaces or a NUL (decoded or not).
        case forbiddenCharacter
        /// `..;x`-style segments.
        case ambiguousDotSegment
    }

    /// Splits a request target into its normalized path and its raw query (without `?`).
    public static func normalize(target: String) -> Result<(path: String, query: String?), Problem> {
        var target = target
        return target.withUTF8 { bytes in
            do throws(Problem) { return .success(try normalized(target: UnsafeRawBufferPointer(bytes))) } catch { return .failure(error) }
        }
    }

    /// `normalize(target:)` straight from the request line's bytes, with a typed throw instead of
    /// a `Result` (a `Result` of this tuple is destroyed through the runtime's generic value
    /// witness): what the proxy runs for every request. Fast path, taken by most requests: an
    /// origin-form path whose part before any `?` holds no `%`, `;`, `#`, dot segment, forbidden
    /// or non-ASCII byte is its own normalized form, and the query after it is kept as it is —
    /// one scan, and a String made only for each part (the general path copies the bytes into
    /// arrays first).
    public static func normalized(target raw: UnsafeRawBufferPointer) throws(Problem) -> (path: String, query: String?) {
        let count = raw.count
        guard count > 0, raw[0] == UInt8(ascii: "/") else { return try normalizeInGeneral(target: String(decoding: raw, as: UTF8.self)).get() }
        var previous: UInt8 = 0
        var end = count
        for index in 0..<count {
            let byte = raw[index]
            if byte == UInt8(ascii: "?") {
                end = index
                break
            }
            if byte <= 0x20 || byte >= 0x7f || byte == UInt8(ascii: "%") || byte == UInt8(ascii: "#") || byte == UInt8(ascii: ";")
                || (byte == UInt8(ascii: ".") && previous == UInt8(ascii: "/")) {
                return try normalizeInGeneral(target: String(decoding: raw, as: UTF8.self)).get()
            }
            previous = byte
        }
        let path = String(unsafeUninitializedCapacity: end) { out in
            _ = out.initialize(from: UnsafeRawBufferPointer(rebasing: raw[..<end]))
            return end
        }
        let query = end < count ? String(decoding: UnsafeRawBufferPointer(rebasing: raw[(end + 1)...]), as: UTF8.self) : nil
        return (path, query)
    }

    /// `normalize(target:)` without the fast path (also what the tests compare the fast path to).
    static func normalizeInGeneral(target: String) -> Result<(path: String, query: String?), Problem> {
        var bytes = Array(target.utf8)
        var query: String?
        if let mark = bytes.firstIndex(of: UInt8(ascii: "?")) {
            query = String(decoding: bytes[(mark + 1)...], as: UTF8.self)
            bytes = Array(bytes[..<mark])
        }
        if let hash = bytes.firstIndex(of: UInt8(ascii: "#")) { bytes = Array(bytes[..<hash]) }
        guard bytes.first == UInt8(ascii: "/") else { return .failure(.notOriginForm) }
        switch normalize(pathBytes: bytes) {
        case .success(let path): return .success((path, query))
        case .failure(let problem): return .failure(problem)
        }
    }

    static func isUnreserved(_ byte: UInt8) -> Bool {
        (0x41...0x5a).contains(byte) || (0x61...0x7a).contains(byte) || (0x30...0x39).contains(byte)
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "~")
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }

    static let hexDigits = Array("0123456789ABCDEF".utf8)

    public static func normalize(pathBytes bytes: [UInt8]) -> Result<String, Problem> {
        // Fast path: nothing to decode and no dot segment — the common case costs one scan.
        var plain = true
        var previous: UInt8 = 0
        for byte in bytes {
            if byte <= 0x20 || byte == 0x7f { return .failure(.forbiddenCharacter) }
            if byte == UInt8(ascii: "%") || (byte == UInt8(ascii: ".") && previous == UInt8(ascii: "/")) || byte == UInt8(ascii: ";") {
                plain = false
                break
            }
            previous = byte
        }
        if plain { return .success(String(decoding: bytes, as: UTF8.self)) }
        return normalizeSlowly(bytes)
    }

    static func normalizeSlowly(_ bytes: [UInt8]) -> Result<String, Problem> {
        // 1. Percent-encoding: decode unreserved, canonicalize the rest.
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte <= 0x20 || byte == 0x7f { return .failure(.forbiddenCharacter) }
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.count, let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) else {
                    return .failure(.badPercentEncoding)
                }
                let value = high << 4 | low
                if value <= 0x20 || value == 0x7f { return .failure(.forbiddenCharacter) }
                if isUnreserved(value) {
                    decoded.append(value)
                } else {
                    decoded += [UInt8(ascii: "%"), hexDigits[Int(high)], hexDigits[Int(low)]]
                }
                index += 3
                continue
            }
            decoded.append(byte)
            index += 1
        }
        // 2. Dot segments (RFC 3986 §5.2.4), on whole segments.
        var output: [ArraySlice<UInt8>] = []
        let segments = decoded.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst()
        var endsInDirectory = false
        for segment in segments {
            endsInDirectory = false
            let bare = segment.split(separator: UInt8(ascii: ";"), maxSplits: 1, omittingEmptySubsequences: false).first ?? segment[...]
            let isDot = bare.elementsEqual([UInt8(ascii: ".")])
            let isDotDot = bare.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")])
            if (isDot || isDotDot), bare.count != segment.count { return .failure(.ambiguousDotSegment) }
            if isDot { endsInDirectory = true; continue }
            if isDotDot {
                if !output.isEmpty { output.removeLast() }
                endsInDirectory = true
                continue
            }
            output.append(segment)
        }
        var path = "/" + output.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/")
        if endsInDirectory && !path.hasSuffix("/") { path += "/" }
        return .success(path)
    }
}

/// The host a request names, as the matcher compares it: lower case, without a port or a
/// trailing dot (`Shop.Example.com.:8080` → `shop.example.com`).
public enum RequestHost {
    /// A Host header value the proxy will route: printable ASCII only (internationalized names
    /// arrive as punycode), so no Unicode case or canonical folding can make two names meet.
    public static func isValid(_ raw: String) -> Bool {
        !raw.isEmpty && raw.utf8.count <= 255 && raw.utf8.allSatisfy(isHostByte)
    }

    @inline(__always) static func isHostByte(_ byte: UInt8) -> Bool {
        byte > 0x20 && byte < 0x7f && byte != UInt8(ascii: "/") && byte != UInt8(ascii: "@")
    }

    /// The host to route by, or nil when the bytes are not a valid host (`isValid`), straight from
    /// the Host header's bytes in one pass: what the proxy runs for every request (no String is
    /// made for a host it refuses, and the routed one is made once, already normalized). `[v6]` or
    /// the name before the last `:`, lower-cased (ASCII), without one trailing dot (unless the dot
    /// is all there is).
    public static func parse(_ raw: UnsafeRawBufferPointer) -> String? {
        let count = raw.count
        guard count > 0, count <= 255 else { return nil }
        var lastColon = -1, firstClose = -1, hasUpper = false
        for index in 0..<count {
            let byte = raw[index]
            guard isHostByte(byte) else { return nil }
            if byte == UInt8(ascii: ":") {
                lastColon = index
            } else if byte == UInt8(ascii: "]") {
                if firstClose < 0 { firstClose = index }
            } else if byte &- 0x41 < 26 {
                hasUpper = true
            }
        }
        var end = count
        // A host with no port, upper case or trailing dot is taken as it is.
        if !hasUpper && lastColon < 0 && raw[count - 1] != UInt8(ascii: ".") {
            end = count
        } else if raw[0] == UInt8(ascii: "[") {
            if firstClose >= 0 { end = firstClose + 1 }
        } else if lastColon >= 0 {
            end = lastColon
        }
        if end > 1, raw[end - 1] == UInt8(ascii: ".") { end -= 1 }
        return String(unsafeUninitializedCapacity: end) { out in
            for index in 0..<end {
                let byte = raw[index]
                out[index] = hasUpper && byte &- 0x41 < 26 ? byte | 0x20 : byte
            }
            return end
        }
    }

    /// `parse` for a host held as a String (tests, tools); a host that is not valid comes back as it is.
    public static func normalize(_ raw: String) -> String {
        var raw = raw
        return raw.withUTF8 { parse(UnsafeRawBufferPointer($0)) } ?? raw
    }
}

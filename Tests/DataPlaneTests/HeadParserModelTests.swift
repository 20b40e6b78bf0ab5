import HTTPWire
import Testing

/// The word-at-a-time scans of `HeadParser` held to a byte-by-byte model of the same grammar
/// (RFC 9112 header fields as the parser accepts them), on random heads built from the bytes
/// that matter, and its word tests held to their byte definitions.
@Suite struct HeadParserModelTests {
    /// One header section parsed a byte at a time: the verdict, and the fields as
    /// (line, name, value) when it parses.
    static func model(_ bytes: [UInt8], limits: HeadLimits) -> (verdict: String, fields: [[Range<Int>]]) {
        let outcome = scan(bytes, limits: limits)
        // Input that needs more once past the limit never fits.
        return outcome.verdict == "more" && bytes.count > limits.maxBytes ? ("too large", []) : outcome
    }

    static func scan(_ bytes: [UInt8], limits: HeadLimits) -> (verdict: String, fields: [[Range<Int>]]) {
        func isTchar(_ byte: UInt8) -> Bool { Array("!#$%&'*+-.^_`|~".utf8).contains(byte) || (0x30...0x39).contains(byte) || (0x41...0x5a).contains(byte) || (0x61...0x7a).contains(byte) }
        func isFieldByte(_ byte: UInt8) -> Bool { byte == 0x09 || (byte >= 0x20 && byte != 0x7f) }
        let count = bytes.count
        var fields: [[Range<Int>]] = []
        var index = 0
        while true {
            if index > limits.maxBytes { return ("too large", []) }
            guard index < count else { return ("more", []) }
            let lineStart = index
            if bytes[index] == 0x0d {
                guard index + 1 < count else { return ("more", []) }
                guard bytes[index + 1] == 0x0a else { return (Malformation.lineEnding.rawValue, []) }
                return index + 2 > limits.maxBytes ? ("too large", []) : ("end \(index + 2)", fields)
            }
            if bytes[index] == 0x20 || bytes[index] == 0x09 { return (Malformation.folding.rawValue, []) }
            while index < count, isTchar(bytes[index]) { index += 1 }
            guard index < count else { return ("more", []) }
            guard index > lineStart, bytes[index] == 0x3a else {
                return ((bytes[index] == 0x0a ? Malformation.lineEnding : .headerName).rawValue, [])
            }
            let name = lineStart..<index
            index += 1
            while index < count, bytes[index] == 0x20 || bytes[index] == 0x09 { index += 1 }
            let valueStart = index
            while index < count, bytes[index] != 0x0d {
                guard isFieldByte(bytes[index]) else { return ((bytes[index] == 0x0a ? Malformation.lineEnding : .headerValue).rawValue, []) }
                index += 1
            }
            guard index + 1 < count else { return (index > limits.maxBytes ? "too large" : "more", []) }
            guard bytes[index + 1] == 0x0a else { return (Malformation.lineEnding.rawValue, []) }
            var valueEnd = index
            while valueEnd > valueStart, bytes[valueEnd - 1] == 0x20 || bytes[valueEnd - 1] == 0x09 { valueEnd -= 1 }
            index += 2
            if fields.count >= limits.maxFields { return ("too large", []) }
            fields.append([lineStart..<index, name, valueStart..<valueEnd])
        }
    }

    /// The parser's answer in the model's terms, for the header section after a fixed status line.
    static func parsed(_ section: [UInt8], limits: HeadLimits) -> (verdict: String, fields: [[Range<Int>]]) {
        let statusLine = Array("HTTP/1.1 200 OK\r\n".utf8)
        var fields: [HeaderField] = []
        let outcome = (statusLine + section).withUnsafeBytes { HeadParser.parseResponse($0, limits: limits, fields: &fields) }
        let shift = statusLine.count
        func back(_ range: Range<Int>) -> Range<Int> { (range.lowerBound - shift)..<(range.upperBound - shift) }
        switch outcome {
        case .needMore: return ("more", [])
        case .invalid(.tooLarge): return ("too large", [])
        case .invalid(.malformed(let problem)): return (problem.rawValue, [])
        case .head(let head): return ("end \(head.length - shift)", head.fields.map { [back($0.line), back($0.name), back($0.value)] })
        }
    }

    /// Random header sections from pieces that steer both scans onto every path: long and short
    /// names of letters, digits and `-` with the rarer tchars and bad bytes mixed in, values of
    /// every length with spaces, tabs, obs-text, controls, DEL and stray CR or LF.
    @Test func randomHeadsParseAsTheByteModelSays() {
        var generator = SystemRandomNumberGenerator()
        let nameBytes = Array("abcXYZ019-".utf8) + Array("!#_.~^`|".utf8) + [0x20, 0x40, 0x5b, 0x7b, 0x2f, 0x80, 0x0d, 0x0a, 0x09]
        let valueBytes = Array("ab Z09-/;=,".utf8) + [0x09, 0x20, 0x7e, 0x7f, 0x80, 0xff, 0x00, 0x1f, 0x0d, 0x0a]
        func pick(_ pool: [UInt8], common: [UInt8], rare: Int) -> UInt8 {
            Int.random(in: 0..<100, using: &generator) < rare ? pool.randomElement(using: &generator)! : common.randomElement(using: &generator)!
        }
        var verdicts: [String: Int] = [:]
        for _ in 0..<20_000 {
            var section: [UInt8] = []
            for _ in 0..<Int.random(in: 0...4, using: &generator) {
                let nameLength = Int.random(in: 0...20, using: &generator)
                section += (0..<nameLength).map { _ in pick(nameBytes, common: Array("abcdefgHIJK-019".utf8), rare: 4) }
                section += [0x3a] + Array(repeating: 0x20, count: Int.random(in: 0...2, using: &generator))
                let valueLength = Int.random(in: 0...30, using: &generator)
                section += (0..<valueLength).map { _ in pick(valueBytes, common: Array("abc xyz/0123=;".utf8), rare: 3) }
                section += Array("\r\n".utf8)
            }
            section += Array("\r\n".utf8)
            // Whole, and cut short at a random point (the scans near the end of their input).
            let cut = Int.random(in: 0...section.count, using: &generator)
            for input in [section, Array(section[..<cut])] {
                for limits in [HeadLimits(maxBytes: 4096, maxFields: 64), HeadLimits(maxBytes: 40, maxFields: 2)] {
                    let expected = Self.model(input, limits: limits)
                    let actual = Self.parsed(input, limits: HeadLimits(maxBytes: limits.maxBytes + 17, maxFields: limits.maxFields))
                    // The status line's 17 bytes count against the parser's limit, not the model's.
                    #expect(actual.verdict == expected.verdict && actual.fields == expected.fields,
                            "\(input): parser \(actual), model \(expected)")
                    verdicts[expected.verdict.hasPrefix("end") ? "end" : expected.verdict, default: 0] += 1
                }
            }
        }
        // Every outcome was reached, so no path of the scans went unchecked.
        for verdict in ["end", "more", "too large", "bad header name", "bad header value", "line not ended by CRLF"] {
            #expect(verdicts[verdict, default: 0] > 50, "\(verdict): \(verdicts)")
        }
    }

    @Test func nameWordTestFindsTheFirstOtherByte() {
        let interesting = Array("aAzZ09-:_!~`^|@[{/.".utf8) + [0x2c, 0x2e, 0x2f, 0x3a, 0x40, 0x5b, 0x60, 0x7b, 0x7f, 0x80, 0xad, 0xc1, 0xff, 0x00, 0x0d, 0x20]
        let common = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-".utf8)
        func expected(_ bytes: [UInt8]) -> Int? { bytes.firstIndex { !common.contains($0) } }
        var generator = SystemRandomNumberGenerator()
        var nameWords = 0
        for _ in 0..<50_000 {
            let bytes = (0..<8).map { _ in Int.random(in: 0..<8, using: &generator) == 0 ? interesting.randomElement(using: &generator)! : common.randomElement(using: &generator)! }
            let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            #expect(ASCII.firstNonNameByte(word) == expected(bytes), "\(bytes)")
            if expected(bytes) == nil { nameWords += 1 }
        }
        #expect(nameWords > 100 && nameWords < 50_000, "both outcomes exercised")
        // Every byte value in every position of an otherwise valid word, and behind another
        // byte of every value (a carry or borrow from it must not move the answer).
        for byte in 0...255 {
            for position in 0..<8 {
                var bytes = Array("Content-".utf8)
                bytes[position] = UInt8(byte)
                #expect(ASCII.firstNonNameByte(bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }) == expected(bytes), "byte \(byte) at \(position)")
            }
            for other in [0x00, 0x2c, 0x2f, 0x3a, 0x7f, 0x80, 0xff] {
                let bytes = Array("Hos".utf8) + [UInt8(other), UInt8(byte)] + Array("abc".utf8)
                #expect(ASCII.firstNonNameByte(bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }) == expected(bytes), "\(bytes)")
            }
        }
    }

    @Test func firstNonPrintableIsTheFirstSuchByte() {
        let interesting: [UInt8] = [0x0d, 0x0a, 0x09, 0x20, 0x7f, 0x80, 0xff, 0x00, 0x1f, 0x21, 0x61, 0x7e, 0x0c, 0x0e]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50_000 {
            let bytes = (0..<8).map { _ in Int.random(in: 0..<4, using: &generator) == 0 ? interesting.randomElement(using: &generator)! : UInt8.random(in: 0x20...0x7e, using: &generator) }
            let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            #expect(ASCII.firstNonPrintable(word) == bytes.firstIndex { $0 < 0x20 || $0 > 0x7e }, "\(bytes)")
        }
    }

    /// The word compare of header names against `equalsIgnoringCase`, on the names the proxy
    /// acts on in every case, and on tchar names one byte away from them.
    @Test func nameCompareAgreesWithCaseInsensitiveEquality() {
        let names: [StaticString] = ["te", "host", "upgrade", "trailer", "forwarded", "x-real-ip", "connection", "keep-alive", "x-client-ip",
                                     "x-request-id", "content-length", "true-client-ip", "proxy-connection", "transfer-encoding",
                                     "proxy-authenticate", "proxy-authorization", "x-original-forwarded-for", "x-forwarded-", "x-auth-"]
        let tchars = Array("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
        var generator = SystemRandomNumberGenerator()
        for literal in names {
            let base = Array(UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
            for _ in 0..<300 {
                var candidate = base.map { Bool.random(using: &generator) ? ($0 >= 0x61 && $0 <= 0x7a ? $0 - 0x20 : $0) : $0 }
                if Bool.random(using: &generator) { candidate[Int.random(in: 0..<candidate.count, using: &generator)] = tchars.randomElement(using: &generator)! }
                let expected = candidate.withUnsafeBytes { ASCII.equalsIgnoringCase($0, literal) }
                #expect(candidate.withUnsafeBytes { ASCII.isName($0, literal) } == expected, "\(String(decoding: candidate, as: UTF8.self)) vs \(literal)")
            }
        }
    }
}

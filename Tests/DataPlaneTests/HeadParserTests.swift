import HTTPWire
import Testing

/// Case tables for the byte-level parsers the proxy forwards with (HTTPWire).
@Suite struct HeadParserTests {
    static func parseRequest(_ text: String) -> ParseOutcome<RequestHead> {
        var fields: [HeaderField] = []
        return Array(text.utf8).withUnsafeBytes { HeadParser.parseRequest($0, limits: HeadLimits(maxBytes: 1024, maxFields: 20), fields: &fields) }
    }

    static func verdict(_ outcome: ParseOutcome<RequestHead>) -> String {
        switch outcome {
        case .needMore: return "more"
        case .invalid(.tooLarge): return "too large"
        case .invalid(.malformed(let problem)): return problem.rawValue
        case .head(let head):
            switch head.framing {
            case .none: return "ok"
            case .length(let length): return "length \(length)"
            case .chunked: return "chunked"
            case .untilClose: return "until close"
            }
        }
    }

    @Test(arguments: [
        ("plain GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "ok"),
        ("HTTP/1.0", "GET / HTTP/1.0\r\n\r\n", "ok"),
        ("empty lines before the request line", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "ok"),
        ("a lone CR so far", "\r", "more"),
        ("a length", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", "length 5"),
        ("a zero length", "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "ok"),
        ("the same length twice", "POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", "length 5"),
        ("chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: Chunked \r\n\r\n", "chunked"),
        ("a prefix", "GET / HTTP/1.1\r\nHost: a\r\n", "more"),
        ("a prefix inside the version", "GET / HTTP/1.", "more"),
        ("two lengths", "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 47\r\n\r\n", "bad or conflicting Content-Length"),
        ("a signed length", "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", "bad or conflicting Content-Length"),
        ("a length list", "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", "bad or conflicting Content-Length"),
        ("a huge length", "POST / HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n", "bad or conflicting Content-Length"),
        ("length and encoding", "POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", "both Content-Length and Transfer-Encoding"),
        ("encoding and length", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n", "both Content-Length and Transfer-Encoding"),
        ("gzip, chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "unsupported transfer-encoding"),
        ("chunked twice", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", "unsupported transfer-encoding"),
        ("chunked in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "unsupported transfer-encoding"),
        ("a space before the colon", "POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n", "bad header name"),
        ("an empty name", "GET / HTTP/1.1\r\n: x\r\n\r\n", "bad header name"),
        ("folding", "GET / HTTP/1.1\r\nX-A: 1\r\n 2\r\n\r\n", "obsolete line folding"),
        ("a bare LF after a header", "GET / HTTP/1.1\r\nHost: a\n\r\n", "line not ended by CRLF"),
        ("a bare LF after the request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", "line not ended by CRLF"),
        ("a bare CR in a value", "GET / HTTP/1.1\r\nX-A: 1\r2\r\n\r\n", "line not ended by CRLF"),
        ("a NUL in a value", "GET / HTTP/1.1\r\nX-A: 1\u{0}2\r\n\r\n", "bad header value"),
        ("DEL in a value", "GET / HTTP/1.1\r\nX-A: 1\u{7f}\r\n\r\n", "bad header value"),
        ("a space in the method", "G T / HTTP/1.1\r\n\r\n", "bad request line"),
        ("two spaces", "GET  / HTTP/1.1\r\n\r\n", "bad request line"),
        ("a tab in the target", "GET /\ta HTTP/1.1\r\n\r\n", "bad request line"),
        ("non-ASCII in the target", "GET /é HTTP/1.1\r\n\r\n", "bad request line"),
        ("HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", "unsupported HTTP version"),
        ("HTTP/1.2", "GET / HTTP/1.2\r\n\r\n", "unsupported HTTP version"),
        ("lower-case http", "GET / http/1.1\r\n\r\n", "bad request line"),
        ("too large", "GET / HTTP/1.1\r\nX-A: " + String(repeating: "a", count: 2000) + "\r\n\r\n", "too large"),
        ("a too large prefix", "GET / HTTP/1.1\r\nX-A: " + String(repeating: "a", count: 2000), "too large"),
        ("too many fields", "GET / HTTP/1.1\r\n" + String(repeating: "X: 1\r\n", count: 21) + "\r\n", "too large"),
    ])
    func requestHeads(_ name: String, _ text: String, _ expected: String) {
        #expect(Self.verdict(Self.parseRequest(text)) == expected, "\(name)")
    }

    /// `ASCII.isTchar` is two bit masks; this holds it to RFC 9110 §5.6.2 spelled out, for every byte.
    @Test func tcharIsExactlyTheRFCSet() {
        let rfc = Set("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
        #expect(rfc.count == 77)
        let wrong = (0...255).map(UInt8.init).filter { ASCII.isTchar($0) != rfc.contains($0) }
        #expect(wrong.isEmpty, "bytes the masks get wrong: \(wrong)")
        // A name byte outside the set ends the name where the parser expects a colon.
        #expect(Self.verdict(Self.parseRequest("GET / HTTP/1.1\r\nHo\u{7f}st: a\r\n\r\n")) == Malformation.headerName.rawValue)
    }

    /// The word test the value scan relies on, against its byte-by-byte definition, on random
    /// words biased towards the bytes that matter (CR, LF, tab, space, DEL, obs-text, printable).
    @Test func wordTestAgreesWithBytes() {
        let interesting: [UInt8] = [0x0d, 0x0a, 0x09, 0x20, 0x7f, 0x80, 0xff, 0x00, 0x1f, 0x21, 0x61, 0x7e, 0x0c, 0x0e]
        var generator = SystemRandomNumberGenerator()
        var printableWords = 0
        for _ in 0..<50_000 {
            let bytes = (0..<8).map { _ in Bool.random(using: &generator) ? interesting.randomElement(using: &generator)! : UInt8.random(in: 0x20...0x7e, using: &generator) }
            let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            let printable = bytes.allSatisfy { $0 >= 0x20 && $0 <= 0x7e }
            #expect(ASCII.hasNonPrintable(word) == !printable, "\(bytes)")
            if printable { printableWords += 1 }
        }
        #expect(printableWords > 100 && printableWords < 50_000, "both outcomes exercised")
    }

    /// Common methods come back as literals, anything else as sent (methods are case-sensitive).
    @Test(arguments: ["GET", "PUT", "POST", "HEAD", "PATCH", "DELETE", "OPTIONS", "get", "Head", "GETS", "PROPFIND", "BREW", "X", "CONNECT", "OPTIONs"])
    func methodNames(_ method: String) {
        let name = Array(method.utf8).withUnsafeBytes { HeadParser.methodName($0) }
        #expect(name == method)
    }

    @Test func requestFieldsHostAndConnection() throws {
        let text = "GET /x?y HTTP/1.1\r\nHost:  shop.test \r\nConnection: close, X-Hop\r\nUpgrade: ws\r\nX-Auth-User: a\r\n\r\nrest"
        guard case .head(let head) = Self.parseRequest(text) else { Issue.record("not parsed"); return }
        let bytes = Array(text.utf8)
        func string(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        #expect(head.length == text.utf8.count - 4)
        #expect(string(head.method) == "GET" && string(head.target) == "/x?y" && head.minorVersion == 1)
        #expect(head.host.map(string) == "shop.test" && head.hostCount == 1)
        #expect(head.connection.close && !head.keepAlive && !head.isUpgrade && head.hasUpgradeHeader)
        #expect(head.connection.named.map(string) == ["X-Hop"])
        #expect(head.fields.map(\.kind) == [.host, .connection, .upgrade, .forged])
        #expect(head.fields.map { string($0.line) } == ["Host:  shop.test \r\n", "Connection: close, X-Hop\r\n", "Upgrade: ws\r\n", "X-Auth-User: a\r\n"])

        guard case .head(let twoHosts) = Self.parseRequest("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") else { Issue.record("not parsed"); return }
        #expect(twoHosts.host == nil && twoHosts.hostCount == 2)
        guard case .head(let old) = Self.parseRequest("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") else { Issue.record("not parsed"); return }
        #expect(old.keepAlive)
        guard case .head(let upgrade) = Self.parseRequest("GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n") else { Issue.record("not parsed"); return }
        #expect(upgrade.isUpgrade && upgrade.keepAlive)
    }

    /// Connection tokens are compared a word at a time with case folded by one bit: each byte a
    /// field value may hold, at each position of each token, alone and in a list, must give what
    /// an ASCII case-insensitive compare of the bytes gives.
    @Test func connectionTokensMatchTheirByteDefinition() throws {
        func lowered(_ bytes: [UInt8]) -> [UInt8] { bytes.map { $0 >= 0x41 && $0 <= 0x5a ? $0 | 0x20 : $0 } }
        let start = Array("GET / HTTP/1.1\r\nHost: a\r\nConnection: ".utf8), end = Array("\r\n\r\n".utf8)
        var checked = 0
        for token in ["close", "keep-alive", "upgrade"] {
            for position in 0..<token.utf8.count {
                for value in [0x09] + Array(0x21...0x7e) + Array(0x80...0xff) where value != 0x2c {  // DEL is refused in values
                    var bytes = Array(token.utf8)
                    bytes[position] = UInt8(value)
                    if position == 0 || position == bytes.count - 1, value == 0x09 { continue }  // trimmed as whitespace
                    let folded = lowered(bytes)
                    for (prefix, suffix) in [([UInt8](), [UInt8]()), (Array("x-a, ".utf8), []), ([], Array(" ,x-a".utf8))] {
                        var fields: [HeaderField] = []
                        let outcome = (start + prefix + bytes + suffix + end).withUnsafeBytes {
                            HeadParser.parseRequest($0, limits: HeadLimits(maxBytes: 1024, maxFields: 20), fields: &fields)
                        }
                        guard case .head(let head) = outcome else { Issue.record("not parsed: \(bytes)"); continue }
                        let tokens = head.connection
                        #expect(tokens.close == (folded == Array("close".utf8)), "\(bytes)")
                        #expect(tokens.keepAlive == (folded == Array("keep-alive".utf8)), "\(bytes)")
                        #expect(tokens.upgrade == (folded == Array("upgrade".utf8)), "\(bytes)")
                        let named = [folded == Array("close".utf8) || folded == Array("keep-alive".utf8) || folded == Array("upgrade".utf8) ? 0 : 1,
                                     prefix.isEmpty && suffix.isEmpty ? 0 : 1].reduce(0, +)
                        #expect(tokens.named.count == named, "\(bytes)")
                        checked += 1
                    }
                }
            }
        }
        #expect(checked > 14_000, "every byte at every position, three ways")
    }

    /// Long values are scanned eight bytes at a time: every byte the word check lets through must
    /// be one the byte loop accepts, at every offset, and the value range must stay exact.
    @Test(arguments: [UInt8(0x00), 0x09, 0x0a, 0x0d, 0x1f, 0x20, 0x21, 0x7e, 0x7f, 0x80, 0xff])
    func longValuesWithAnyByteAtAnyOffset(_ byte: UInt8) {
        // After "Bearer " the scan must return to whole words once the space is behind it.
        for prefix in ["", "Bearer "] {
          for length in [7, 8, 9, 16, 17, 40] {
            for position in prefix.utf8.count..<length {
                var value = Array(repeating: UInt8(ascii: "a"), count: length)
                value.replaceSubrange(0..<prefix.utf8.count, with: prefix.utf8)
                value[position] = byte
                let text = Array("GET / HTTP/1.1\r\nX-Token: ".utf8) + value + Array("\r\n\r\n".utf8)
                var fields: [HeaderField] = []
                let outcome = text.withUnsafeBytes { HeadParser.parseRequest($0, limits: HeadLimits(maxBytes: 1024, maxFields: 20), fields: &fields) }
                let expected: String
                switch byte {
                case 0x0a, 0x0d: expected = "line not ended by CRLF"
                case 0x09, 0x20, 0x21...0x7e, 0x80...0xff: expected = "ok"
                default: expected = "bad header value"
                }
                let verdict = Self.verdict(outcome)
                #expect(verdict == expected, "byte \(byte) at \(position) of \(length): \(verdict)")
                guard case .head(let head) = outcome, let field = head.fields.first else { continue }
                let start = text.count - 4 - length
                // Whitespace at either end is not part of the value; inside it is.
                func isSpace(_ byte: UInt8) -> Bool { byte == 0x09 || byte == 0x20 }
                let leading = value.prefix(while: isSpace).count, trailing = value.reversed().prefix(while: isSpace).count
                #expect(field.value == (start + leading)..<(start + length - trailing), "byte \(byte) at \(position) of \(length)")
            }
          }
        }
    }

    @Test(arguments: [
        ("x-forwarded-for", HeaderKind.forged), ("X-Forwarded-Whatever", .forged), ("x-real-ip", .forged), ("Forwarded", .forged),
        ("True-Client-IP", .forged), ("X-Client-IP", .forged), ("X-Original-Forwarded-For", .forged), ("x-auth-user", .forged),
        ("Connection", .connection), ("Keep-Alive", .hopByHop), ("Proxy-Connection", .hopByHop), ("TE", .hopByHop),
        ("Trailer", .hopByHop), ("Proxy-Authorization", .hopByHop), ("Proxy-Authenticate", .hopByHop), ("Upgrade", .upgrade),
        ("HOST", .host), ("Content-Length", .contentLength), ("Transfer-Encoding", .transferEncoding), ("X-Request-ID", .requestID),
        ("X-Forwarded", .other), ("X-Auth", .other), ("Accept", .other), ("Hosts", .other), ("Content-Type", .other),
    ])
    func headerNames(_ name: String, _ kind: HeaderKind) {
        #expect(Array(name.utf8).withUnsafeBytes { HeaderKind.classify($0) } == kind, "\(name)")
    }

    @Test(arguments: [
        ("a length", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", false, "200 length 3 keep"),
        ("no reason", "HTTP/1.1 204\r\n\r\n", false, "204 none keep"),
        ("until close", "HTTP/1.0 200 OK\r\n\r\n", false, "200 untilClose close"),
        ("HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", false, "200 none keep"),
        ("a HEAD answer", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", true, "200 none keep"),
        ("not modified", "HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\n", false, "304 none keep"),
        ("interim", "HTTP/1.1 100 Continue\r\n\r\n", false, "100 none keep"),
        ("gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n", false, "200 chunked keep"),
        ("gzip only", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false, "200 untilClose keep"),
        ("close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n", false, "200 length 1 close"),
        ("two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", false, "invalid"),
        ("a bad status", "HTTP/1.1 2x0 OK\r\n\r\n", false, "invalid"),
        ("status 99", "HTTP/1.1 099 OK\r\n\r\n", false, "invalid"),
        ("a bare LF", "HTTP/1.1 200 OK\n\r\n", false, "invalid"),
        ("a prefix", "HTTP/1.1 200 O", false, "more"),
    ])
    func responseHeads(_ name: String, _ text: String, _ head: Bool, _ expected: String) {
        var fields: [HeaderField] = []
        let outcome = Array(text.utf8).withUnsafeBytes { HeadParser.parseResponse($0, fields: &fields) }
        let verdict: String
        switch outcome {
        case .needMore: verdict = "more"
        case .invalid: verdict = "invalid"
        case .head(let parsed):
            let framing: String
            switch parsed.framing(requestWasHead: head) {
            case .none: framing = "none"
            case .length(let length): framing = "length \(length)"
            case .chunked: framing = "chunked"
            case .untilClose: framing = "untilClose"
            }
            verdict = "\(parsed.status) \(framing) \(parsed.keepAlive ? "keep" : "close")"
        }
        #expect(verdict == expected, "\(name)")
    }

    /// Feeds `text` in pieces of `step` bytes; returns the data, whether the body ended, how
    /// many bytes the body took, or the failure.
    static func dechunk(_ text: String, step: Int) -> (data: String, done: Bool, consumed: Int, failure: ChunkedDecoder.Failure?) {
        let bytes = Array(text.utf8)
        var decoder = ChunkedDecoder(maxTrailerBytes: 64)
        var data: [UInt8] = []
        var offset = 0
        while offset < bytes.count, !decoder.isDone {
            let piece = Array(bytes[offset..<min(bytes.count, offset + step)])
            do {
                let used = try piece.withUnsafeBytes { raw in try decoder.consume(raw) { data += piece[$0] } }
                offset += used
                if used < piece.count { break }
            } catch {
                return (String(decoding: data, as: UTF8.self), false, offset, error as? ChunkedDecoder.Failure)
            }
        }
        return (String(decoding: data, as: UTF8.self), decoder.isDone, offset, nil)
    }

    @Test(arguments: [1, 2, 3, 7, 1000])
    func chunkedBodiesInAnyPieces(_ step: Int) {
        let body = "5\r\nhello\r\n6;name=\"v\"\r\n world\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n"
        let result = Self.dechunk(body + "GET /next", step: step)
        #expect(result.failure == nil && result.done && result.data == "hello world0123456789" && result.consumed == body.utf8.count)
    }

    @Test(arguments: [
        ("a bad size", "zz\r\nhello\r\n0\r\n\r\n", ChunkedDecoder.Failure.size),
        ("no size", "\r\n", .size),
        ("a signed size", "+5\r\nhello\r\n0\r\n\r\n", .size),
        ("an overflowing size", "1000000000000000\r\n", .size),
        ("a bare LF after the size", "5\nhello\r\n0\r\n\r\n", .size),
        ("data longer than its size", "5\r\nhello!\r\n0\r\n\r\n", .lineEnding),
        ("a control byte in an extension", "5;a\u{1}\r\nhello\r\n0\r\n\r\n", .extensionByte),
        ("a bad trailer", "0\r\n: x\r\n\r\n", .trailer),
        ("a huge trailer", "0\r\nX: " + String(repeating: "a", count: 100) + "\r\n\r\n", .tooLarge),
    ])
    func chunkedFailures(_ name: String, _ text: String, _ failure: ChunkedDecoder.Failure) {
        #expect(Self.dechunk(text, step: 1000).failure == failure, "\(name)")
        #expect(Self.dechunk(text, step: 1).failure == failure, "\(name), byte by byte")
    }
}

import Auth
import HTTPWire
import NIOCore

/// Writes the heads the proxy sends, copying the header lines it keeps byte for byte from the
/// head it received (one copy, no `String` per header).
enum HeadWriter {
    /// What the request head sent upstream must say besides the client's kept lines.
    struct RequestRewrite {
        var method: String
        var uri: String
        /// `X-Forwarded-For`, `X-Real-IP` and `X-Forwarded-Proto` lines (`forwardingLines`): the
        /// same for every request of a connection, so a connection renders them once.
        var forwarding: [UInt8]
        var upgrade: Bool
        /// Lower-case names of client headers to drop besides the built-in identity ones (identity
        /// headers auth policies were configured to set under other names).
        var remove: [String] = []
        /// Header lines to add (an auth grant's identity, from `headerLines`), after the client's
        /// were dropped. Rendered once per grant: a connection's memoized grant reuses them.
        var addLines: [UInt8] = []

        init(method: String, uri: String, forwarding: [UInt8], upgrade: Bool) {
            (self.method, self.uri, self.forwarding, self.upgrade) = (method, uri, forwarding, upgrade)
        }

        init(method: String, uri: String, clientAddress: String, scheme: String, upgrade: Bool) {
            self.init(method: method, uri: uri, forwarding: HeadWriter.forwardingLines(clientAddress: clientAddress, scheme: scheme),
                      upgrade: upgrade)
        }
    }

    /// The lines that tell the upstream who the client is and how it came in, from what the
    /// proxy itself knows (never from what the client sent: those headers are dropped).
    static func forwardingLines(clientAddress: String, scheme: String) -> [UInt8] {
        Array("X-Forwarded-For: \(clientAddress)\r\nX-Real-IP: \(clientAddress)\r\nX-Forwarded-Proto: \(scheme)\r\n".utf8)
    }

    /// The request head for the upstream (RFC 9110 §7.6.1 hop-by-hop headers and those named in
    /// `Connection` dropped, client identity headers replaced) and the request id in effect.
    /// `makeRequestID` is called once when the client sent no acceptable X-Request-Id (a
    /// parameter, not a field of the rewrite: a non-escaping closure costs no allocation).
    static func requestHead(_ head: RequestHead, bytes: ByteBuffer, rewrite: RequestRewrite, allocator: ByteBufferAllocator,
                            makeRequestID: () -> RequestID) -> (ByteBuffer, requestID: RequestID) {
        var out = allocator.buffer(capacity: 0)
        let id = requestHead(head, bytes: bytes, rewrite: rewrite, into: &out, makeRequestID: makeRequestID)
        return (out, id)
    }

    /// `requestHead` written into `out`, which is cleared first: its storage is reused when
    /// nothing else holds it (a connection keeps the buffer of its last request head), so the
    /// caller must hold no other copy of it.
    static func requestHead(_ head: RequestHead, bytes: ByteBuffer, rewrite: RequestRewrite, into out: inout ByteBuffer,
                            makeRequestID: () -> RequestID) -> RequestID {
        bytes.withUnsafeReadableBytes { raw in
            // First what the added lines need: the client's first acceptable request id, its Host
            // (for X-Forwarded-Host) and its Upgrade value.
            var requestIDField: Int?
            var hostValue: Range<Int>?
            var upgradeValue: Range<Int>?
            for (index, field) in head.fields.enumerated() {
                switch field.kind {
                case .requestID where requestIDField == nil && isSafeRequestID(UnsafeRawBufferPointer(rebasing: raw[field.value])):
                    requestIDField = index
                case .host where hostValue == nil: hostValue = field.value
                case .upgrade where upgradeValue == nil: upgradeValue = field.value
                default: break
                }
            }
            let id = requestIDField.map { RequestID(String(decoding: raw[head.fields[$0].value], as: UTF8.self)) } ?? makeRequestID()
            // Kept lines and the two copied values fit in twice the received head; the rest is
            // counted exactly, plus the fixed text.
            let bound = 2 * head.length + rewrite.method.utf8.count + rewrite.uri.utf8.count + rewrite.addLines.count
                + rewrite.forwarding.count + id.utf8Count + 200
            out.clear(minimumCapacity: bound)
            out.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { buffer in
                let start = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
                var cursor = ByteCursor(position: start)
                cursor.utf8(rewrite.method)
                cursor.byte(UInt8(ascii: " "))
                cursor.utf8(rewrite.uri)
                cursor.raw(" HTTP/1.1\r\n")
                for (index, field) in head.fields.enumerated() {
                    switch field.kind {
                    case .hopByHop, .forged, .connection, .upgrade:
                        continue
                    case .requestID:
                        if index == requestIDField { cursor.raw(UnsafeRawBufferPointer(rebasing: raw[field.line])) }
                        continue
                    case .host, .contentLength, .transferEncoding:
                        // Never dropped for being named in `Connection`: the upstream must see the
                        // same Host and the same framing as the proxy did.
                        cursor.raw(UnsafeRawBufferPointer(rebasing: raw[field.line]))
                        continue
                    case .other:
                        break
                    }
                    if !head.connection.named.isEmpty, isNamed(field, in: head.connection.named, raw) { continue }
                    if !rewrite.remove.isEmpty, isListed(UnsafeRawBufferPointer(rebasing: raw[field.name]), rewrite.remove) { continue }
                    cursor.raw(UnsafeRawBufferPointer(rebasing: raw[field.line]))
                }
                if !rewrite.addLines.isEmpty { cursor.raw(rewrite.addLines) }
                // Otherwise no Connection header at all: the request line says HTTP/1.1, whose
                // connections persist unless one side says `close` (RFC 9112 §9.3), so
                // `keep-alive` would be one more line for every upstream to parse.
                if rewrite.upgrade, let upgradeValue {
                    cursor.raw("Connection: upgrade\r\nUpgrade: ")
                    cursor.raw(UnsafeRawBufferPointer(rebasing: raw[upgradeValue]))
                    cursor.crlf()
                }
                cursor.raw(rewrite.forwarding)
                if let hostValue {
                    cursor.raw("X-Forwarded-Host: ")
                    cursor.raw(UnsafeRawBufferPointer(rebasing: raw[hostValue]))
                    cursor.crlf()
                }
                if requestIDField == nil {
                    cursor.raw("X-Request-Id: ")
                    id.write(to: &cursor)
                    cursor.crlf()
                }
                cursor.crlf()
                let written = cursor.position - start
                precondition(written <= bound, "request head bound")
                return written
            }
            return id
        }
    }

    /// `name: value` lines (CRLF-terminated) for `RequestRewrite.addLines`.
    static func headerLines(_ fields: [Auth.HeaderField]) -> [UInt8] {
        var lines: [UInt8] = []
        for field in fields {
            lines += field.name.utf8
            lines += ": ".utf8
            lines += field.value.utf8
            lines += "\r\n".utf8
        }
        return lines
    }

    /// How the response body reaches the client.
    enum ResponseBody: Equatable {
        /// As the upstream framed it (length, chunked, none, or until close to a closing client).
        case asIs
        /// The upstream's chunks, as data only (an HTTP/1.0 client; the connection closes after).
        case dechunked
        /// Data the upstream ends by closing, chunked for an HTTP/1.1 client.
        case rechunked
    }

    /// The response head for the client: its HTTP version, hop-by-hop headers dropped (upgrade
    /// headers kept for a 101), framing adjusted to `body`, `Connection` set from `keepAlive`.
    /// `hsts` adds `Strict-Transport-Security` (HTTPS answers of a Domain that asks for it; an
    /// upstream's own value is replaced).
    static func responseHead(_ head: ResponseHead, bytes: ByteBuffer, clientMinorVersion: Int, body: ResponseBody,
                             keepAlive: Bool, keepUpgrade: Bool, hsts: String? = nil, allocator: ByteBufferAllocator) -> ByteBuffer {
        var out = allocator.buffer(capacity: 0)
        responseHead(head, bytes: bytes, clientMinorVersion: clientMinorVersion, body: body, keepAlive: keepAlive,
                     keepUpgrade: keepUpgrade, hsts: hsts, into: &out)
        return out
    }

    /// `responseHead` written into `out`, which is cleared first: its storage is reused when
    /// nothing else holds it (see `UpstreamPool.takeResponseBuffer`), so the caller must hold no
    /// other copy of it (one would make the clear allocate).
    static func responseHead(_ head: ResponseHead, bytes: ByteBuffer, clientMinorVersion: Int, body: ResponseBody,
                             keepAlive: Bool, keepUpgrade: Bool, hsts: String? = nil, into out: inout ByteBuffer) {
        let bound = head.length + (hsts?.utf8.count ?? 0) + 128
        out.clear(minimumCapacity: bound)
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { buffer in
            let start = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var cursor = ByteCursor(position: start)
            cursor.raw(clientMinorVersion == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
            bytes.withUnsafeReadableBytes { raw in
                cursor.raw(UnsafeRawBufferPointer(rebasing: raw[9..<12]))
                cursor.byte(UInt8(ascii: " "))
                cursor.raw(UnsafeRawBufferPointer(rebasing: raw[head.reason]))
                cursor.crlf()
                for field in head.fields {
                    switch field.kind {
                    case .connection, .upgrade:
                        if !keepUpgrade { continue }
                    case .hopByHop:
                        continue
                    case .transferEncoding:
                        if body == .dechunked { continue }
                    case .contentLength:
                        if head.hasTransferEncoding { continue }  // RFC 9112 §6.3: the encoding wins
                    default:
                        break
                    }
                    if !head.connection.named.isEmpty, isNamed(field, in: head.connection.named, raw) { continue }
                    if hsts != nil, field.line.count > 26, isStrictTransportSecurity(UnsafeRawBufferPointer(rebasing: raw[field.line])) { continue }
                    cursor.raw(UnsafeRawBufferPointer(rebasing: raw[field.line]))
                }
            }
            if let hsts {
                cursor.raw("Strict-Transport-Security: ")
                cursor.utf8(hsts)
                cursor.crlf()
            }
            if body == .rechunked { cursor.raw("Transfer-Encoding: chunked\r\n") }
            if !keepUpgrade {
                if !keepAlive { cursor.raw("Connection: close\r\n") }
                else if clientMinorVersion == 0 { cursor.raw("Connection: keep-alive\r\n") }
            }
            cursor.crlf()
            let written = cursor.position - start
            precondition(written <= bound, "response head bound")
            return written
        }
    }

    /// A response the proxy makes itself: plain text and `no-store` unless `headers` carry their
    /// own `content-type` / `cache-control` (lower-case names).
    static func localResponse(status: Int, reason: String, body: String, close: Bool, headers: [(String, String)] = [],
                              allocator: ByteBufferAllocator) -> ByteBuffer {
        var out = allocator.buffer(capacity: 160 + body.utf8.count)
        out.writeStaticString("HTTP/1.1 ")
        out.writeString(String(status))
        out.writeStaticString(" ")
        out.writeString(reason)
        out.writeStaticString("\r\n")
        if !headers.contains(where: { $0.0 == "content-type" }) { out.writeStaticString("content-type: text/plain; charset=utf-8\r\n") }
        out.writeStaticString("content-length: ")
        out.writeString(String(body.utf8.count))
        out.writeStaticString("\r\n")
        if !headers.contains(where: { $0.0 == "cache-control" }) { out.writeStaticString("cache-control: no-store\r\n") }
        for (name, value) in headers {
            out.writeString(name)
            out.writeStaticString(": ")
            out.writeString(value)
            out.writeStaticString("\r\n")
        }
        if close { out.writeStaticString("connection: close\r\n") }
        out.writeStaticString("\r\n")
        out.writeString(body)
        return out
    }

    /// Header names of an auth server's answer that are not passed on when it is relayed to the
    /// client: hop-by-hop fields (RFC 9110 §7.6.1) and framing, which the proxy sets itself.
    static let unrelayedHeaders: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "content-length",
    ]

    /// A forward-auth server's answer for the client, as the server sent it — status, headers
    /// (`Location`, `WWW-Authenticate`, `Set-Cookie` …) and body — with the proxy's own framing.
    /// `headOnly` (a HEAD request) keeps the length but sends no body.
    static func relayedResponse(status: Int, reason: String, headers: [(name: String, value: String)], body: [UInt8], headOnly: Bool,
                                close: Bool, allocator: ByteBufferAllocator) -> ByteBuffer {
        var out = allocator.buffer(capacity: 256 + body.count)
        out.writeStaticString("HTTP/1.1 ")
        out.writeString(String(status))
        out.writeStaticString(" ")
        out.writeString(reason.isEmpty ? "Unknown" : reason)
        out.writeStaticString("\r\n")
        for (name, value) in headers where !unrelayedHeaders.contains(name.lowercased()) {
            // NIO's parser has already refused CR/LF in values; this keeps a NUL out as well.
            guard !value.utf8.contains(0) else { continue }
            out.writeString(name)
            out.writeStaticString(": ")
            out.writeString(value)
            out.writeStaticString("\r\n")
        }
        out.writeStaticString("content-length: ")
        out.writeString(String(body.count))
        out.writeStaticString("\r\n")
        if close { out.writeStaticString("connection: close\r\n") }
        out.writeStaticString("\r\n")
        if !headOnly { out.writeBytes(body) }
        return out
    }

    /// Whether a header name is one of `names` (lower-case), ignoring case.
    static func isListed(_ name: UnsafeRawBufferPointer, _ names: [String]) -> Bool {
        names.contains { candidate in
            candidate.utf8.count == name.count && zip(candidate.utf8, name).allSatisfy { $0 == $1 | ($1 >= 0x41 && $1 <= 0x5a ? 0x20 : 0) }
        }
    }

    /// Whether a raw header line is `Strict-Transport-Security:` (any case).
    static func isStrictTransportSecurity(_ line: UnsafeRawBufferPointer) -> Bool {
        let name = Array("strict-transport-security:".utf8)
        guard line.count >= name.count else { return false }
        for index in name.indices where line[index] | 0x20 != name[index] | 0x20 { return false }
        return true
    }

    /// A client's request id is passed on only when it is short and printable.
    static func isSafeRequestID(_ value: UnsafeRawBufferPointer) -> Bool {
        !value.isEmpty && value.count <= 128 && value.allSatisfy { $0 > 0x20 && $0 < 0x7f }
    }

    private static func isNamed(_ field: HTTPWire.HeaderField, in named: [Range<Int>], _ raw: UnsafeRawBufferPointer) -> Bool {
        let name = UnsafeRawBufferPointer(rebasing: raw[field.name])
        return named.contains { ASCII.equalsIgnoringCase(name, UnsafeRawBufferPointer(rebasing: raw[$0])) }
    }
}

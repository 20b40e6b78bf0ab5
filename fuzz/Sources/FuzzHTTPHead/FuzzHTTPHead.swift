// libFuzzer entry point: the byte-level HTTP/1.1 parsers berth-proxy forwards with (HTTPWire).
// The first byte picks the parser (even: request head, odd and < 0x80: response head, else
// chunked body); the rest is what a peer sent.
//
// Invariants:
//  - parsing never crashes or reads out of bounds (ASan);
//  - a parsed head never claims more bytes than it was given, and every range lies inside it,
//    in order;
//  - parsing exactly the head's bytes gives the same head (bytes after it are never read);
//  - every proper prefix of a parsed head asks for more bytes (never a different verdict), so
//    a head split across reads parses as in one piece;
//  - the chunked decoder gives the same verdict, length and data fed whole or byte by byte.
import CFuzzerDriver
import HTTPWire

private func violation(_ message: String) -> Never { fatalError("FuzzHTTPHead invariant violated: \(message)") }

private let limits = HeadLimits(maxBytes: 2048, maxFields: 64)

private func check(_ fields: [HeaderField], within length: Int) {
    var previous = 0
    for field in fields {
        guard field.line.lowerBound >= previous, field.line.upperBound <= length,
              field.name.lowerBound == field.line.lowerBound, field.name.upperBound < field.value.lowerBound || field.value.isEmpty,
              field.value.upperBound <= field.line.upperBound - 2 else { violation("field \(field) outside its line or the head (\(length))") }
        previous = field.line.upperBound
    }
}

private func fuzzRequest(_ bytes: [UInt8]) {
    var fields: [HeaderField] = []
    let outcome = bytes.withUnsafeBytes { HeadParser.parseRequest($0, limits: limits, fields: &fields) }
    guard case .head(let head) = outcome else { return }
    guard head.length > 0, head.length <= bytes.count, head.method.upperBound <= head.length, head.target.upperBound <= head.length
    else { violation("head length \(head.length) of \(bytes.count)") }
    check(head.fields, within: head.length)
    let own = Array(bytes[..<head.length])
    guard case .head(let again) = own.withUnsafeBytes({ HeadParser.parseRequest($0, limits: limits, fields: &fields) }),
          again.length == head.length, again.fields == head.fields, again.framing == head.framing else {
        violation("the head's own bytes parse differently")
    }
    for cut in Set([0, 1, head.length / 2, head.length - 2, head.length - 1]) where cut >= 0 && cut < head.length {
        let prefix = Array(own[..<cut])
        guard case .needMore = prefix.withUnsafeBytes({ HeadParser.parseRequest($0, limits: limits, fields: &fields) }) else {
            violation("a \(cut)-byte prefix of a \(head.length)-byte head is not asked to continue")
        }
    }
}

private func fuzzResponse(_ bytes: [UInt8]) {
    var fields: [HeaderField] = []
    let outcome = bytes.withUnsafeBytes { HeadParser.parseResponse($0, limits: limits, fields: &fields) }
    guard case .head(let head) = outcome else { return }
    guard head.length > 0, head.length <= bytes.count, head.reason.upperBound <= head.length, (100...999).contains(head.status)
    else { violation("response head length \(head.length) of \(bytes.count), status \(head.status)") }
    check(head.fields, within: head.length)
    let own = Array(bytes[..<head.length])
    guard case .head(let again) = own.withUnsafeBytes({ HeadParser.parseResponse($0, limits: limits, fields: &fields) }),
          again.length == head.length, again.fields == head.fields, again.status == head.status else {
        violation("the response head's own bytes parse differently")
    }
    for cut in Set([0, head.length / 2, head.length - 1]) where cut < head.length {
        guard case .needMore = Array(own[..<cut]).withUnsafeBytes({ HeadParser.parseResponse($0, limits: limits, fields: &fields) }) else {
            violation("a \(cut)-byte prefix of a \(head.length)-byte response head is not asked to continue")
        }
    }
}

private func fuzzChunked(_ bytes: [UInt8]) {
    func run(step: Int) -> (consumed: Int, done: Bool, failed: Bool, data: [UInt8]) {
        var decoder = ChunkedDecoder(maxTrailerBytes: 256)
        var data: [UInt8] = []
        var offset = 0
        while offset < bytes.count, !decoder.isDone {
            let piece = Array(bytes[offset..<min(bytes.count, offset + step)])
            do {
                let used = try piece.withUnsafeBytes { raw in
                    try decoder.consume(raw) { range in
                        if range.lowerBound < 0 || range.upperBound > piece.count { violation("data range \(range) of \(piece.count)") }
                        data += piece[range]
                    }
                }
                if used > piece.count { violation("consumed \(used) of \(piece.count)") }
                offset += used
                if used < piece.count, !decoder.isDone { violation("stopped early at \(used) of \(piece.count) without finishing") }
            } catch {
                return (offset, false, true, data)
            }
        }
        return (offset, decoder.isDone, false, data)
    }
    let whole = run(step: bytes.count + 1)
    let single = run(step: 1)
    if whole.failed != single.failed || whole.done != single.done || (!whole.failed && (whole.consumed != single.consumed || whole.data != single.data)) {
        violation("whole \(whole) vs byte by byte \(single)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let selector = data[0]
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    if selector & 1 == 0 { fuzzRequest(bytes) } else if selector < 0x80 { fuzzResponse(bytes) } else { fuzzChunked(bytes) }
    return 0
}

@_cdecl("FuzzHTTPHead_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}

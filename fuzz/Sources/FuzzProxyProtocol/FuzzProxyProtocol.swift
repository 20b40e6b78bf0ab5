// libFuzzer entry point: arbitrary bytes as the start of a connection, through the PROXY
// protocol parser (v1 and v2).
//
// Invariants:
//  - parsing never crashes;
//  - a parsed header never claims more bytes than it was given;
//  - parsing exactly the header's bytes gives the same header (payload after it is never read);
//  - `looksLikeProxyProtocol` never says no to input the parser accepted or is still reading.
import CFuzzerDriver
import ProxyProtocol

private func violation(_ message: String) -> Never { fatalError("FuzzProxyProtocol invariant violated: \(message)") }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let result = ProxyProtocolParser.parse(bytes)
    switch result {
    case .header(let header):
        if header.length > bytes.count || header.length <= 0 { violation("header length \(header.length) of \(bytes.count) bytes") }
        let again = ProxyProtocolParser.parse(Array(bytes[..<header.length]))
        if again != .header(header) { violation("the header's own bytes parse differently: \(again)") }
        if !ProxyProtocolParser.looksLikeProxyProtocol(bytes) { violation("an accepted header does not look like one") }
    case .needMoreBytes:
        if !ProxyProtocolParser.looksLikeProxyProtocol(bytes) { violation("a prefix waiting for more bytes does not look like a header") }
    case .notProxyProtocol, .invalid:
        break
    }
    return 0
}

@_cdecl("FuzzProxyProtocol_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}

// libFuzzer entry point: arbitrary bytes as a published route table, as berth-proxy reads it.
//
// Invariants (a violation aborts with a message, which libFuzzer reports as a crash):
//  - `JSONValue.parse(bytes:)` and `RouteTableDocument(json:)` never crash, they only throw;
//  - a document that decodes re-encodes (`.json`) to something that decodes again, both directly
//    and through its canonical serialization, to an equal document with the same content hash.
//
// A table must carry the SHA-256 of its content, which no mutation keeps right, so each input is
// tried twice: as it is, and with `content_hash` recomputed over its own `format_version`, `hosts`
// and `auth_policies` (as a publisher would), so mutated tables get past the hash check.
import CFuzzerDriver
import Spec
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// FUZZ_VERBOSE=1 prints what happened to each input (for checking seeds, not for fuzzing).
private let verbose = getenv("FUZZ_VERBOSE") != nil
private func log(_ text: @autoclosure () -> String) { if verbose { print(text()) } }

private func violation(_ message: String) -> Never {
    fatalError("FuzzRouteTable invariant violated: \(message)")
}

/// Both documents' canonical text, and when that is identical (they differ only in value types,
/// such as `.double(1.0)` against `.int(1)`), their structure too.
private func difference(_ first: RouteTableDocument, _ second: RouteTableDocument) -> String {
    let (a, b) = (first.json.canonicalString, second.json.canonicalString)
    var text = "\n  first:  \(a)\n  second: \(b)"
    if a == b {
        text += "\n  (same canonical JSON; the values differ in type)"
        text += "\n  first:  \(String(String(reflecting: first).prefix(2000)))\n  second: \(String(String(reflecting: second).prefix(2000)))"
    }
    return text
}

/// `json` with `content_hash` set to the hash of its content members, when it is an object.
private func rehashed(_ json: JSONValue) -> JSONValue? {
    guard case .object(var members) = json else { return nil }
    var content: [String: JSONValue] = [:]
    for key in ["format_version", "hosts", "auth_policies"] { content[key] = members[key] }
    members["content_hash"] = .string(SHA256.hex(JSONValue.object(content).canonicalBytes))
    return .object(members)
}

private func check(_ json: JSONValue, _ label: String) {
    let document: RouteTableDocument
    do { document = try RouteTableDocument(json: json) } catch {
        log("\(label): not a route table: \(error)"); return
    }
    log("\(label): route table: \(document.hosts.count) host(s), \(document.authPolicies.count) auth policies, generation \(document.generation)")

    let encoded = document.json
    let again: RouteTableDocument
    do { again = try RouteTableDocument(json: encoded) } catch {
        violation("re-encoded document does not decode: \(error)\n\(encoded.canonicalString)")
    }
    if again != document {
        violation("re-encoded document differs:" + difference(document, again))
    }
    let text = encoded.canonicalString
    let reparsed: RouteTableDocument
    do { reparsed = try RouteTableDocument(json: try JSONValue.parse(text)) } catch {
        violation("serialized document does not decode: \(error)\n\(text)")
    }
    if reparsed != document {
        violation("document differs after serializing:" + difference(document, reparsed))
    }
    if reparsed.contentHash != document.contentHash { violation("content hash changes after serializing") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let json: JSONValue
    do { json = try JSONValue.parse(bytes: UnsafeBufferPointer(start: data, count: size)) } catch {
        log("not JSON: \(error)"); return 0
    }
    check(json, "as given")
    if let fixed = rehashed(json), fixed != json { check(fixed, "rehashed") }
    return 0
}

/// The process entry point. SwiftPM links an executable with `main` aliased to `<module>_main`
/// (`--defsym` on Linux), which hides libFuzzer's own `main`, so this starts libFuzzer's driver
/// itself; command-line flags (-max_total_time, corpus dirs, …) are libFuzzer's.
@_cdecl("FuzzRouteTable_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}

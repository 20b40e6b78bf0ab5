// libFuzzer entry point: arbitrary bytes as one YAML file through the whole spec loader.
//
// Invariants (a violation aborts with a message, which libFuzzer reports as a crash):
//  - loading never crashes (traps, overflows, out-of-bounds, sanitizer reports);
//  - every diagnostic (and every note) points into "fuzz.yaml" at line ≥ 1 and column ≥ 1;
//  - when the result is valid, each resource's canonical spec survives being serialized, parsed
//    back (`JSONValue.parse`) and rebuilt (`Resource(id:canonicalSpec:)`), as the inventory does,
//    with an equal `specHash`.
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

private let file = "fuzz.yaml"

private func violation(_ message: String) -> Never {
    fatalError("FuzzSpecLoader invariant violated: \(message)")
}

private func checkLocation(_ location: SourceLocation, _ what: String) {
    if location.file != file { violation("\(what) names file \"\(location.file)\"") }
    if location.line < 1 || location.column < 1 { violation("\(what) is at line \(location.line), column \(location.column)") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let result = SpecLoader.load(files: [(path: file, contents: bytes)])
    for diagnostic in result.diagnostics {
        checkLocation(diagnostic.location, "diagnostic [\(diagnostic.code)] \(diagnostic.message)")
        for note in diagnostic.notes { checkLocation(note.location, "note of [\(diagnostic.code)] \(note.message)") }
        _ = diagnostic.rendered
        _ = diagnostic.json.canonicalString
    }
    log("\(result.isValid ? "valid" : "invalid"): \(result.state.count) resource(s), \(result.diagnostics.count) diagnostic(s)"
        + result.diagnostics.map { "\n  \($0.rendered)" }.joined())
    guard result.isValid else { return 0 }
    for resource in result.state.resources {
        let spec = resource.canonicalSpec
        let text = spec.canonicalString
        let parsed: JSONValue
        do { parsed = try JSONValue.parse(text) } catch {
            violation("canonical spec of \(resource.id) does not parse back: \(error)\n\(text)")
        }
        let rebuilt: Resource
        do { rebuilt = try Resource(id: resource.id, canonicalSpec: parsed) } catch {
            violation("canonical spec of \(resource.id) does not decode: \(error)\n\(text)")
        }
        if rebuilt.specHash != resource.specHash {
            violation("specHash of \(resource.id) changes through its canonical JSON:\n  loaded:  \(text)\n  rebuilt: \(rebuilt.canonicalSpec.canonicalString)")
        }
    }
    return 0
}

/// The process entry point. SwiftPM links an executable with `main` aliased to `<module>_main`
/// (`--defsym` on Linux), which hides libFuzzer's own `main`, so this starts libFuzzer's driver
/// itself; command-line flags (-max_total_time, corpus dirs, …) are libFuzzer's.
@_cdecl("FuzzSpecLoader_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}

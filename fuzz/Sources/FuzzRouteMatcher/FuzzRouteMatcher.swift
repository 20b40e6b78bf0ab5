// libFuzzer entry point: arbitrary bytes as a request (host, target and method on three lines)
// through the data plane's normalization and matcher, against a fixed table.
//
// Invariants:
//  - normalization and matching never crash;
//  - the Host parsed from bytes (as the proxy does) accepts what `isValid` accepts and is lower case;
//  - a normalized path starts with "/", has no "." or ".." segment and no %-escape of an
//    unreserved character, and normalizing it again changes nothing (no second decoding);
//  - an exact route only ever matches its own path, a prefix route only on a segment boundary;
//  - the same request always matches the same route.
import CFuzzerDriver
import Routing
import Spec

private func violation(_ message: String) -> Never { fatalError("FuzzRouteMatcher invariant violated: \(message)") }

private let matcher: RouteMatcher = {
    func route(_ name: String, _ path: String, _ type: Route.PathType, methods: [String] = [], priority: Int = 0,
               hosts: [String] = ["shop.example.test"]) -> Resource {
        .route(Route(name: name, hosts: hosts, path: path, pathType: type, methods: methods, priority: priority, to: .url("http://127.0.0.1:1")))
    }
    let state = DesiredState(resources: [
        route("root", "/", .prefix), route("api", "/api", .prefix), route("admin", "/admin", .exact, priority: 5),
        route("slash", "/docs/", .prefix), route("post", "/login", .exact, methods: ["POST"]),
        route("rx", "/orders/[0-9]+/invoice\\.pdf", .regex, priority: 1), route("wild", "/", .prefix, hosts: ["*.cdn.example.test"]),
    ])
    return try! RouteMatcher(document: RouteTableCompiler.compile(state, revision: "fuzz") { _, _ in [] })
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let lines = Array(UnsafeBufferPointer(start: data, count: size)).split(separator: 0x0a, maxSplits: 2, omittingEmptySubsequences: false)
    // The proxy takes the Host straight from the header bytes (`parse`): it accepts exactly what
    // `isValid` accepts, and what it makes is a lower-case part of the input.
    let hostBytes = Array(lines.first ?? [])
    let parsed = hostBytes.withUnsafeBytes { RequestHost.parse($0) }
    let rawHost = String(decoding: hostBytes, as: UTF8.self)
    let valid = RequestHost.isValid(rawHost) && rawHost.utf8.elementsEqual(hostBytes)
    if (parsed != nil) != valid { violation("host bytes \(hostBytes): parsed \(String(describing: parsed)), isValid \(valid)") }
    guard let host = parsed else { return 0 }  // the proxy answers 400
    if host.utf8.count > hostBytes.count || host.utf8.contains(where: { (0x41...0x5a).contains($0) }) {
        violation("host bytes \(hostBytes) parse to \(host)")
    }
    let target = String(decoding: lines.count > 1 ? lines[1] : [], as: UTF8.self)
    let method = String(decoding: lines.count > 2 ? lines[2] : [], as: UTF8.self)
    guard case .success(let (path, _)) = RequestPath.normalize(target: target) else { return 0 }
    if path.utf8.first != UInt8(ascii: "/") { violation("normalized path \(path) is not absolute") }
    let segments = path.split(separator: "/", omittingEmptySubsequences: false)
    if segments.contains(where: { $0 == "." || $0 == ".." }) { violation("dot segment left in \(path)") }
    if case .success(let (again, _)) = RequestPath.normalize(target: path), again != path {
        violation("normalizing twice changes \(path) into \(again)")
    }
    let first = matcher.match(host: host, path: path, method: method)
    let second = matcher.match(host: host, path: path, method: method)
    switch (first, second) {
    case (.route(_, let a), .route(_, let b)):
        if a.entry.route != b.entry.route { violation("nondeterministic match for \(path)") }
        switch a.entry.pathType {
        case .exact where !a.entry.path.utf8.elementsEqual(path.utf8): violation("exact route \(a.entry.path) matched \(path)")
        case .prefix where a.entry.path != "/" && !(path.utf8.elementsEqual(a.entry.path.utf8)
                                                   || path.utf8.starts(with: (a.entry.path.hasSuffix("/") ? a.entry.path : a.entry.path + "/").utf8)):
            violation("prefix route \(a.entry.path) matched \(path) off a segment boundary")
        default: break
        }
    case (.noRoute, .noRoute), (.unknownHost, .unknownHost): break
    default: violation("nondeterministic match kind for \(host) \(path)")
    }
    return 0
}

@_cdecl("FuzzRouteMatcher_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}

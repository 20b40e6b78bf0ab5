// swift-tools-version:6.1
import PackageDescription

// libFuzzer harnesses for the spec loader, the route-table decoder, the PROXY protocol parser,
// the request matcher, the HTTP/1.1 head and chunked parsers, and the auth parsers (JWS, JWKS,
// Authorization headers). Not part of the root package: build them with fuzz/run.sh (which passes
// -sanitize=fuzzer), never with a plain `swift build`.
let package = Package(
    name: "BerthFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "Berth", path: ".."),
    ],
    targets: [
        // Declares libFuzzer's LLVMFuzzerRunDriver for Swift.
        .target(name: "CFuzzerDriver"),
        .executableTarget(
            name: "FuzzSpecLoader",
            dependencies: ["CFuzzerDriver", .product(name: "Spec", package: "Berth")]),
        .executableTarget(
            name: "FuzzRouteTable",
            dependencies: ["CFuzzerDriver", .product(name: "Spec", package: "Berth")]),
        .executableTarget(
            name: "FuzzProxyProtocol",
            dependencies: ["CFuzzerDriver", .product(name: "ProxyProtocol", package: "Berth")]),
        .executableTarget(
            name: "FuzzHTTPHead",
            dependencies: ["CFuzzerDriver", .product(name: "HTTPWire", package: "Berth")]),
        .executableTarget(
            name: "FuzzRouteMatcher",
            dependencies: ["CFuzzerDriver", .product(name: "Routing", package: "Berth"), .product(name: "Spec", package: "Berth")]),
        .executableTarget(
            name: "FuzzJOSE",
            dependencies: ["CFuzzerDriver", .product(name: "Auth", package: "Berth"), .product(name: "Spec", package: "Berth")]),
    ]
)

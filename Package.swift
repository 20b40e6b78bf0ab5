// swift-tools-version:6.1
import PackageDescription

// Module boundaries follow ../shared/ARCHITECTURE.md:
//   Spec          — desired-state model, YAML loading with source locations, validation, hashing,
//                   and the route-table document (the control/data-plane contract). No I/O beyond
//                   the bytes it is handed.
//   RedisClient   — blocking Swift wrapper over hiredis, used by both planes.
//   Reconciler    — sources (directory, git), state store, pure planner, applier, drivers.
//   berth         — thin CLI wiring.
let package = Package(
    name: "Berth",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "berth", targets: ["berth"]),
        .executable(name: "berth-proxy", targets: ["berth-proxy"]),
        .library(name: "Spec", targets: ["Spec"]),
        .library(name: "RedisClient", targets: ["RedisClient"]),
        .library(name: "Reconciler", targets: ["Reconciler"]),
        .library(name: "Routing", targets: ["Routing"]),
        .library(name: "ProxyProtocol", targets: ["ProxyProtocol"]),
        .library(name: "HTTPWire", targets: ["HTTPWire"]),
        .library(name: "DataPlane", targets: ["DataPlane"]),
        .library(name: "Auth", targets: ["Auth"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        // TLS: the proxy's HTTPS listeners, and the trust roots of the ACME client.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // swift-crypto: the ACME client and internal CA (controller), and the Auth module (JWT
        // signatures, bearer token hashes), which the data plane links; _CryptoExtras (RSA)
        // brings swift-asn1 along.
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        // ACME client and internal CA (controller only; the data plane never links them).
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CLibgit2", pkgConfig: "libgit2", providers: [.apt(["libgit2-dev"])]),
        .target(name: "Spec", dependencies: [.product(name: "Yams", package: "Yams")]),
        .target(name: "RedisClient", dependencies: ["CHiredis"]),
        // The pure request matcher of the data plane (host + path + method → route), apart from
        // any I/O so it can be table-tested and fuzzed on its own.
        .target(name: "Routing", dependencies: ["Spec"]),
        // PROXY protocol v1/v2 header parser (pure bytes in, header or verdict out); the NIO
        // decoder in DataPlane wraps it. Separate so the fuzzer links nothing else.
        .target(name: "ProxyProtocol"),
        // Strict HTTP/1.1 head and chunked-framing parsers over raw bytes (no dependencies), so
        // the proxy can forward heads and bodies as bytes and the fuzzer links nothing else.
        .target(name: "HTTPWire"),
        // Auth at the edge, pure: compiled policies from the route table, bearer/basic (bcrypt)/JWT/
        // forward/ipAllow decisions, JWS and JWKS parsing. Bytes in, verdicts out: no network I/O
        // (JWKS fetching, forward subrequests and bcrypt scheduling belong to the proxy).
        .target(name: "Auth", dependencies: [
            "Spec",
            .product(name: "Crypto", package: "swift-crypto"), .product(name: "_CryptoExtras", package: "swift-crypto"),
        ]),
        // Sources, planner, applier, and the controller loop with its HTTP listener (status, metrics,
        // push webhook) on SwiftNIO.
        .target(name: "Reconciler", dependencies: [
            "Spec", "RedisClient", "CLibgit2",
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        // The data plane: never links git, ACME or Docker code (no Reconciler dependency).
        .target(name: "DataPlane", dependencies: [
            "Spec", "Routing", "RedisClient", "ProxyProtocol", "HTTPWire", "Auth",
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOExtras", package: "swift-nio-extras"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "NIOTLS", package: "swift-nio"),
        ]),
        .executableTarget(
            name: "berth-proxy",
            dependencies: ["DataPlane", "Spec", "RedisClient",
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "berth",
            dependencies: ["Spec", "Reconciler", "RedisClient", "DataPlane",
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // bench/proxy.sh only: a bare NIO TCP relay, the floor any proxy on SwiftNIO starts from.
        .executableTarget(
            name: "berth-bench-relay",
            dependencies: [.product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")]),
        // Test-only helpers: start a private redis-server, make git repositories, run processes.
        .target(name: "TestSupport", dependencies: ["RedisClient"], path: "Tests/TestSupport"),
        .testTarget(name: "SpecTests", dependencies: ["Spec"]),
        .testTarget(name: "ReconcilerTests", dependencies: [
            "Reconciler", "Spec", "TestSupport",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
        .testTarget(name: "RoutingTests", dependencies: ["Routing", "Spec"]),
        .testTarget(name: "ProxyProtocolTests", dependencies: ["ProxyProtocol"]),
        .testTarget(name: "AuthTests", dependencies: [
            "Auth", "Spec",
            .product(name: "Crypto", package: "swift-crypto"), .product(name: "_CryptoExtras", package: "swift-crypto"),
        ], exclude: ["Scripts"]),
        .testTarget(name: "DataPlaneTests", dependencies: [
            "DataPlane", "Auth", "Spec", "Routing", "RedisClient", "TestSupport", "HTTPWire",
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
            // Signing test JWTs (the proxy verifies them through Auth).
            .product(name: "Crypto", package: "swift-crypto"), .product(name: "_CryptoExtras", package: "swift-crypto"),
        ]),
        .testTarget(name: "RedisClientTests", dependencies: ["RedisClient", "TestSupport"]),
        .testTarget(name: "IntegrationTests", dependencies: [
            "Reconciler", "Spec", "RedisClient", "TestSupport",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
    ]
)

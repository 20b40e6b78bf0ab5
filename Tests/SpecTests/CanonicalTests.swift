import Foundation
import Testing
@testable import Spec

@Suite struct SHA256Tests {
    @Test(arguments: [
        ("empty", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("448-bit NIST message", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("896-bit NIST message",
         "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
        ("quick brown fox", "The quick brown fox jumps over the lazy dog",
         "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"),
    ])
    func knownVector(_ name: String, _ message: String, digest: String) {
        #expect(SHA256.hex(message) == digest)
        #expect(SHA256.hex(Array(message.utf8)) == digest)
    }

    @Test func oneMillionAs() {
        #expect(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func incrementalUpdatesEqualOneShot() {
        let message = Array((0..<1_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        for chunk in [1, 3, 55, 56, 63, 64, 65, 127, 999] {
            var hasher = SHA256()
            var start = 0
            while start < message.count {
                hasher.update(message[start..<min(start + chunk, message.count)])
                start += chunk
            }
            #expect(hasher.finalize().hexString == SHA256.hex(message), "chunks of \(chunk)")
        }
        var text = SHA256()
        text.update("ab")
        text.update("c")
        #expect(text.finalize().count == 32)
    }

    @Test func hexStringIsLowerCaseTwoDigitsAByte() {
        #expect([UInt8]([0x00, 0x0f, 0xa0, 0xff]).hexString == "000fa0ff")
        #expect([UInt8]().hexString == "")
    }

    /// Padding edges (55, 56, 63, 64, 119, 120 bytes …) and random contents, checked against coreutils.
    @Test func randomMessagesMatchCoreutils() throws {
        var generator = SplitMix64(seed: 0x5EED_BE27)
        var lengths = [0, 1, 55, 56, 57, 63, 64, 65, 111, 112, 119, 120, 127, 128, 129, 1_000, 4_096, 65_537]
        for _ in 0..<30 { lengths.append(Int(generator.next() % 600)) }
        let messages = lengths.map { length in (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) } }

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spec-sha256-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var paths: [String] = []
        for (index, message) in messages.enumerated() {
            let url = directory.appendingPathComponent("m\(index)")
            try Data(message).write(to: url)
            paths.append(url.path)
        }
        let output = try Self.run("/usr/bin/sha256sum", paths)
        let digests = output.split(separator: "\n").map { String($0.prefix(64)) }
        try #require(digests.count == messages.count, "sha256sum printed:\n\(output)")
        for (index, message) in messages.enumerated() {
            #expect(SHA256.hex(message) == digests[index], "message \(index), \(message.count) bytes")
        }
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SpecFixtures.FixtureError(description: "\(executable) exited with \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// A small deterministic generator, so a failing random case can be reproduced.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct JSONValueTests {
    @Test(arguments: [
        ("null", JSONValue.null, "null"),
        ("booleans", .array([.bool(true), .bool(false)]), "[true,false]"),
        ("integers", .array([.int(0), .int(-42), .int(Int.max), .int(Int.min)]), "[0,-42,9223372036854775807,-9223372036854775808]"),
        ("integral doubles print as integers", .array([.double(2), .double(-0.0), .double(1e15)]), "[2,0,1000000000000000]"),
        ("fractions", .array([.double(-0.5), .double(1.25)]), "[-0.5,1.25]"),
        ("non-finite doubles are null", .array([.double(.infinity), .double(.nan)]), "[null,null]"),
        ("empty containers", .array([.array([]), .object([:])]), "[[],{}]"),
        ("keys sorted by UTF-8 bytes", .object(["b": .int(1), "a": .int(2), "B": .int(3), "é": .int(4), "z": .int(5), "aa": .int(6)]),
         "{\"B\":3,\"a\":2,\"aa\":6,\"b\":1,\"z\":5,\"é\":4}"),
        ("nested objects sorted too", .object(["outer": .object(["y": .null, "x": .array([.object(["d": .int(1), "c": .int(2)])])])]),
         "{\"outer\":{\"x\":[{\"c\":2,\"d\":1}],\"y\":null}}"),
        ("minimal escapes", .string("quote\" backslash\\ newline\n return\r tab\t"),
         "\"quote\\\" backslash\\\\ newline\\n return\\r tab\\t\""),
        ("other control characters as \\u", .string("\u{0}\u{1}\u{8}\u{c}\u{1f}"), "\"\\u0000\\u0001\\u0008\\u000c\\u001f\""),
        ("slash, DEL and non-ASCII unescaped", .string("/\u{7f}é😀\u{2028}"), "\"/\u{7f}é😀\u{2028}\""),
        ("escaped keys", .object(["a\"b": .string("")]), "{\"a\\\"b\":\"\"}"),
    ])
    func canonicalString(_ name: String, _ value: JSONValue, expected: String) {
        #expect(value.canonicalString == expected)
        #expect(value.canonicalBytes == Array(expected.utf8))
    }

    @Test func prettyStringIndentsTwoSpacesWithSortedKeys() {
        let value = JSONValue.object(["b": .array([.int(1), .object([:])]), "a": .object(["c": .bool(true)])])
        #expect(value.prettyString == """
            {
              "a": {
                "c": true
              },
              "b": [
                1,
                {}
              ]
            }
            """)
    }

    static let roundTripValues: [JSONValue] = [
        .null, .bool(true), .int(-7), .double(0.1), .double(-1.5e-7), .string(""), .string("tab\t \"q\" \u{1} é 😀"),
        .array([.int(1), .array([.null]), .object(["k": .string("v")])]),
        .object(["": .int(0), "nested": .object(["list": .array([.bool(false), .double(3.75)])]), "z": .null]),
    ]

    @Test(arguments: roundTripValues)
    func parseInvertsSerialization(_ value: JSONValue) throws {
        #expect(try JSONValue.parse(value.canonicalString) == value)
        #expect(try JSONValue.parse(value.prettyString) == value)
        #expect(try JSONValue.parse(bytes: value.canonicalBytes) == value)
    }

    @Test(arguments: [
        (" { \"a\" : [ 1 , 2 ] }\n", JSONValue.object(["a": .array([.int(1), .int(2)])])),
        ("\"\\u00e9\\/\\b\\f\"", .string("é/\u{8}\u{c}")),
        ("\"\\ud83d\\ude00\"", .string("😀")),
        ("\"\\u0041\\u00DF\"", .string("Aß")),
        ("-0", .int(0)),
        ("1.5", .double(1.5)),
        ("1e3", .int(1000)),  // integral values are integers, as the canonical form writes them
        ("-2.5E-1", .double(-0.25)),
        ("9223372036854775807", .int(Int.max)),
        ("9223372036854775808", .double(9.223372036854775808e18)),
        ("[true,false,null]", .array([.bool(true), .bool(false), .null])),
        ("{\"a\":1,\"a\":2}", .object(["a": .int(2)])),
    ])
    func parses(_ text: String, expected: JSONValue) throws {
        #expect(try JSONValue.parse(text) == expected)
    }

    @Test(arguments: [
        ("empty input", "", 0),
        ("only whitespace", "  ", 2),
        ("unclosed object", "{", 1),
        ("trailing comma in array", "[1,]", 3),
        ("trailing comma in object", "{\"a\":1,}", 7),
        ("unquoted key", "{a:1}", 1),
        ("missing colon", "{\"a\" 1}", 5),
        ("missing comma", "[1 2]", 3),
        ("truncated literal", "tru", 0),
        ("misspelled literal", "nul1", 0),
        ("unterminated string", "\"abc", 4),
        ("invalid escape", "\"\\x\"", 3),
        ("short unicode escape", "\"\\u12\"", 3),
        ("lone high surrogate", "\"\\ud800\"", 7),
        ("lone low surrogate", "\"\\udc00\"", 7),
        ("raw control character", "\"a\u{1}b\"", 2),
        ("trailing characters", "1 2", 2),
        ("extra bracket", "[]]", 2),
        ("bare minus", "-", 1),
        ("two exponents", "1e5e5", 3),
        ("NaN", "NaN", 0),
    ])
    func rejects(_ name: String, _ text: String, offset: Int) {
        let error = #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(text) }
        #expect(error?.offset == offset)
    }

    /// RFC 8259 §6: no leading zeros, no plus sign, digits on both sides of the point.
    @Test(arguments: ["01", "-01", "+1", ".5", "1.", "1.e5"])
    func rejectsNumbersOutsideTheRFCGrammar(_ text: String) {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(text) }
    }

    @Test func nestingIsLimitedTo512Levels() throws {
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(deep) }
        let fine = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect(try JSONValue.parse(fine).arrayValue?.count == 1)
    }

    @Test func accessors() {
        let value = JSONValue.object(["s": .string("x"), "i": .int(3), "d": .double(4), "f": .double(4.5), "b": .bool(true), "a": .array([])])
        #expect(value["s"]?.stringValue == "x")
        #expect(value["i"]?.intValue == 3)
        #expect(value["d"]?.intValue == 4)
        #expect(value["f"]?.intValue == nil)
        #expect(value["b"]?.boolValue == true)
        #expect(value["a"]?.arrayValue == [])
        #expect(value["missing"] == nil)
        #expect(JSONValue.string("x")["s"] == nil)
        #expect(value["s"]?.intValue == nil)
        #expect(value.objectValue?.count == 6)
    }
}

@Suite struct SpecHashTests {
    /// Loads a single resource. Its references (domain, instance, auth) are not declared here, so
    /// only `undeclared-reference` diagnostics are tolerated.
    static func load(_ yaml: String) throws -> Resource {
        let result = SpecLoader.load(files: [(path: "r.yaml", contents: Array(yaml.utf8))])
        let unexpected = result.diagnostics.filter { $0.code != "undeclared-reference" }
        try #require(unexpected.isEmpty, "\(unexpected.map(\.rendered).joined(separator: "\n"))")
        try #require(result.state.resources.count == 1)
        return result.state.resources[0]
    }

    static let header = "apiVersion: berth/v1\nmetadata:\n  name: web\n"

    /// Pairs of documents that differ only in key order, spelling of the same value, or
    /// defaults written out: they must hash the same.
    static let equivalent: [(String, String, String)] = [
        ("Domain: key order, host case, trailing dot, explicit defaults",
         header + "kind: Domain\nspec:\n  hosts: [shop.example.com, www.shop.example.com]\n",
         "kind: Domain\nspec:\n  redirectHTTP: true\n  tls: acme\n  hosts: [Shop.Example.com., WWW.shop.example.com]\n" + header),
        ("Domain: tls none implies no redirect",
         header + "kind: Domain\nspec:\n  hosts: [a.example.com]\n  tls: none\n",
         header + "kind: Domain\nspec:\n  tls: none\n  redirectHTTP: false\n  hosts: [a.example.com]\n"),
        ("Route: defaults for path, pathType, priority, methods, stripPrefix",
         header + "kind: Route\nspec:\n  domain: shop\n  to: {instance: web}\n",
         header + "kind: Route\nspec:\n  to: {instance: web}\n  stripPrefix: false\n  priority: 0\n  methods: []\n  pathType: prefix\n  path: /\n  domain: shop\n"),
        ("Route: method case and target key order",
         header + "kind: Route\nspec:\n  hosts: [a.example.com]\n  methods: [GET]\n  to: {instance: web, port: http}\n",
         header + "kind: Route\nspec:\n  to:\n    port: http\n    instance: web\n  methods: [get]\n  hosts: [A.example.com]\n"),
        ("AuthPolicy: hash case, CIDR spelling, empty scopes and headers",
         header + "kind: AuthPolicy\nspec:\n  bearer:\n    tokens: [{name: ci, sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8}]\n  ipAllow: [10.0.0.0/8, \"2001:db8::/32\", 192.0.2.1]\n",
         header + "kind: AuthPolicy\nspec:\n  ipAllow: [10.0.0.0/8, \"2001:DB8:0::/32\", 192.0.2.1/32]\n  bearer:\n    tokens: [{sha256: 5E884898DA28047151D0E56F8DC6292773603D0D6AABBDD62A11EF721D1542D8, name: ci}]\n"),
        ("AuthPolicy: jwt without and with empty requiredScopes",
         header + "kind: AuthPolicy\nspec:\n  jwt: {issuer: i, audiences: [a], jwksURL: \"https://id.example.com/keys\"}\n",
         header + "kind: AuthPolicy\nspec:\n  jwt: {jwksURL: \"https://id.example.com/keys\", requiredScopes: [], audiences: [a], issuer: i}\n"),
        ("Instance: defaults for runtime, replicas, health durations; env order",
         header + "kind: Instance\nspec:\n  image: nginx\n  env: {A: \"1\", B: \"2\"}\n  health: {path: /healthz}\n",
         header + "kind: Instance\nspec:\n  health: {timeout: 2s, interval: 10s, path: /healthz}\n  replicas: 1\n  env: {B: \"2\", A: \"1\"}\n  runtime: docker\n  command: []\n  image: nginx\n"),
        ("Instance: quantities and durations in other units",
         header + "kind: Instance\nspec:\n  image: nginx\n  resources: {memory: 256Mi, cpus: \"0.5\"}\n  health: {path: /, interval: 1m, timeout: 1500ms}\n",
         header + "kind: Instance\nspec:\n  image: nginx\n  resources: {cpus: \".500\", memory: \"268435456\"}\n  health: {path: /, interval: 60000ms, timeout: 1.5s}\n"),
        ("Instance: the default timeout is clamped to the interval",
         header + "kind: Instance\nspec:\n  image: nginx\n  health: {path: /, interval: 1s}\n",
         header + "kind: Instance\nspec:\n  image: nginx\n  health: {path: /, interval: 1000ms, timeout: 1s}\n"),
    ]

    @Test(arguments: equivalent)
    func equivalentDocumentsHashTheSame(_ name: String, _ a: String, _ b: String) throws {
        let first = try Self.load(a), second = try Self.load(b)
        #expect(first == second)
        #expect(first.canonicalSpec == second.canonicalSpec)
        #expect(first.specHash == second.specHash)
    }

    static let base = header + "kind: Route\nspec:\n  domain: shop\n  path: /api\n  to: {instance: web, port: http}\n"

    @Test(arguments: [
        ("name", base.replacingOccurrences(of: "name: web", with: "name: web2")),
        ("domain", base.replacingOccurrences(of: "domain: shop", with: "domain: store")),
        ("domain → hosts", base.replacingOccurrences(of: "domain: shop", with: "hosts: [shop.example.com]")),
        ("path", base.replacingOccurrences(of: "/api", with: "/api/v2")),
        ("pathType", base + "  pathType: exact\n"),
        ("methods", base + "  methods: [GET]\n"),
        ("priority", base + "  priority: 1\n"),
        ("auth", base + "  auth: staff\n"),
        ("stripPrefix", base + "  stripPrefix: true\n"),
        ("port", base.replacingOccurrences(of: "port: http", with: "port: admin")),
        ("no port", base.replacingOccurrences(of: ", port: http", with: "")),
        ("url target", base.replacingOccurrences(of: "{instance: web, port: http}", with: "{url: \"http://web:80\"}")),
    ])
    func anyChangeChangesTheHash(_ field: String, _ changed: String) throws {
        let original = try Self.load(Self.base), modified = try Self.load(changed)
        #expect(original.specHash != modified.specHash)
    }

    @Test func hashIsSHA256OfKindNameAndCanonicalSpec() throws {
        let domain = Resource.domain(Domain(name: "shop", hosts: ["shop.example.com"]))
        let canonical = #"{"kind":"Domain","name":"shop","spec":{"hosts":["shop.example.com"],"redirectHTTP":true,"tls":"acme"}}"#
        #expect(domain.specHash == SHA256.hex(canonical))
        // Computed with coreutils: printf %s "$canonical" | sha256sum
        #expect(domain.specHash == "4915bc2f0b3c8f431b7704727b7438940c7523a4f9291698d239583942b466de")
        // Same spec, other kind or name: another hash.
        #expect(Resource.domain(Domain(name: "store", hosts: ["shop.example.com"])).specHash != domain.specHash)
    }

    /// `identityHeaders` is left out of the canonical form when unset, so the hash of every policy
    /// written before the field existed stays what the inventory recorded (no spurious update).
    @Test func identityHeadersAppearOnlyWhenSet() throws {
        let plain = AuthPolicy(name: "office", mechanism: nil, ipAllow: ["10.0.0.0/8"])
        #expect(plain.canonicalSpec.canonicalString == #"{"ipAllow":["10.0.0.0/8"]}"#)
        var renamed = plain
        renamed.identityHeaders = .init(user: "X-Remote-User")
        #expect(renamed.canonicalSpec.canonicalString == #"{"identityHeaders":{"user":"X-Remote-User"},"ipAllow":["10.0.0.0/8"]}"#)
        #expect(Resource.authPolicy(renamed).specHash != Resource.authPolicy(plain).specHash)
        let loaded = SpecLoader.load(files: [(path: "p.yaml", contents: Array("""
            apiVersion: berth/v1
            kind: AuthPolicy
            metadata: {name: office}
            spec: {ipAllow: [10.0.0.0/8], identityHeaders: {user: X-Remote-User}}
            """.utf8))])
        #expect(loaded.diagnostics.isEmpty, "\(loaded.diagnostics.map(\.rendered))")
        #expect(loaded.state.authPolicies == [renamed])
    }

    @Test func instanceTemplateHashIgnoresReplicas() {
        let one = Instance(name: "web", image: "nginx", replicas: 1)
        var three = one
        three.replicas = 3
        var other = one
        other.image = "nginx:1.27"
        #expect(one.templateHash == three.templateHash)
        #expect(one.templateHash.count == 12)
        #expect(one.templateHash != other.templateHash)
        #expect(Resource.instance(one).specHash != Resource.instance(three).specHash)
    }
}

@Suite struct CanonicalRoundTripTests {
    static var validResources: [Resource] {
        (try? SpecFixtures.load(SpecFixtures.validRoot).state.resources) ?? []
    }

    static let edgeCases: [Resource] = [
        .authPolicy(AuthPolicy(name: "allow-list", mechanism: nil, ipAllow: ["10.0.0.0/8", "::1/128"])),
        .authPolicy(AuthPolicy(name: "fwd", mechanism: .forward(.init(url: "http://auth:4180/check")))),
        .authPolicy(AuthPolicy(name: "scopes-only", mechanism: nil, ipAllow: ["10.0.0.0/8"], identityHeaders: .init(scopes: "X-Groups"))),
        .instance(Instance(name: "bare", image: "busybox")),
        .instance(Instance(name: "proc", runtime: .process, command: ["./run", "--flag"], env: ["A": "", "B": "x y"],
                           ports: [.init(name: "http", containerPort: nil)], replicas: 0,
                           health: .init(path: "/h", intervalMilliseconds: 1_500, timeoutMilliseconds: 1),
                           resources: .init(memoryBytes: nil, milliCPUs: 1))),
        .instance(Instance(name: "empty-resources", image: "nginx", resources: .init())),
        .route(Route(name: "direct", hosts: ["*.example.com", "a.example.com"], path: "^/x$", pathType: .regex,
                     methods: ["GET", "HEAD"], priority: -3, to: .url("https://b.example.com/base"), auth: "fwd", stripPrefix: false)),
        .domain(Domain(name: "plain", hosts: ["a.example.com"], tls: .none, redirectHTTP: nil)),
        .domain(Domain(name: "odd", hosts: ["b.example.com"], tls: .selfSigned, redirectHTTP: false)),
    ]

    @Test func validFixtureHasResourcesToRoundTrip() {
        #expect(Self.validResources.count == 26)
    }

    @Test(arguments: validResources + edgeCases)
    func rebuildsFromCanonicalSpec(_ resource: Resource) throws {
        let rebuilt = try Resource(id: resource.id, canonicalSpec: resource.canonicalSpec)
        #expect(rebuilt.canonicalSpec == resource.canonicalSpec)
        #expect(rebuilt == resource)
        #expect(rebuilt.specHash == resource.specHash)
        // As the inventory stores it: canonical text, parsed back.
        let reparsed = try Resource(id: resource.id, canonicalSpec: JSONValue.parse(resource.canonicalSpec.canonicalString))
        #expect(reparsed == resource)
    }

    @Test(arguments: [
        ("Domain without tls", ResourceID(.domain, "d"), #"{"hosts":["a.example.com"],"redirectHTTP":true}"#, "tls"),
        ("Domain with an unknown tls", ResourceID(.domain, "d"), #"{"hosts":[],"tls":"letsencrypt","redirectHTTP":true}"#, "tls"),
        ("Domain without redirectHTTP", ResourceID(.domain, "d"), #"{"hosts":[],"tls":"acme"}"#, "redirectHTTP"),
        ("Route without path", ResourceID(.route, "r"), #"{"pathType":"prefix","to":{"url":"http://a"}}"#, "path"),
        ("Route without target", ResourceID(.route, "r"), #"{"path":"/","pathType":"prefix"}"#, "to"),
        ("Route with an unknown pathType", ResourceID(.route, "r"), #"{"path":"/","pathType":"glob","to":{"url":"http://a"}}"#, "pathType"),
        ("Instance with an unknown runtime", ResourceID(.instance, "i"), #"{"runtime":"kvm"}"#, "runtime"),
        ("Instance with a bad health interval", ResourceID(.instance, "i"),
         #"{"runtime":"docker","health":{"path":"/","interval":"soon","timeout":"1s"}}"#, "health.interval"),
        ("AuthPolicy jwt without issuer", ResourceID(.authPolicy, "a"), #"{"jwt":{"jwksURL":"https://k"},"ipAllow":[]}"#, "jwt.issuer"),
    ])
    func rejectsMalformedCanonicalSpec(_ name: String, _ id: ResourceID, _ json: String, field: String) throws {
        let spec = try JSONValue.parse(json)
        let error = #expect(throws: CanonicalDecodingError.self) { try Resource(id: id, canonicalSpec: spec) }
        #expect(error?.field == field)
    }
}

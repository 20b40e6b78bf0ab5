import Testing
@testable import Spec

/// What a check is expected to say about a value: nothing, or a problem whose text contains `problem`.
enum FormatVerdict: Sendable, CustomStringConvertible {
    case valid
    case invalid(String)

    var description: String {
        switch self {
        case .valid: "valid"
        case .invalid(let problem): "invalid (\(problem))"
        }
    }

    func check(_ problem: String?, _ input: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        switch self {
        case .valid:
            #expect(problem == nil, "\"\(input)\" should be valid", sourceLocation: sourceLocation)
        case .invalid(let expected):
            guard let problem else {
                Issue.record("\"\(input)\" should be rejected (\(expected))", sourceLocation: sourceLocation)
                return
            }
            #expect(problem.contains(expected), "\"\(input)\": \(problem)", sourceLocation: sourceLocation)
        }
    }
}

private let label63 = "a123456789b123456789c123456789d123456789e123456789f123456789abc"

@Suite struct HostnameTests {
    static let cases: [(String, Bool, FormatVerdict)] = [
        ("example.com", false, .valid),
        ("a.b.c.example.com", false, .valid),
        ("localhost", false, .valid),
        ("xn--bcher-kva.example", false, .valid),
        ("192.0.2.1", false, .valid),
        ("\(label63).example.com", false, .valid),
        ("\(label63).\(label63).\(label63).\(label63.dropLast(2))", false, .valid),  // 253 characters
        ("*.example.com", true, .valid),
        ("*.a.example.com", true, .valid),
        ("*.example.com", false, .invalid("wildcards are not allowed here")),
        ("*.com", true, .invalid("a wildcard must be followed by at least two labels")),
        ("*", true, .invalid("a wildcard must be followed by at least two labels")),
        ("a.*.example.com", true, .invalid("a wildcard may only be the whole leftmost label")),
        ("*a.example.com", true, .invalid("a wildcard may only be the whole leftmost label")),
        ("*.*.example.com", true, .invalid("a wildcard may only be the whole leftmost label")),
        ("shop_1.example.com", false, .invalid("may hold only letters, digits, '-' and '.'")),
        ("Example.com", false, .invalid("may hold only")),
        ("münchen.de", false, .invalid("may hold only")),
        ("a b.example.com", false, .invalid("may hold only")),
        ("", false, .invalid("must not be empty")),
        ("a..example.com", false, .invalid("has an empty label")),
        (".example.com", false, .invalid("has an empty label")),
        ("example.com.", false, .invalid("has an empty label")),
        ("-a.example.com", false, .invalid("starts or ends with '-'")),
        ("a-.example.com", false, .invalid("starts or ends with '-'")),
        ("\(label63)d.example.com", false, .invalid("has a label longer than 63 characters")),
        ("\(label63).\(label63).\(label63).\(label63)", false, .invalid("is longer than 253 characters")),
    ]

    @Test(arguments: cases)
    func checkHostname(_ host: String, allowWildcard: Bool, verdict: FormatVerdict) {
        verdict.check(Formats.checkHostname(host, allowWildcard: allowWildcard), host)
    }

    @Test(arguments: [
        ("Shop.Example.COM.", "shop.example.com"),
        ("shop.example.com", "shop.example.com"),
        ("*.API.example.com", "*.api.example.com"),
        ("a..", "a."),
        (".", "."),
    ])
    func normalizeHost(_ raw: String, normalized: String) {
        #expect(Formats.normalizeHost(raw) == normalized)
    }
}

@Suite struct PathAndHashFormatTests {
    @Test(arguments: [
        ("/", FormatVerdict.valid),
        ("/api", .valid),
        ("/api/", .valid),
        ("/a-b_c~d/%20e", .valid),
        ("/.well-known/acme-challenge", .valid),
        ("/...", .valid),
        ("api", .invalid("must start with '/'")),
        ("", .invalid("must start with '/'")),
        ("/search?q=1", .invalid("must not contain a query or fragment")),
        ("/page#top", .invalid("must not contain a query or fragment")),
        ("/my files", .invalid("must not contain spaces or control characters")),
        ("/a\tb", .invalid("must not contain spaces or control characters")),
        ("/a\u{7f}", .invalid("must not contain spaces or control characters")),
        ("/a/./b", .invalid("must not contain '.' or '..' segments")),
        ("/static/../admin", .invalid("must not contain '.' or '..' segments")),
        ("/..", .invalid("must not contain '.' or '..' segments")),
        ("/a/..", .invalid("must not contain '.' or '..' segments")),
        ("/a//b", .invalid("must not contain empty segments")),
        ("//", .invalid("must not contain empty segments")),
    ])
    func checkPath(_ path: String, verdict: FormatVerdict) {
        verdict.check(Formats.checkPath(path), path)
    }

    @Test(arguments: [
        ("^/api/v[0-9]+/.*$", FormatVerdict.valid),
        ("/static/.*\\.(css|js)", .valid),
        ("^/api/(v1|v2", .invalid("is not a valid regular expression")),
        ("[a-", .invalid("is not a valid regular expression")),
        ("*", .invalid("is not a valid regular expression")),
        ("", .invalid("must not be empty")),
    ])
    func checkRegex(_ pattern: String, verdict: FormatVerdict) {
        verdict.check(Formats.checkRegex(pattern), pattern)
    }

    static let sha = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"

    @Test(arguments: [
        ("64 lower-case digits", sha, FormatVerdict.valid),
        ("64 upper-case digits", sha.uppercased(), .valid),
        ("63 digits", String(sha.dropLast()), .invalid("must be 64 hexadecimal digits")),
        ("65 digits", sha + "0", .invalid("must be 64 hexadecimal digits")),
        ("a non-hex digit", String(sha.dropLast()) + "g", .invalid("must be 64 hexadecimal digits")),
        ("empty", "", .invalid("must be 64 hexadecimal digits")),
        ("surrounding spaces", " \(sha.dropFirst().dropLast()) ", .invalid("must be 64 hexadecimal digits")),
        ("the plain token", "hunter2", .invalid("must be 64 hexadecimal digits")),
    ])
    func checkSHA256(_ name: String, _ hash: String, verdict: FormatVerdict) {
        verdict.check(Formats.checkSHA256(hash), hash)
    }

    static let salt = "C6UzMDM.H6dfI/f/IKxGhuYzvo6i1lNYVxy7fMvtaGUY8sDKt3m7W"  // 53 characters

    @Test(arguments: [
        ("$2b$ cost 12", "$2b$12$" + salt, FormatVerdict.valid),
        ("$2a$ cost 04", "$2a$04$" + salt, .valid),
        ("$2y$ cost 31", "$2y$31$" + salt, .valid),
        ("$2x$ variant", "$2x$12$" + salt, .invalid("must be a bcrypt hash")),
        ("$2$ without variant", "$2$12$" + salt + "x", .invalid("must be a bcrypt hash")),
        ("cost 03", "$2b$03$" + salt, .invalid("must be a bcrypt hash")),
        ("cost 32", "$2b$32$" + salt, .invalid("must be a bcrypt hash")),
        ("one-digit cost", "$2b$4$" + salt + "x", .invalid("must be a bcrypt hash")),
        ("cost with a plus sign", "$2b$+4$" + salt, .invalid("must be a bcrypt hash")),
        ("59 characters", "$2b$12$" + salt.dropLast(), .invalid("must be a bcrypt hash")),
        ("61 characters", "$2b$12$" + salt + "x", .invalid("must be a bcrypt hash")),
        ("not bcrypt base64", "$2b$12$" + salt.dropLast() + "!", .invalid("must be a bcrypt hash")),
        ("md5-crypt", "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", .invalid("must be a bcrypt hash")),
        ("empty", "", .invalid("must be a bcrypt hash")),
    ])
    func checkBcrypt(_ name: String, _ hash: String, verdict: FormatVerdict) {
        verdict.check(Formats.checkBcrypt(hash), hash)
    }

    @Test(arguments: [
        ("LOG_LEVEL", FormatVerdict.valid), ("_PRIVATE", .valid), ("a1", .valid),
        ("1BAD", .invalid("not starting with a digit")), ("LOG-LEVEL", .invalid("must be letters")),
        ("", .invalid("must be letters")), ("ÄRGER", .invalid("must be letters")), ("A B", .invalid("must be letters")),
    ])
    func checkEnvName(_ name: String, verdict: FormatVerdict) {
        verdict.check(Formats.checkEnvName(name), name)
    }

    @Test(arguments: [
        ("X-Auth-Request-User", FormatVerdict.valid), ("x_custom", .valid), ("X!#$%&'*+-.^_`|~", .valid),
        ("X Email", .invalid("is not a valid header name")), ("", .invalid("is not a valid header name")),
        ("X-User:", .invalid("is not a valid header name")), ("Über", .invalid("is not a valid header name")),
    ])
    func checkHeaderName(_ name: String, verdict: FormatVerdict) {
        verdict.check(Formats.checkHeaderName(name), name)
    }

    @Test(arguments: [
        ("web", FormatVerdict.valid), ("orders-api-2", .valid), (label63, .valid),
        ("", .invalid("must not be empty")), (label63 + "d", .invalid("at most 63 are allowed")),
        ("Web", .invalid("may hold only lower-case letters")), ("web_1", .invalid("may hold only")),
        ("web.shop", .invalid("may hold only")), ("-web", .invalid("must start and end")), ("web-", .invalid("must start and end")),
    ])
    func checkName(_ name: String, verdict: FormatVerdict) {
        verdict.check(Formats.checkName(name), name)
    }
}

@Suite struct URLFormatTests {
    @Test(arguments: [
        ("http://backend", FormatVerdict.valid),
        ("https://a.example.com:8443/path/to", .valid),
        ("http://127.0.0.1:8080", .valid),
        ("http://[::1]:8080/x", .valid),
        ("HTTPS://EXAMPLE.COM/", .valid),
        ("http://backend/?q=1", .valid),  // query strings are the route loader's business
        ("ftp://files.example.com/", .invalid("must use http:// or https://, not ftp://")),
        ("mailto:ops@example.com", .invalid("must use http:// or https://, not mailto://")),
        ("http://", .invalid("has no host")),
        ("https:///keys", .invalid("has no host")),
        ("https://user:secret@backend.example.com/", .invalid("must not carry credentials")),
        ("https://user@backend.example.com/", .invalid("must not carry credentials")),
        ("http://backend/#top", .invalid("must not have a fragment")),
        ("http://backend:0/", .invalid("has an invalid port")),
        ("not a url", .invalid("is not a valid URL")),
        ("", .invalid("is not a valid URL")),
        ("/relative/path", .invalid("is not a valid URL")),
    ])
    func checkHTTPURL(_ url: String, verdict: FormatVerdict) {
        verdict.check(Formats.checkHTTPURL(url), url)
    }

    @Test(arguments: [
        ("http://localhost:8080/", true),
        ("http://LOCALHOST/", true),
        ("http://127.0.0.1/keys", true),
        ("http://127.1.2.3:9000/", true),
        ("http://[::1]:5556/keys", true),
        ("http://example.com/", false),
        ("https://10.0.0.1/", false),
        ("http://localhost.example.com/", false),
        ("http://mylocalhost/", false),
        ("not a url", false),
        // A DNS name that merely starts with "127." resolves wherever its owner wants.
        ("http://127.example.com/jwks", false),
        ("http://127.0.0.1.nip.io/jwks", false),
        ("http://[::2]/", false),
        ("http://0.0.0.0:5556/", false),
        ("http://[0:0:0:0:0:0:0:1]:5556/keys", true),
    ])
    func isLoopbackURL(_ url: String, loopback: Bool) {
        #expect(Formats.isLoopbackURL(url) == loopback)
    }
}

@Suite struct CIDRTests {
    static func parsed(_ text: String) -> String {
        switch CIDR.parse(text) {
        case .success(let cidr): "\(cidr)"
        case .failure(.invalidAddress): "invalid address"
        case .failure(.invalidPrefix): "invalid prefix"
        case .failure(.hostBitsSet(let suggestion)): "host bits set, did you mean \(suggestion)"
        }
    }

    @Test(arguments: [
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("192.0.2.7", "192.0.2.7/32"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("255.255.255.255/32", "255.255.255.255/32"),
        ("172.16.0.0/12", "172.16.0.0/12"),
        ("10.1.2.3/8", "host bits set, did you mean 10.0.0.0/8"),
        ("192.168.1.1/24", "host bits set, did you mean 192.168.1.0/24"),
        ("172.16.0.1/12", "host bits set, did you mean 172.16.0.0/12"),
        ("10.0.0.1/0", "host bits set, did you mean 0.0.0.0/0"),
        ("10.0.0.0/33", "invalid prefix"),
        ("10.0.0.0/", "invalid prefix"),
        ("10.0.0.0/+8", "invalid prefix"),
        ("10.0.0.0/-1", "invalid prefix"),
        ("10.0.0.0/eight", "invalid prefix"),
        ("10.0.0.0/08", "invalid prefix"),
        ("0.0.0.0/-0", "invalid prefix"),
        ("10.0.0.300", "invalid address"),
        ("10.0.0", "invalid address"),
        ("10.0.0.0.0", "invalid address"),
        ("01.2.3.4", "invalid address"),
        ("1.2.3.4 ", "invalid address"),
        ("a.b.c.d", "invalid address"),
        ("", "invalid address"),
        ("/8", "invalid address"),
    ])
    func ipv4(_ text: String, expected: String) {
        #expect(Self.parsed(text) == expected)
    }

    @Test(arguments: [
        ("::", "::/128"),
        ("::/0", "::/0"),
        ("::1", "::1/128"),
        ("2001:db8::/32", "2001:db8::/32"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1/128"),
        ("2001:db8:0:0::/64", "2001:db8::/64"),
        ("fe80::/10", "fe80::/10"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8/128"),
        ("1::", "1::/128"),
        ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304/128"),
        // RFC 5952: the longest run of zero groups is compressed, the first on a tie, never a single group.
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1/128"),
        ("1:0:0:2:0:0:3:4", "1::2:0:0:3:4/128"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1/128"),
        ("2001:db8::1/32", "host bits set, did you mean 2001:db8::/32"),
        ("fe80::1/64", "host bits set, did you mean fe80::/64"),
        ("2001:db8::/129", "invalid prefix"),
        ("1:2:3:4:5:6:7:8:9", "invalid address"),
        ("1:2:3:4:5:6:7", "invalid address"),
        ("1::2::3", "invalid address"),
        ("2001:db8:::1", "invalid address"),
        ("12345::", "invalid address"),
        ("::g", "invalid address"),
        (":1::", "invalid address"),
        ("1:2:3:4:5:6:7::8", "invalid address"),
        ("::1.2.3.4:5", "invalid address"),
        ("::ffff:1.2.3.256", "invalid address"),
        // An embedded IPv4 address may only be the last 32 bits (RFC 4291 §2.2).
        ("1.2.3.4::", "invalid address"),
    ])
    func ipv6(_ text: String, expected: String) {
        #expect(Self.parsed(text) == expected)
    }

    @Test func ipv4MappedAddressParsesToItsBytes() throws {
        let cidr = try CIDR.parse("::ffff:1.2.3.4").get()
        #expect(cidr.address == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4])
        #expect(cidr.prefixLength == 128)
        #expect(CIDR.parseAddress("::") == [UInt8](repeating: 0, count: 16))
        #expect(CIDR.parseAddress("10.0.0.1") == [10, 0, 0, 1])
    }

    @Test(arguments: [
        ("10.0.0.0/8", "10.1.2.3", true),
        ("10.0.0.0/8", "10.255.255.255", true),
        ("10.0.0.0/8", "11.0.0.0", false),
        ("192.0.2.7", "192.0.2.7", true),
        ("192.0.2.7", "192.0.2.8", false),
        ("0.0.0.0/0", "203.0.113.9", true),
        ("0.0.0.0/0", "2001:db8::1", false),
        ("10.0.0.0/8", "::ffff:10.1.2.3", true),
        ("10.0.0.0/8", "::ffff:11.0.0.1", false),
        ("10.0.0.0/8", "::10.1.2.3", false),  // IPv4-compatible, not IPv4-mapped
        ("10.0.0.0/8", "::ffff:0:10.1.2.3", false),
        ("2001:db8::/32", "2001:db8:ffff::1", true),
        ("2001:db8::/32", "2001:db9::", false),
        ("::/0", "fe80::1", true),
        ("::/0", "10.0.0.1", false),
        ("::ffff:0:0/96", "::ffff:10.0.0.1", true),
        ("::1", "::1", true),
        ("::1", "::2", false),
        ("fe80::/10", "febf::1", true),
        ("fe80::/10", "fec0::1", false),
    ])
    func contains(_ network: String, _ address: String, expected: Bool) throws {
        let cidr = try CIDR.parse(network).get()
        let bytes = try #require(CIDR.parseAddress(address))
        #expect(cidr.contains(bytes) == expected)
    }
}

@Suite struct DurationTests {
    @Test(arguments: [
        ("500ms", 500), ("10s", 10_000), ("1m30s", 90_000), ("2h", 7_200_000), ("1.5s", 1_500), (".5s", 500),
        ("0s", 0), ("1h1m1s1ms", 3_661_001), ("24h", 86_400_000), ("90000ms", 90_000), ("1m1m", 120_000),
    ])
    func parses(_ text: String, milliseconds: Int) {
        #expect(Duration.parseMilliseconds(text) == milliseconds)
    }

    @Test(arguments: ["", "10", "s", "ms", "-1s", "10 s", " 10s", "1d", "1us", "1S", "25h", "24h1ms", "1.2.3s", "1e3s", "５s", "ten seconds"])
    func rejects(_ text: String) {
        #expect(Duration.parseMilliseconds(text) == nil)
    }

    @Test(arguments: [
        (0, "0s"), (1, "1ms"), (999, "999ms"), (1_000, "1s"), (1_500, "1500ms"), (60_000, "1m"), (90_000, "90s"),
        (3_600_000, "1h"), (5_400_000, "90m"), (86_400_000, "24h"),
    ])
    func formats(_ milliseconds: Int, text: String) {
        #expect(Duration.format(milliseconds: milliseconds) == text)
        #expect(Duration.parseMilliseconds(text) == milliseconds)
    }

    @Test func formatRoundTripsEveryDurationItParses() {
        for milliseconds in [1, 7, 10, 999, 1_001, 59_999, 61_000, 3_599_999, 3_660_000, 43_200_000, 86_399_999] {
            #expect(Duration.parseMilliseconds(Duration.format(milliseconds: milliseconds)) == milliseconds)
        }
    }
}

@Suite struct QuantityTests {
    @Test(arguments: [
        ("0", 0), ("1", 1), ("1048576", 1_048_576), ("1k", 1_000), ("1K", 1_000), ("1Ki", 1_024), ("4Mi", 4 << 20),
        ("512Mi", 512 << 20), ("1M", 1_000_000), ("1G", 1_000_000_000), ("2Gi", 2 << 30),
        ("9223372036854775807", Int.max),
    ])
    func parsesBytes(_ text: String, bytes: Int) {
        #expect(Quantity.parseBytes(text) == bytes)
    }

    @Test(arguments: ["", "Mi", "1.5Gi", "1 Mi", "1mi", "1m", "1Ti", "-1", "1KiB", "256MB", "9223372036854775808", "99999999999Gi", "８Mi"])
    func rejectsBytes(_ text: String) {
        #expect(Quantity.parseBytes(text) == nil)
    }

    @Test(arguments: [
        ("1", 1_000), ("2", 2_000), ("0.5", 500), (".5", 500), ("0.001", 1), ("1.25", 1_250), ("00.5", 500), ("1024", 1_024_000),
    ])
    func parsesCPUs(_ text: String, milli: Int) {
        #expect(Quantity.parseMilliCPUs(text) == milli)
    }

    @Test(arguments: ["", "0", "0.0", "1.", ".", "0.0005", "-1", "+1", "1e3", "two", "1,5", "1..5", "1024.001", "2048", "99999999999999999999"])
    func rejectsCPUs(_ text: String) {
        #expect(Quantity.parseMilliCPUs(text) == nil)
    }

    /// A 16-digit CPU count fits in Int but overflows when scaled to thousandths.
    @Test func hugeCPUCountIsRejectedWithoutTrapping() async {
        await #expect(processExitsWith: .success) {
            precondition(Quantity.parseMilliCPUs("9999999999999999") == nil)
        }
    }

    @Test func hugeCPUCountInARepositoryIsADiagnostic() async {
        await #expect(processExitsWith: .success) {
            let yaml = "apiVersion: berth/v1\nkind: Instance\nmetadata:\n  name: web\nspec:\n  image: nginx\n  resources:\n    cpus: \"9999999999999999\"\n"
            let result = SpecLoader.load(files: [(path: "i.yaml", contents: Array(yaml.utf8))])
            precondition(result.diagnostics.map(\.code) == ["invalid-value"])
        }
    }

    @Test(arguments: [
        (1_000, "1"), (2_000, "2"), (500, "0.5"), (1, "0.001"), (10, "0.01"), (1_250, "1.25"), (1_500, "1.5"), (100_500, "100.5"),
    ])
    func formatsCPUs(_ milli: Int, text: String) {
        #expect(Quantity.formatMilliCPUs(milli) == text)
        #expect(Quantity.parseMilliCPUs(text) == milli)
    }
}

@Suite struct SuggestionTests {
    @Test(arguments: [
        ("", "", 0), ("abc", "", 3), ("", "abc", 3), ("abc", "abc", 0),
        ("kitten", "sitting", 3), ("flaw", "lawn", 2), ("Route", "route", 1),
        ("ab", "ba", 1), ("abcd", "acbd", 1), ("priorty", "priority", 1), ("instnace", "instance", 1), ("dokcer", "docker", 1),
        ("ca", "abc", 3),  // optimal string alignment: a transposed pair is not edited again
        ("héllo", "hello", 1),
    ])
    func editDistance(_ a: String, _ b: String, distance: Int) {
        #expect(Suggestion.editDistance(a, b) == distance)
        #expect(Suggestion.editDistance(b, a) == distance)
    }

    static let routeFields = ["domain", "hosts", "path", "pathType", "methods", "priority", "to", "auth", "stripPrefix"]

    @Test(arguments: [
        ("priorty", routeFields, "priority"),
        ("pathtype", routeFields, "pathType"),
        ("stripprefix", routeFields, "stripPrefix"),
        ("hostz", routeFields, "hosts"),
        ("TLS", ["hosts", "tls", "redirectHTTP"], "tls"),
        ("acmee", ["acme", "self-signed", "none"], "acme"),
        ("Rout", ["Domain", "AuthPolicy", "Instance", "Route"], "Route"),
        ("instnace", ["instance", "port", "url"], "instance"),
        ("cat", ["bat", "cot"], "bat"),  // a tie goes to the first candidate
        ("shopp", ["api", "shop", "shops"], "shop"),
    ] as [(String, [String], String)])
    func closest(_ word: String, _ candidates: [String], expected: String) {
        #expect(Suggestion.closest(to: word, in: candidates) == expected)
    }

    @Test(arguments: [
        ("namespace", ["name", "labels", "annotations"]),
        ("rewrite", routeFields),
        ("glob", ["prefix", "exact", "regex"]),
        ("FETCH", ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"]),
        ("anything", []),
    ] as [(String, [String])])
    func noSuggestionWhenNothingIsClose(_ word: String, _ candidates: [String]) {
        #expect(Suggestion.closest(to: word, in: candidates) == nil)
    }
}

@Suite struct ListenAddressTests {
    @Test(arguments: [
        ("127.0.0.1:9000", "127.0.0.1", 9000), (":80", "0.0.0.0", 80), ("[::1]:8443", "::1", 8443), ("0.0.0.0:0", "0.0.0.0", 0),
    ] as [(String, String, Int)])
    func parses(_ text: String, host: String, port: Int) {
        #expect(ListenAddress(text)?.host == host)
        #expect(ListenAddress(text)?.port == port)
    }

    @Test(arguments: ["9000", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "[::1]", "host:http"])
    func rejects(_ text: String) {
        #expect(ListenAddress(text) == nil)
    }
}

import Foundation
import Spec
import Testing

/// Keeps three descriptions of the YAML format from drifting apart: the JSON Schema editors use
/// (`spec/berth.schema.json`), the Swift loader, and the examples operators copy from. The schema
/// is checked with python3-jsonschema, a validator independent of this package; a missing
/// validator is a failure, never a skip.
@Suite struct SchemaTests {
    // MARK: Examples and fixtures

    @Test func everyExampleAndValidFixtureMatchesTheSchema() throws {
        let files = SchemaPaths.yamlFiles(under: SchemaPaths.examples) + SchemaPaths.yamlFiles(under: SchemaPaths.validFixtures)
        try #require(!SchemaPaths.yamlFiles(under: SchemaPaths.examples).isEmpty, "no YAML files under \(SchemaPaths.examples.path)")
        let items = try files.map { file in
            (id: SchemaPaths.relative(file), yaml: try String(contentsOf: file, encoding: .utf8))
        }
        let results = try SchemaValidation.run(items)
        for item in items {
            let problems = results[item.id] ?? ["no result from the schema validator"]
            #expect(problems.isEmpty, "\(item.id) does not match spec/berth.schema.json:\n\(problems.joined(separator: "\n"))")
        }
    }

    @Test(arguments: SchemaPaths.exampleDirectories)
    func exampleLoadsWithoutDiagnostics(_ directory: String) throws {
        let root = SchemaPaths.examples.appendingPathComponent(directory)
        let files = try SchemaPaths.yamlFiles(under: root).map { file in
            (path: String(file.path.dropFirst(root.path.count + 1)), contents: [UInt8](try Data(contentsOf: file)))
        }
        let result = SpecLoader.load(files: files)
        #expect(result.diagnostics.isEmpty, "examples/\(directory):\n\(result.diagnostics.map(\.rendered).joined(separator: "\n"))")
        #expect(result.state.count > 0, "examples/\(directory) declares no resources")
    }

    @Test(arguments: SchemaPaths.exampleDirectories)
    func exampleFilesPointEditorsAtTheSchema(_ directory: String) throws {
        let root = SchemaPaths.examples.appendingPathComponent(directory)
        let schema = SchemaPaths.schema.standardizedFileURL.path
        for file in SchemaPaths.yamlFiles(under: root) {
            let firstLine = try String(contentsOf: file, encoding: .utf8).split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
            let marker = "# yaml-language-server: $schema="
            guard firstLine.hasPrefix(marker) else {
                Issue.record("\(SchemaPaths.relative(file)): first line must be `\(marker)<relative path to spec/berth.schema.json>`")
                continue
            }
            let target = URL(fileURLWithPath: String(firstLine.dropFirst(marker.count)), relativeTo: file.deletingLastPathComponent())
            #expect(target.standardizedFileURL.path == schema, "\(SchemaPaths.relative(file)): $schema points at \(target.standardizedFileURL.path)")
        }
    }

    /// The quickstart documents its demo token; the hash in the file must really be that token's.
    @Test func quickstartTokenHashIsTheDocumentedToken() throws {
        let text = try String(contentsOf: SchemaPaths.examples.appendingPathComponent("quickstart/auth.yaml"), encoding: .utf8)
        #expect(text.contains("sha256: \(SHA256.hex("demo-token"))"))
    }

    // MARK: Case tables: the schema and the loader must agree

    @Test(arguments: SchemaCase.invalid)
    func invalidDocumentIsRejectedByBoth(_ specCase: SchemaCase) throws {
        let problems = try #require(try SchemaCase.schemaResults.get()[specCase.name])
        #expect(!problems.isEmpty, "the schema accepts it")
        let diagnostics = SpecLoader.load(files: [(path: "case.yaml", contents: Array(specCase.yaml.utf8))]).diagnostics
        #expect(diagnostics.contains { $0.code == specCase.loaderCode },
                "the loader should report \(specCase.loaderCode ?? "-"); it reported:\n\(diagnostics.map(\.rendered).joined(separator: "\n"))")
    }

    @Test(arguments: SchemaCase.valid)
    func validEdgeCaseIsAcceptedByBoth(_ specCase: SchemaCase) throws {
        let problems = try #require(try SchemaCase.schemaResults.get()[specCase.name])
        #expect(problems.isEmpty, "the schema rejects it:\n\(problems.joined(separator: "\n"))")
        let result = SpecLoader.load(files: [(path: "case.yaml", contents: Array(specCase.yaml.utf8))])
        #expect(result.diagnostics.isEmpty, "the loader rejects it:\n\(result.diagnostics.map(\.rendered).joined(separator: "\n"))")
        #expect(result.state.count > 0)
    }
}

// MARK: - Paths

private enum SchemaPaths {
    /// Tests/SpecTests/SchemaTests.swift → the package root.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let schema = root.appendingPathComponent("spec/berth.schema.json")
    static let examples = root.appendingPathComponent("examples")
    static let validFixtures = root.appendingPathComponent("Tests/Fixtures/spec/valid")

    /// Every `*.yaml` / `*.yml` under `directory`, recursively, sorted; empty when it does not exist.
    static func yamlFiles(under directory: URL) -> [URL] {
        guard let enumerator = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else { return [] }
        return enumerator.compactMap { $0 as? URL }
            .filter { ["yaml", "yml"].contains($0.pathExtension.lowercased()) }
            .sorted { $0.path < $1.path }
    }

    /// Each directory directly under `examples/` is one repository.
    static var exampleDirectories: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: examples.path)) ?? []
        return names.filter { !yamlFiles(under: examples.appendingPathComponent($0)).isEmpty }.sorted()
    }

    static func relative(_ file: URL) -> String {
        let path = file.standardizedFileURL.path, base = root.standardizedFileURL.path + "/"
        return path.hasPrefix(base) ? String(path.dropFirst(base.count)) : path
    }
}

// MARK: - Schema validation through python3-jsonschema

private struct SchemaValidationFailure: Error, CustomStringConvertible {
    var description: String
}

private enum SchemaValidation {
    static let python = "/usr/bin/python3"
    static let install = "apt-get install python3-jsonschema python3-yaml"

    /// Validates each document of every item against the schema (draft 2020-12, format assertions off).
    /// Returns item id → problems, one line each; an empty list means every document matches.
    static func run(_ items: [(id: String, yaml: String)]) throws -> [String: [String]] {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw SchemaValidationFailure(description: "\(python) is missing; the schema tests need it: \(install)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let request = directory.appendingPathComponent("request.json"), response = directory.appendingPathComponent("response.json")
        let body: [String: Any] = ["schema": SchemaPaths.schema.path, "items": items.map { ["id": $0.id, "yaml": $0.yaml] }]
        try JSONSerialization.data(withJSONObject: body).write(to: request)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script, request.path, response.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let messages = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        switch process.terminationStatus {
        case 0: break
        case 3: throw SchemaValidationFailure(description: "python3 lacks a module the schema tests need (\(messages.trimmingCharacters(in: .whitespacesAndNewlines))): \(install)")
        default: throw SchemaValidationFailure(description: "schema validation failed to run (exit \(process.terminationStatus)):\n\(messages)")
        }
        guard let decoded = try JSONSerialization.jsonObject(with: Data(contentsOf: response)) as? [String: [String]] else {
            throw SchemaValidationFailure(description: "the schema validator wrote an unexpected answer")
        }
        return decoded
    }

    static let script = #"""
        import json, sys
        try:
            import yaml
            from jsonschema import Draft202012Validator
        except ImportError as error:
            sys.stderr.write(str(error) + "\n")
            sys.exit(3)
        with open(sys.argv[1]) as f:
            request = json.load(f)
        with open(request["schema"]) as f:
            schema = json.load(f)
        Draft202012Validator.check_schema(schema)
        validator = Draft202012Validator(schema)  # no format_checker: "format" is not asserted
        results = {}
        for item in request["items"]:
            problems = []
            try:
                documents = list(yaml.safe_load_all(item["yaml"]))
            except yaml.YAMLError as error:
                problems.append("YAML: %s" % error)
                documents = []
            for index, document in enumerate(documents):
                if document is None:
                    continue
                for error in sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]):
                    where = ".".join(str(p) for p in error.absolute_path) or "(document)"
                    problems.append("document %d, %s: %s" % (index + 1, where, error.message))
            results[item["id"]] = problems
        with open(sys.argv[2], "w") as f:
            json.dump(results, f)
        """#
}

// MARK: - Cases

struct SchemaCase: Sendable, CustomTestStringConvertible {
    var name: String
    var yaml: String
    /// The diagnostic code the loader must report; nil for a valid case.
    var loaderCode: String?

    var testDescription: String { name }

    /// The schema's verdict on every case, computed in one python run.
    fileprivate static let schemaResults: Result<[String: [String]], any Error> = Result {
        try SchemaValidation.run((invalid + valid).map { (id: $0.name, yaml: $0.yaml) })
    }

    /// A document of `kind` named `name` whose spec is `spec` (written unindented).
    static func document(_ kind: String, _ name: String, _ spec: String) -> String {
        let indented = spec.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "  " + $0 }
        return "apiVersion: berth/v1\nkind: \(kind)\nmetadata:\n  name: \(name)\nspec:\n" + indented.joined(separator: "\n") + "\n"
    }

    static func reject(_ name: String, code: String, _ yaml: String) -> SchemaCase { SchemaCase(name: name, yaml: yaml, loaderCode: code) }
    static func accept(_ name: String, _ yaml: String) -> SchemaCase { SchemaCase(name: name, yaml: yaml, loaderCode: nil) }

    static let urlRoute = "hosts: [shop.example.test]\nto:\n  url: http://127.0.0.1:8081"
    static let sha = String(repeating: "ab", count: 32)
    static let bcrypt = "$2b$12$L3OGl98o2kEMSZYLFsdNWOt9mWFacIT6viFSyOLNF9LAwnEsML/fe"

    static let invalid: [SchemaCase] = [
        // Document header
        .reject("missing metadata.name", code: "missing-field",
                 "apiVersion: berth/v1\nkind: Domain\nmetadata:\n  labels: {team: edge}\nspec:\n  hosts: [shop.example.test]\n"),
        .reject("metadata.name not a DNS label", code: "invalid-name", document("Domain", "Shop_Main", "hosts: [shop.example.test]")),
        .reject("wrong apiVersion", code: "invalid-value",
                 "apiVersion: berth/v2\nkind: Domain\nmetadata:\n  name: shop\nspec:\n  hosts: [shop.example.test]\n"),
        .reject("unknown kind", code: "unknown-kind",
                 "apiVersion: berth/v1\nkind: Service\nmetadata:\n  name: shop\nspec:\n  hosts: [shop.example.test]\n"),
        .reject("unknown top-level field", code: "unknown-field",
                 "apiVersion: berth/v1\nkind: Domain\nmetadata:\n  name: shop\nspec:\n  hosts: [shop.example.test]\nstatus: {}\n"),
        .reject("unknown metadata field", code: "unknown-field",
                 "apiVersion: berth/v1\nkind: Domain\nmetadata:\n  name: shop\n  namespace: prod\nspec:\n  hosts: [shop.example.test]\n"),
        .reject("missing spec", code: "missing-field", "apiVersion: berth/v1\nkind: Domain\nmetadata:\n  name: shop\n"),
        // Domain
        .reject("Domain tls not an enum value", code: "invalid-value", document("Domain", "shop", "hosts: [shop.example.test]\ntls: letsencrypt")),
        .reject("Domain without hosts", code: "missing-field", document("Domain", "shop", "tls: acme")),
        .reject("Domain with empty hosts", code: "empty-list", document("Domain", "shop", "hosts: []")),
        .reject("wildcard over a single label", code: "invalid-hostname", document("Domain", "shop", "hosts: ['*.com']")),
        .reject("wildcard inside a label", code: "invalid-hostname", document("Domain", "shop", "hosts: ['shop*.example.test']")),
        .reject("wildcard with tls acme (the default)", code: "acme-wildcard", document("Domain", "shop", "hosts: ['*.shop.example.test']")),
        .reject("hostname with underscore", code: "invalid-hostname", document("Domain", "shop", "hosts: [shop_1.example.test]")),
        .reject("redirectHTTP with tls none", code: "conflict", document("Domain", "shop", "hosts: [shop.example.test]\ntls: none\nredirectHTTP: true")),
        .reject("redirectHTTP not a boolean", code: "wrong-type", document("Domain", "shop", "hosts: [shop.example.test]\nredirectHTTP: \"true\"")),
        .reject("acme with tls self-signed", code: "conflict",
                document("Domain", "shop", "hosts: [shop.example.test]\ntls: self-signed\nacme: {email: ops@example.test}")),
        .reject("acme directory over plain http", code: "invalid-url",
                document("Domain", "shop", "hosts: [shop.example.test]\nacme: {directory: 'http://ca.example.test/dir'}")),
        .reject("acme email without a domain", code: "invalid-email", document("Domain", "shop", "hosts: [shop.example.test]\nacme: {email: ops}")),
        .reject("acme unknown field", code: "unknown-field", document("Domain", "shop", "hosts: [shop.example.test]\nacme: {server: x}")),
        .reject("hsts with tls none", code: "conflict", document("Domain", "shop", "hosts: [shop.example.test]\ntls: none\nhsts: {maxAge: 60}")),
        .reject("hsts without maxAge", code: "missing-field", document("Domain", "shop", "hosts: [shop.example.test]\nhsts: {includeSubdomains: true}")),
        .reject("hsts maxAge above two years", code: "out-of-range", document("Domain", "shop", "hosts: [shop.example.test]\nhsts: {maxAge: 99999999}")),
        .reject("hsts preload without includeSubdomains", code: "conflict",
                document("Domain", "shop", "hosts: [shop.example.test]\nhsts: {maxAge: 31536000, preload: true}")),
        // Route
        .reject("unknown field priorty", code: "unknown-field", document("Route", "web", urlRoute + "\npriorty: 10")),
        .reject("pathType glob", code: "invalid-value", document("Route", "web", urlRoute + "\npath: /static\npathType: glob")),
        .reject("Route with both domain and hosts", code: "conflict",
                 document("Domain", "shop", "hosts: [shop.example.test]") + "---\n"
                 + document("Route", "web", "domain: shop\n" + urlRoute)),
        .reject("Route with neither domain nor hosts", code: "missing-field", document("Route", "web", "to:\n  url: http://127.0.0.1:8081")),
        .reject("Route without to", code: "missing-field", document("Route", "web", "hosts: [shop.example.test]")),
        .reject("to with both instance and url", code: "conflict",
                 document("Route", "web", "hosts: [shop.example.test]\nto:\n  instance: files\n  url: http://127.0.0.1:8081")),
        .reject("to with neither instance nor url", code: "missing-field",
                 document("Route", "web", "hosts: [shop.example.test]\nto:\n  port: http")),
        .reject("to.port with url", code: "conflict",
                 document("Route", "web", "hosts: [shop.example.test]\nto:\n  url: http://127.0.0.1:8081\n  port: http")),
        .reject("url with ftp scheme", code: "invalid-url", document("Route", "web", "hosts: [shop.example.test]\nto:\n  url: ftp://127.0.0.1/")),
        .reject("url with a query", code: "invalid-url", document("Route", "web", "hosts: [shop.example.test]\nto:\n  url: http://127.0.0.1:8081/?a=1")),
        .reject("url with credentials", code: "invalid-url", document("Route", "web", "hosts: [shop.example.test]\nto:\n  url: http://user:pw@127.0.0.1/")),
        .reject("path without leading slash", code: "invalid-path", document("Route", "web", urlRoute + "\npath: api")),
        .reject("path with dot-dot segment", code: "invalid-path", document("Route", "web", urlRoute + "\npath: /api/../admin")),
        .reject("path with empty segment", code: "invalid-path", document("Route", "web", urlRoute + "\npath: /api//v1")),
        .reject("exact path with a query", code: "invalid-path", document("Route", "web", urlRoute + "\npath: /search?q=1\npathType: exact")),
        .reject("unknown HTTP method", code: "invalid-value", document("Route", "web", urlRoute + "\nmethods: [FETCH]")),
        .reject("priority not an integer", code: "wrong-type", document("Route", "web", urlRoute + "\npriority: high")),
        .reject("priority out of range", code: "out-of-range", document("Route", "web", urlRoute + "\npriority: 2000000")),
        .reject("stripPrefix on an exact route", code: "conflict", document("Route", "web", urlRoute + "\npath: /api\npathType: exact\nstripPrefix: true")),
        .reject("empty regex", code: "invalid-regex", document("Route", "web", urlRoute + "\npath: ''\npathType: regex")),
        // AuthPolicy
        .reject("sha256 too short", code: "invalid-hash", document("AuthPolicy", "api", "bearer:\n  tokens:\n    - name: ci\n      sha256: abc123")),
        .reject("sha256 not hex", code: "invalid-hash",
                 document("AuthPolicy", "api", "bearer:\n  tokens:\n    - name: ci\n      sha256: \(String(repeating: "zz", count: 32))")),
        .reject("AuthPolicy with two mechanisms", code: "several-mechanisms",
                 document("AuthPolicy", "api", "bearer:\n  tokens:\n    - {name: ci, sha256: \(sha)}\nbasic:\n  users:\n    - {name: ops, bcrypt: '\(bcrypt)'}")),
        .reject("AuthPolicy with no mechanism", code: "no-mechanism", document("AuthPolicy", "api", "{}")),
        .reject("bearer with no tokens", code: "empty-list", document("AuthPolicy", "api", "bearer:\n  tokens: []")),
        .reject("bearer token without a hash", code: "missing-field", document("AuthPolicy", "api", "bearer:\n  tokens:\n    - name: ci")),
        .reject("plain token instead of a hash", code: "unknown-field",
                 document("AuthPolicy", "api", "bearer:\n  tokens:\n    - name: ci\n      token: s3cret")),
        .reject("bcrypt malformed", code: "invalid-hash", document("AuthPolicy", "api", "basic:\n  users:\n    - name: ops\n      bcrypt: 'hunter2'")),
        .reject("basic user name with a colon", code: "invalid-value",
                 document("AuthPolicy", "api", "basic:\n  users:\n    - name: 'ops:admin'\n      bcrypt: '\(bcrypt)'")),
        .reject("jwt without audiences", code: "missing-field",
                 document("AuthPolicy", "api", "jwt:\n  issuer: https://auth.example.test/\n  jwksURL: https://auth.example.test/jwks.json")),
        .reject("jwt jwksURL over plain http", code: "invalid-url",
                 document("AuthPolicy", "api", "jwt:\n  issuer: https://auth.example.test/\n  audiences: [shop]\n  jwksURL: http://auth.example.test/jwks.json")),
        .reject("jwt scope with a space", code: "invalid-value",
                 document("AuthPolicy", "api", "jwt:\n  issuer: https://auth.example.test/\n  audiences: [shop]\n  jwksURL: https://auth.example.test/jwks.json\n  requiredScopes: ['read write']")),
        .reject("forward without url", code: "missing-field", document("AuthPolicy", "api", "forward:\n  copyHeaders: [X-Auth-User]")),
        .reject("forward copyHeaders with a space", code: "invalid-value",
                 document("AuthPolicy", "api", "forward:\n  url: http://127.0.0.1:4181/verify\n  copyHeaders: ['X Auth User']")),
        .reject("ipAllow empty", code: "empty-list", document("AuthPolicy", "office", "ipAllow: []")),
        .reject("ipAllow not an address", code: "invalid-cidr", document("AuthPolicy", "office", "ipAllow: [10.0.0.300/8]")),
        .reject("ipAllow prefix too long", code: "invalid-cidr", document("AuthPolicy", "office", "ipAllow: [10.0.0.0/33]")),
        .reject("identityHeaders user is Host", code: "reserved-name",
                 document("AuthPolicy", "office", "ipAllow: [10.0.0.0/8]\nidentityHeaders: {user: host}")),
        .reject("identityHeaders scopes in the X-Forwarded family", code: "reserved-name",
                 document("AuthPolicy", "office", "ipAllow: [10.0.0.0/8]\nidentityHeaders: {scopes: X-Forwarded-Groups}")),
        .reject("identityHeaders user is Content-Length", code: "reserved-name",
                 document("AuthPolicy", "office", "ipAllow: [10.0.0.0/8]\nidentityHeaders: {user: Content-Length}")),
        .reject("identityHeaders name with a space", code: "invalid-value",
                 document("AuthPolicy", "office", "ipAllow: [10.0.0.0/8]\nidentityHeaders: {user: 'X Remote User'}")),
        .reject("identityHeaders empty", code: "empty-list", document("AuthPolicy", "office", "ipAllow: [10.0.0.0/8]\nidentityHeaders: {}")),
        .reject("identityHeaders unknown key", code: "unknown-field",
                 document("AuthPolicy", "office", "ipAllow: [10.0.0.0/8]\nidentityHeaders: {groups: X-Remote-Groups}")),
        // Instance
        .reject("containerPort eighty", code: "wrong-type",
                 document("Instance", "web", "image: nginx:1.27\nports:\n  - name: http\n    containerPort: eighty")),
        .reject("containerPort out of range", code: "out-of-range",
                 document("Instance", "web", "image: nginx:1.27\nports:\n  - name: http\n    containerPort: 70000")),
        .reject("docker instance without image", code: "missing-field",
                 document("Instance", "web", "ports:\n  - name: http\n    containerPort: 80")),
        .reject("docker port without containerPort", code: "missing-field", document("Instance", "web", "image: nginx:1.27\nports:\n  - name: http")),
        .reject("process instance with an image", code: "conflict",
                 document("Instance", "web", "runtime: process\nimage: nginx:1.27\ncommand: [python3, -m, http.server]")),
        .reject("process instance without command", code: "missing-field", document("Instance", "web", "runtime: process\nports:\n  - name: http")),
        .reject("process port with containerPort", code: "conflict",
                 document("Instance", "web", "runtime: process\ncommand: [python3, -m, http.server]\nports:\n  - name: http\n    containerPort: 8000")),
        .reject("command as a string", code: "wrong-type", document("Instance", "web", "image: nginx:1.27\ncommand: nginx -g 'daemon off;'")),
        .reject("unknown runtime", code: "invalid-value", document("Instance", "web", "runtime: podman\nimage: nginx:1.27")),
        .reject("image with a space", code: "invalid-value", document("Instance", "web", "image: 'nginx 1.27'")),
        .reject("replicas over 100", code: "out-of-range", document("Instance", "web", "image: nginx:1.27\nreplicas: 101")),
        .reject("port name longer than 15", code: "invalid-name",
                 document("Instance", "web", "image: nginx:1.27\nports:\n  - name: administration-ui\n    containerPort: 80")),
        .reject("env name starting with a digit", code: "invalid-value", document("Instance", "web", "image: nginx:1.27\nenv:\n  1DEBUG: 'yes'")),
        .reject("env PORT_HTTP is reserved", code: "reserved-name", document("Instance", "web", "image: nginx:1.27\nenv:\n  PORT_HTTP: '80'")),
        .reject("health without path", code: "missing-field", document("Instance", "web", "image: nginx:1.27\nhealth:\n  interval: 10s")),
        .reject("health interval in words", code: "invalid-duration",
                 document("Instance", "web", "image: nginx:1.27\nhealth:\n  path: /healthz\n  interval: 10 seconds")),
        .reject("health interval without unit", code: "invalid-duration",
                 document("Instance", "web", "image: nginx:1.27\nhealth:\n  path: /healthz\n  interval: '10'")),
        .reject("memory 512MB", code: "invalid-value", document("Instance", "web", "image: nginx:1.27\nresources:\n  memory: 512MB")),
        .reject("memory below 4Mi", code: "invalid-value", document("Instance", "web", "image: nginx:1.27\nresources:\n  memory: 4096")),
        .reject("cpus with four decimals", code: "invalid-value", document("Instance", "web", "image: nginx:1.27\nresources:\n  cpus: '0.1234'")),
        .reject("unknown resources field", code: "unknown-field", document("Instance", "web", "image: nginx:1.27\nresources:\n  gpus: 1")),
    ]

    static let valid: [SchemaCase] = [
        .accept("wildcard host", document("Route", "tenants", "hosts: ['*.shop.example.test']\nto:\n  url: http://127.0.0.1:8081")),
        .accept("acme overrides and hsts", document("Domain", "shop",
                "hosts: [shop.example.test]\ntls: acme\nacme: {directory: 'https://127.0.0.1:14000/dir', email: ops@example.test}\nhsts: {maxAge: 31536000, includeSubdomains: true, preload: true}")),
        .accept("hsts on a self-signed Domain", document("Domain", "shop", "hosts: [shop.example.test]\ntls: self-signed\nhsts: {maxAge: 300}")),
        .accept("upper-case host with a trailing dot", document("Domain", "shop", "hosts: [Shop.Example.TEST.]\ntls: self-signed\nredirectHTTP: false")),
        .accept("ipAllow-only policy", document("AuthPolicy", "office", "ipAllow:\n  - 10.0.0.0/8\n  - 192.168.1.7\n  - 2001:db8::/32\n  - '::1'")),
        .accept("bearer policy narrowed by ipAllow",
               document("AuthPolicy", "ci", "bearer:\n  tokens:\n    - name: ci\n      sha256: \(sha.uppercased())\nipAllow: [203.0.113.0/24]")),
        .accept("basic policy", document("AuthPolicy", "ops", "basic:\n  users:\n    - name: alice\n      bcrypt: '\(bcrypt)'")),
        .accept("jwt with a loopback jwksURL",
               document("AuthPolicy", "sso", "jwt:\n  issuer: https://auth.example.test/\n  audiences: [shop, shop-admin]\n  jwksURL: http://127.0.0.1:9000/jwks.json\n  requiredScopes: ['orders:read']")),
        .accept("forward auth", document("AuthPolicy", "oauth", "forward:\n  url: http://127.0.0.1:4181/verify?rd=1\n  copyHeaders: [X-Auth-User, X-Auth-Email]")),
        .accept("identity header names of the operator's own",
               document("AuthPolicy", "ci", "bearer:\n  tokens:\n    - name: ci\n      sha256: \(sha)\nidentityHeaders:\n  user: X-Remote-User\n  scopes: X-Remote-Scopes")),
        .accept("only the user header renamed", document("AuthPolicy", "office", "ipAllow: [10.0.0.0/8]\nidentityHeaders: {user: Remote-User}")),
        .accept("process instance without containerPort routed by name",
               document("Instance", "files", #"runtime: process\#ncommand: ["sh", "-c", "exec python3 -m http.server \"$PORT_HTTP\""]\#nports:\#n  - name: http\#n  - name: admin-ui"#)
               + "---\n" + document("Route", "files", "hosts: [files.example.test]\nto:\n  instance: files\n  port: http")),
        .accept("docker instance with every field",
               document("Instance", "shop-api", """
                   runtime: docker
                   image: ghcr.io/example/shop-api:1.4.2
                   command: [shop-api, --listen, "0.0.0.0:8080"]
                   env:
                     LOG_LEVEL: info
                     WORKERS: 4
                     DEBUG: false
                     _EMPTY:
                   ports:
                     - name: http
                       containerPort: 8080
                     - name: metrics
                       containerPort: 9090
                   replicas: 0
                   health:
                     path: /healthz
                     interval: 1m30s
                     timeout: 500ms
                   resources:
                     memory: 512Mi
                     cpus: 0.5
                   """)),
        .accept("memory in bytes and cpus as text", document("Instance", "web", "image: nginx:1.27\nresources:\n  memory: 1073741824\n  cpus: '2'")),
        .accept("route with everything",
               document("Route", "api", #"hosts: [api.example.test, api.example.test.internal]\#npath: '/v[0-9]+/orders/.*'\#npathType: regex\#nmethods: [get, POST]\#npriority: -5\#nto:\#n  url: HTTPS://api.internal.example.test:8443/base"#)),
        .accept("labels, annotations and empty documents",
               "---\n\n---\n" + """
                   apiVersion: berth/v1
                   kind: Domain
                   metadata:
                     name: shop
                     labels: {team: edge, tier: 1}
                     annotations: {runbook: 'https://wiki.example.test/shop'}
                   spec:
                     hosts: [shop.example.test]

                   """ + "---\n"),
    ]
}

import Testing
@testable import Spec

/// Cases found by fuzzing and benchmarking.
@Suite struct LoaderEdgeTests {
    @Test func aUTF8ByteOrderMarkIsAllowed() {
        let yaml = Array("\u{FEFF}apiVersion: berth/v1\nkind: Domain\nmetadata: {name: d}\nspec: {hosts: [d.example.test]}\n".utf8)
        let result = SpecLoader.load(files: [(path: "bom.yaml", contents: yaml)])
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics.map(\.rendered))")
        #expect(result.state.domains.map(\.name) == ["d"])
    }

    @Test func numbersRoundTripThroughTheCanonicalForm() throws {
        for text in ["1.0", "1e2", "-0.5", "123456789012", "2.5e-3"] {
            let value = try JSONValue.parse(text)
            #expect(try JSONValue.parse(value.canonicalString) == value, "\(text)")
        }
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse("1e400") }
    }

    @Test func lookupsByNameUseTheIndex() {
        let state = DesiredState(resources: (0..<50).map { .domain(Domain(name: "d\($0)", hosts: ["d\($0).example.test"])) })
        #expect(state.domain(named: "d42")?.hosts == ["d42.example.test"])
        #expect(state.domain(named: "nope") == nil)
    }
}

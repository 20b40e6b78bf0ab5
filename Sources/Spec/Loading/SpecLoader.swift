import Foundation
import Yams

/// The result of loading a repository: the resources that decoded cleanly and every problem found.
/// A revision with any error-severity diagnostic must never be applied.
public struct LoadResult: Sendable {
    public var state: DesiredState
    public var diagnostics: [Diagnostic]
    public var isValid: Bool { !diagnostics.hasErrors }
}

/// Turns YAML files into a `DesiredState`, collecting every diagnostic (syntax, unknown fields,
/// types, values, then the cross-resource rules). Pure: it reads only the bytes it is given.
public enum SpecLoader {
    public static let apiVersion = "berth/v1"

    /// Loads and validates. `files` are (path relative to the repository root, contents).
    public static func load(files: [(path: String, contents: [UInt8])]) -> LoadResult {
        var state = DesiredState()
        var diagnostics: [Diagnostic] = []
        var declared = DeclaredNames()
        for file in files.sorted(by: { $0.path < $1.path }) {
            decodeFile(path: file.path, contents: file.contents, into: &state, declared: &declared, diagnostics: &diagnostics)
        }
        state.sortByName()
        diagnostics += Validator.validate(state, declared: declared)
        return LoadResult(state: state, diagnostics: diagnostics.sorted())
    }

    static func decodeFile(path: String, contents: [UInt8], into state: inout DesiredState,
                           declared: inout DeclaredNames, diagnostics: inout [Diagnostic]) {
        // A UTF-8 byte-order mark is allowed by YAML; it is not part of the first key.
        let body = contents.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(contents.dropFirst(3)) : contents
        guard let text = String(validating: body, as: UTF8.self) else {
            diagnostics.append(Diagnostic(code: "encoding", at: SourceLocation(file: path, line: 1, column: 1),
                                          "file is not valid UTF-8", hint: "save it as UTF-8"))
            return
        }
        let parser: Parser
        do {
            // The basic resolver: the loader reads scalars as text and types them itself, so the
            // default resolver's per-scalar regexes (a third of the parse time) buy nothing.
            parser = try Parser(yaml: text, resolver: .basic)
        } catch {
            diagnostics.append(syntaxDiagnostic(error, file: path))
            return
        }
        while true {
            let root: Node?
            do {
                root = try parser.nextRoot()
            } catch {
                diagnostics.append(syntaxDiagnostic(error, file: path))
                return
            }
            guard let root else { return }
            if NodeReader.isNull(root) { continue }
            decodeDocument(root, file: path, into: &state, declared: &declared, diagnostics: &diagnostics)
        }
    }

    static func syntaxDiagnostic(_ error: Error, file: String) -> Diagnostic {
        let at = { (mark: Mark) in SourceLocation(file: file, line: mark.line, column: mark.column) }
        switch error {
        case YamlError.scanner(let context, let problem, let mark, _),
             YamlError.parser(let context, let problem, let mark, _),
             YamlError.composer(let context, let problem, let mark, _):
            var message = "YAML syntax error: \(problem)"
            if let context { message += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))" }
            return Diagnostic(code: "yaml-syntax", at: at(mark), message)
        case YamlError.duplicatedKeysInMapping(let duplicates, let context):
            return Diagnostic(code: "duplicate-key", at: at(context.mark),
                              "YAML mapping repeats the key \(duplicates.map { "\"\($0)\"" }.joined(separator: ", "))",
                              hint: "each key may appear once in a mapping")
        case YamlError.reader(let problem, _, _, _):
            return Diagnostic(code: "yaml-syntax", at: SourceLocation(file: file, line: 1, column: 1), "YAML cannot be read: \(problem)")
        default:
            return Diagnostic(code: "yaml-syntax", at: SourceLocation(file: file, line: 1, column: 1), "YAML error: \(error)")
        }
    }

    static func decodeDocument(_ root: Node, file: String, into state: inout DesiredState,
                               declared: inout DeclaredNames, diagnostics: inout [Diagnostic]) {
        let header = NodeReader(file: file, resourceLabel: "document")
        defer { diagnostics += header.diagnostics }
        guard let top = header.mapping(root, path: "", allowed: ["apiVersion", "kind", "metadata", "spec"],
                                       required: ["apiVersion", "kind", "metadata", "spec"]) else { return }
        if let version = header.string(top["apiVersion"], path: "apiVersion"), version != apiVersion {
            header.error("invalid-value", top["apiVersion"], "apiVersion must be \"\(apiVersion)\", got \"\(version)\"")
        }
        guard let kindText = header.string(top["kind"], path: "kind") else { return }
        guard let kind = Kind(rawValue: kindText) else {
            let kinds = Kind.allCases.map(\.rawValue)
            header.error("unknown-kind", top["kind"], "unknown kind \"\(kindText)\"",
                         hint: Suggestion.closest(to: kindText, in: kinds).map { "did you mean \"\($0)\"?" }
                             ?? "kinds are \(kinds.joined(separator: ", "))")
            return
        }
        guard let metadataNode = top["metadata"],
              let metadata = header.mapping(metadataNode, path: "metadata", allowed: ["name", "labels", "annotations"], required: ["name"]),
              let name = header.string(metadata["name"], path: "metadata.name") else { return }
        if let problem = Formats.checkName(name) {
            header.error("invalid-name", metadata["name"], "metadata.name \"\(name)\" \(problem)")
            return
        }
        for key in ["labels", "annotations"] {
            _ = header.stringMap(metadata[key], path: "metadata.\(key)")
        }
        let id = ResourceID(kind, name)
        let nameLocation = header.location(metadata["name"])
        let firstLocation = declared.declare(id, at: nameLocation)
        if let firstLocation {
            diagnostics.append(Diagnostic(code: "duplicate-name", at: nameLocation,
                                          "\(kind.rawValue) \"\(name)\" is declared more than once",
                                          hint: "names are unique per kind; rename one of them",
                                          notes: [.init(location: firstLocation, message: "first declared here")]))
            return
        }
        guard let specNode = top["spec"] else { return }
        let reader = NodeReader(file: file, resourceLabel: "\(kind.rawValue) \"\(name)\"")
        let resource: Resource?
        switch kind {
        case .domain: resource = decodeDomain(name: name, spec: specNode, reader: reader).map(Resource.domain)
        case .route: resource = decodeRoute(name: name, spec: specNode, reader: reader).map(Resource.route)
        case .authPolicy: resource = decodeAuthPolicy(name: name, spec: specNode, reader: reader).map(Resource.authPolicy)
        case .instance: resource = decodeInstance(name: name, spec: specNode, reader: reader).map(Resource.instance)
        }
        diagnostics += reader.diagnostics
        if let resource, !reader.diagnostics.hasErrors {
            state.insert(resource, source: ResourceSource(file: file, location: nameLocation, fields: reader.fieldLocations))
        } else {
            declared.markInvalid(id)
        }
    }
}

/// Every kind+name seen while loading, valid or not, so references to a resource that failed to
/// decode are not reported a second time as undeclared.
public struct DeclaredNames: Sendable {
    private(set) var locations: [ResourceID: SourceLocation] = [:]
    private(set) var invalid: Set<ResourceID> = []

    /// Records `id`; returns where it was first declared when it is a duplicate.
    mutating func declare(_ id: ResourceID, at location: SourceLocation) -> SourceLocation? {
        if let first = locations[id] { return first }
        locations[id] = location
        return nil
    }

    mutating func markInvalid(_ id: ResourceID) { invalid.insert(id) }

    public func isDeclared(_ id: ResourceID) -> Bool { locations[id] != nil }
    public func isInvalid(_ id: ResourceID) -> Bool { invalid.contains(id) }
    public func names(of kind: Kind) -> [String] { locations.keys.filter { $0.kind == kind }.map(\.name).sorted() }
}

import Yams

/// Reads typed values out of a YAML node tree and records every problem as a diagnostic located at
/// the offending node. Nothing here throws: a bad field yields nil and a diagnostic, and decoding
/// carries on so that one run reports every problem.
final class NodeReader {
    let file: String
    let resourceLabel: String
    private(set) var diagnostics: [Diagnostic] = []
    /// Field path (`spec.to.instance`) → where its value is, for rules that run later.
    private(set) var fieldLocations: [String: SourceLocation] = [:]

    init(file: String, resourceLabel: String) {
        self.file = file
        self.resourceLabel = resourceLabel
    }

    func location(_ node: Node?) -> SourceLocation {
        let mark = node?.mark
        return SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    func error(_ code: String, _ node: Node?, _ message: String, hint: String? = nil) {
        diagnostics.append(Diagnostic(code: code, at: location(node), "\(resourceLabel): \(message)", hint: hint))
    }

    /// An error at a recorded location (a field seen earlier), else at `fallback`.
    func error(_ code: String, at location: SourceLocation?, fallback: Node?, _ message: String, hint: String? = nil) {
        diagnostics.append(Diagnostic(code: code, at: location ?? self.location(fallback), "\(resourceLabel): \(message)", hint: hint))
    }

    func record(_ path: String, _ node: Node) { fieldLocations[path] = location(node) }

    static func isNull(_ node: Node) -> Bool {
        if case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any {
            return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
        }
        return false
    }

    /// A mapping's entries by key. Reports keys outside `allowed` (with the nearest allowed key as
    /// a hint), `required` keys that are missing, and non-string keys. Null values count as absent.
    func mapping(_ node: Node, path: String, allowed: [String], required: [String] = []) -> [String: Node]? {
        guard case .mapping(let mapping) = node else {
            error("wrong-type", node, "\(path) must be a mapping, got \(NodeReader.describe(node))")
            return nil
        }
        record(path, node)
        var entries: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                error("wrong-type", keyNode, "\(path) has a key that is not a string")
                continue
            }
            let key = keyScalar.string
            guard allowed.contains(key) else {
                let suggestion = Suggestion.closest(to: key, in: allowed)
                error("unknown-field", keyNode, "unknown field \"\(path.isEmpty ? key : path + "." + key)\"",
                      hint: suggestion.map { "did you mean \"\($0)\"?" }
                          ?? "allowed fields here: \(allowed.joined(separator: ", "))")
                continue
            }
            if NodeReader.isNull(value) { continue }
            entries[key] = value
            record(path.isEmpty ? key : "\(path).\(key)", value)
        }
        for key in required where entries[key] == nil {
            error("missing-field", node, "missing required field \"\(path.isEmpty ? key : path + "." + key)\"")
        }
        return entries
    }

    func string(_ node: Node?, path: String) -> String? {
        guard let node else { return nil }
        guard case .scalar(let scalar) = node else {
            error("wrong-type", node, "\(path) must be a string, got \(NodeReader.describe(node))")
            return nil
        }
        return scalar.string
    }

    func int(_ node: Node?, path: String, range: ClosedRange<Int>? = nil, hint: String? = nil) -> Int? {
        guard let node else { return nil }
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any,
              let value = Int(scalar.string.hasPrefix("+") ? String(scalar.string.dropFirst()) : scalar.string) else {
            error("wrong-type", node, "\(path) must be an integer, got \(NodeReader.describe(node))")
            return nil
        }
        if let range, !range.contains(value) {
            error("out-of-range", node, "\(path) must be between \(range.lowerBound) and \(range.upperBound), got \(value)", hint: hint)
            return nil
        }
        return value
    }

    func bool(_ node: Node?, path: String) -> Bool? {
        guard let node else { return nil }
        if case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any {
            switch scalar.string {
            case "true", "True", "TRUE": return true
            case "false", "False", "FALSE": return false
            default: break
            }
        }
        error("wrong-type", node, "\(path) must be true or false, got \(NodeReader.describe(node))")
        return nil
    }

    func enumeration<E: RawRepresentable & CaseIterable>(_ node: Node?, path: String, as: E.Type) -> E? where E.RawValue == String {
        guard let text = string(node, path: path) else { return nil }
        if let value = E(rawValue: text) { return value }
        let allowed = E.allCases.map(\.rawValue)
        error("invalid-value", node, "\(path) must be one of \(allowed.joined(separator: ", ")), got \"\(text)\"",
              hint: Suggestion.closest(to: text, in: allowed).map { "did you mean \"\($0)\"?" })
        return nil
    }

    /// A sequence, each item handed to `item` with its path (`spec.hosts[2]`).
    func sequence<T>(_ node: Node?, path: String, item: (Node, String) -> T?) -> [T]? {
        guard let node else { return nil }
        guard case .sequence(let sequence) = node else {
            error("wrong-type", node, "\(path) must be a list, got \(NodeReader.describe(node))")
            return nil
        }
        var out: [T] = []
        var failed = false
        for (index, child) in sequence.enumerated() {
            let childPath = "\(path)[\(index)]"
            record(childPath, child)
            if let value = item(child, childPath) { out.append(value) } else { failed = true }
        }
        return failed ? nil : out
    }

    func stringList(_ node: Node?, path: String) -> [String]? {
        sequence(node, path: path) { child, childPath in string(child, path: childPath) }
    }

    /// A mapping of string keys to string values (env, labels). Scalars of any type are taken as
    /// their text, so `DEBUG: 1` is the string "1".
    func stringMap(_ node: Node?, path: String) -> [String: String]? {
        guard let node else { return nil }
        guard case .mapping(let mapping) = node else {
            error("wrong-type", node, "\(path) must be a mapping, got \(NodeReader.describe(node))")
            return nil
        }
        var out: [String: String] = [:]
        var failed = false
        for (keyNode, value) in mapping {
            guard case .scalar(let key) = keyNode else {
                error("wrong-type", keyNode, "\(path) has a key that is not a string"); failed = true; continue
            }
            record("\(path).\(key.string)", value)
            guard case .scalar(let scalar) = value else {
                error("wrong-type", value, "\(path).\(key.string) must be a string, got \(NodeReader.describe(value))")
                failed = true
                continue
            }
            out[key.string] = NodeReader.isNull(value) ? "" : scalar.string
        }
        return failed ? nil : out
    }

    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            let text = scalar.string.count > 40 ? String(scalar.string.prefix(40)) + "…" : scalar.string
            return "\"\(text)\""
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }
}

/// One problem found while loading or validating a repository. Diagnostics are collected, never
/// thrown one at a time: a run reports every problem in every file.
public struct Diagnostic: Sendable, Hashable, Comparable {
    public enum Severity: String, Sendable, Hashable { case error, warning }

    /// Another place that takes part in the problem (the first declaration of a duplicate, say).
    public struct Note: Sendable, Hashable {
        public var location: SourceLocation
        public var message: String
        public init(location: SourceLocation, message: String) {
            self.location = location
            self.message = message
        }
    }

    public var severity: Severity
    /// A stable identifier for tooling, e.g. `unknown-field`, `undeclared-reference`.
    public var code: String
    public var location: SourceLocation
    public var message: String
    /// How to fix it, when that is not obvious from the message ("did you mean `priority`?").
    public var hint: String?
    public var notes: [Note]

    public init(_ severity: Severity = .error, code: String, at location: SourceLocation, _ message: String,
                hint: String? = nil, notes: [Note] = []) {
        self.severity = severity
        self.code = code
        self.location = location
        self.message = message
        self.hint = hint
        self.notes = notes
    }

    public static func < (lhs: Diagnostic, rhs: Diagnostic) -> Bool {
        if lhs.location != rhs.location { return lhs.location < rhs.location }
        return (lhs.code, lhs.message) < (rhs.code, rhs.message)
    }

    /// `file:line:col: error: message`, then indented `hint:` and `note:` lines.
    public var rendered: String {
        var text = "\(location): \(severity.rawValue): \(message)"
        if let hint { text += "\n    hint: \(hint)" }
        for note in notes { text += "\n    \(note.location): note: \(note.message)" }
        return text
    }

    /// The JSON form used by `--format json`.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "severity": .string(severity.rawValue), "code": .string(code), "message": .string(message),
            "file": .string(location.file), "line": .int(location.line), "column": .int(location.column),
        ]
        if let hint { object["hint"] = .string(hint) }
        if !notes.isEmpty {
            object["notes"] = .array(notes.map {
                .object(["file": .string($0.location.file), "line": .int($0.location.line),
                         "column": .int($0.location.column), "message": .string($0.message)])
            })
        }
        return .object(object)
    }
}

extension Array where Element == Diagnostic {
    public var hasErrors: Bool { contains { $0.severity == .error } }
}

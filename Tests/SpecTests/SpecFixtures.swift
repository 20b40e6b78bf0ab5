import Foundation
@testable import Spec

/// Reads the spec fixtures under `Tests/Fixtures/spec/` and the `# ERROR:` markers in them.
///
/// A marker is a trailing comment on the offending line:
///
///     priorty: 5   # ERROR: unknown field "spec.priorty" # HINT: did you mean "priority"?
///
/// `# ERROR:` holds a summary that an error diagnostic on that line must contain (case-insensitive);
/// the optional `# HINT:` must be contained in that diagnostic's hint, and the optional
/// `# NOTE: file:line` must be the location (file and line) of one of its notes.
enum SpecFixtures {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/spec", isDirectory: true)

    static var invalidRoot: URL { root.appendingPathComponent("invalid", isDirectory: true) }
    static var validRoot: URL { root.appendingPathComponent("valid", isDirectory: true) }

    /// Names of the directories under `invalid/`, sorted.
    static var invalidCases: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: invalidRoot.path)) ?? []
        return names.filter { name in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: invalidRoot.appendingPathComponent(name).path, isDirectory: &isDirectory)
                && isDirectory.boolValue
        }.sorted()
    }

    /// Every `.yaml`/`.yml` file below `directory`, with its path relative to `directory` (`/`-separated).
    static func files(in directory: URL) throws -> [(path: String, contents: [UInt8])] {
        guard let enumerator = FileManager.default.enumerator(atPath: directory.path) else {
            throw FixtureError(description: "cannot list \(directory.path)")
        }
        var out: [(path: String, contents: [UInt8])] = []
        while let relative = enumerator.nextObject() as? String {
            guard relative.hasSuffix(".yaml") || relative.hasSuffix(".yml") else { continue }
            let data = try Data(contentsOf: directory.appendingPathComponent(relative))
            out.append((path: relative, contents: Array(data)))
        }
        return out.sorted { $0.path < $1.path }
    }

    static func load(_ directory: URL) throws -> LoadResult {
        SpecLoader.load(files: try files(in: directory))
    }

    struct Marker: CustomStringConvertible {
        var file: String
        var line: Int
        var summary: String
        var hint: String?
        var note: String?
        var description: String { "\(file):\(line)" }
    }

    /// The markers in `files`. Files that are not UTF-8 are read lossily, so a marker on an ASCII
    /// line of a broken file still counts.
    static func markers(in files: [(path: String, contents: [UInt8])]) -> [Marker] {
        var out: [Marker] = []
        for file in files {
            let text = String(decoding: file.contents, as: UTF8.self)
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                guard let start = line.range(of: "# ERROR:") else { continue }
                var rest = String(line[start.upperBound...])
                var note: String?
                var hint: String?
                if let range = rest.range(of: "# NOTE:") {
                    note = rest[range.upperBound...].trimmingCharacters(in: .whitespaces)
                    rest = String(rest[..<range.lowerBound])
                }
                if let range = rest.range(of: "# HINT:") {
                    hint = rest[range.upperBound...].trimmingCharacters(in: .whitespaces)
                    rest = String(rest[..<range.lowerBound])
                }
                out.append(Marker(file: file.path, line: index + 1, summary: rest.trimmingCharacters(in: .whitespaces),
                                  hint: hint, note: note))
            }
        }
        return out
    }

    /// Compares the error diagnostics with the markers; returns one readable line per mismatch
    /// (`routes.yaml:12: expected "unknown field", got none`). Empty when they agree.
    static func mismatches(markers: [Marker], diagnostics: [Diagnostic]) -> [String] {
        let errors = diagnostics.filter { $0.severity == .error }
        var problems: [String] = []
        for marker in markers {
            let onLine = errors.filter { $0.location.file == marker.file && $0.location.line == marker.line }
            let matching = onLine.filter { $0.message.localizedCaseInsensitiveContains(marker.summary) }
            guard !matching.isEmpty else {
                let got = onLine.isEmpty ? "none" : onLine.map { "\"\($0.message)\"" }.joined(separator: ", ")
                problems.append("\(marker): expected \"\(marker.summary)\", got \(got)")
                continue
            }
            if let hint = marker.hint, !matching.contains(where: { $0.hint?.localizedCaseInsensitiveContains(hint) == true }) {
                let got = matching.map { $0.hint.map { "\"\($0)\"" } ?? "no hint" }.joined(separator: ", ")
                problems.append("\(marker): expected hint \"\(hint)\", got \(got)")
            }
            if let note = marker.note,
               !matching.contains(where: { $0.notes.contains { "\($0.location.file):\($0.location.line)" == note } }) {
                let got = matching.flatMap(\.notes).map { "\($0.location.file):\($0.location.line)" }
                problems.append("\(marker): expected a note at \(note), got \(got.isEmpty ? "none" : got.joined(separator: ", "))")
            }
        }
        for error in errors where !markers.contains(where: { $0.file == error.location.file && $0.line == error.location.line }) {
            problems.append("\(error.location.file):\(error.location.line): unexpected error \"\(error.message)\" (\(error.code))")
        }
        return problems
    }

    struct FixtureError: Error, CustomStringConvertible {
        var description: String
    }
}

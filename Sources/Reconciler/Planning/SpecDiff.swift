import Spec

/// Field-level differences between two canonical specs, for change reasons.
enum SpecDiff {
    struct Difference: Equatable {
        var path: String
        var before: JSONValue?
        var after: JSONValue?
    }

    static func differences(_ before: JSONValue?, _ after: JSONValue?, path: String = "spec") -> [Difference] {
        if before == after { return [] }
        if case .object(let a)? = before, case .object(let b)? = after {
            return Set(a.keys).union(b.keys).sorted().flatMap { differences(a[$0], b[$0], path: "\(path).\($0)") }
        }
        if case .array(let a)? = before, case .array(let b)? = after, a.count == b.count,
           a.allSatisfy({ $0.objectValue != nil }), b.allSatisfy({ $0.objectValue != nil }) {
            return a.indices.flatMap { differences(a[$0], b[$0], path: "\(path)[\($0)]") }
        }
        return [Difference(path: path, before: before, after: after)]
    }

    /// A short rendering of a value for a reason line; bcrypt hashes are shown as a fingerprint.
    static func show(_ value: JSONValue?) -> String {
        guard let value else { return "(unset)" }
        if case .string(let text) = value, Formats.checkBcrypt(text) == nil {
            return "bcrypt:\(SHA256.hex(text).prefix(12))"
        }
        let text = value.canonicalString
        return text.count > 80 ? String(text.prefix(77)) + "…" : text
    }

    static func reasons(_ before: JSONValue?, _ after: JSONValue?) -> [ChangeReason] {
        differences(before, after).map { difference in
            ChangeReason("spec-changed", "\(difference.path): \(show(difference.before)) → \(show(difference.after))")
        }
    }
}

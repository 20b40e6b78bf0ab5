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
        if case .array(let a)? = before, case .array(let b)? = after {
            // Lists of named entries (tokens, users, ports) are compared by name, so adding one
            // entry reads as one addition rather than a rewrite of the whole list.
            let aNames = a.compactMap { $0["name"]?.stringValue }, bNames = b.compactMap { $0["name"]?.stringValue }
            if aNames.count == a.count, bNames.count == b.count, Set(aNames).count == a.count, Set(bNames).count == b.count {
                let old = Dictionary(uniqueKeysWithValues: zip(aNames, a)), new = Dictionary(uniqueKeysWithValues: zip(bNames, b))
                var out: [Difference] = []
                for name in aNames where new[name] == nil { out.append(Difference(path: "\(path)[\(name)]", before: old[name], after: nil)) }
                for name in bNames {
                    if let previous = old[name] { out += differences(previous, new[name], path: "\(path)[\(name)]") }
                    else { out.append(Difference(path: "\(path)[\(name)]", before: nil, after: new[name])) }
                }
                if out.isEmpty, aNames != bNames { out.append(Difference(path: path, before: before, after: after)) }
                return out
            }
            if a.count == b.count, a.allSatisfy({ $0.objectValue != nil }), b.allSatisfy({ $0.objectValue != nil }) {
                return a.indices.flatMap { differences(a[$0], b[$0], path: "\(path)[\($0)]") }
            }
        }
        return [Difference(path: path, before: before, after: after)]
    }

    /// A short rendering of a value for a reason line; bcrypt hashes are shown as a fingerprint.
    static func show(_ value: JSONValue?) -> String {
        guard let value else { return "(unset)" }
        if case .string(let text) = value, Formats.checkBcrypt(text) == nil {
            return "bcrypt:\(SHA256.hex(text).prefix(12))"
        }
        if case .object(let members) = value, members["sha256"] != nil || members["bcrypt"] != nil {
            // A token or user entry: its name and a fingerprint, not the whole hash.
            let name = members["name"]?.stringValue ?? "?"
            let digest = members["sha256"]?.stringValue.map { "sha256:\($0.prefix(12))…" } ?? show(members["bcrypt"])
            return "\(name) (\(digest))"
        }
        let text = value.canonicalString
        return text.count > 80 ? String(text.prefix(77)) + "…" : text
    }

    static func reasons(_ before: JSONValue?, _ after: JSONValue?) -> [ChangeReason] {
        differences(before, after).map { difference in
            switch (difference.before, difference.after) {
            case (nil, let added?): return ChangeReason("spec-changed", "\(difference.path): added \(show(added))")
            case (let removed?, nil): return ChangeReason("spec-changed", "\(difference.path): removed \(show(removed))")
            default: return ChangeReason("spec-changed", "\(difference.path): \(show(difference.before)) → \(show(difference.after))")
            }
        }
    }
}

import Spec

/// Whether a policy lets more requests through than another one did. Pure. A change counts as a
/// weakening when some request refused by the old spec could pass the new one:
/// - `ipAllow` removed, or a network added that the old list did not cover;
/// - the mechanism removed (an address check alone now) or changed to another mechanism (a
///   different population of credentials passes);
/// - a bearer token hash or a Basic user added, or a user's bcrypt hash changed (a secret that
///   did not pass now does; rotating a secret is a weakening to review like any other);
/// - JWT: a required scope dropped, an audience added, the issuer or the key set URL changed;
/// - forward auth: the URL of the deciding service changed.
/// Fewer tokens or users, more required scopes, a narrower `ipAllow`, adding `ipAllow` or a
/// mechanism, `copyHeaders` and `identityHeaders` are not weakenings.
enum PolicyComparison {
    /// Each way `new` is weaker than `old`, as a phrase; empty when it is not weaker.
    static func weakenings(from old: AuthPolicy, to new: AuthPolicy) -> [String] {
        var reasons: [String] = []
        if !old.ipAllow.isEmpty {
            if new.ipAllow.isEmpty {
                reasons.append("ipAllow removed: any client address may pass")
            } else {
                let previous = old.ipAllow.compactMap(parse)
                let wider = new.ipAllow.filter { text in parse(text).map { !covered($0, by: previous) } ?? true }
                if !wider.isEmpty { reasons.append("ipAllow widened: \(wider.joined(separator: ", ")) was not allowed before") }
            }
        }
        switch (old.mechanism, new.mechanism) {
        case (nil, _):
            break
        case (let mechanism?, nil):
            reasons.append("\(mechanism.name) removed: an address check alone now")
        case (let before?, let after?) where before.name != after.name:
            reasons.append("mechanism changed from \(before.name) to \(after.name)")
        case (.bearer(let before)?, .bearer(let after)?):
            let known = Set(before.map(\.sha256))
            let added = after.filter { !known.contains($0.sha256) }.map(\.name)
            if !added.isEmpty { reasons.append("bearer token\(added.count == 1 ? "" : "s") added: \(added.joined(separator: ", "))") }
        case (.basic(let before)?, .basic(let after)?):
            let known = Dictionary(before.map { ($0.name, $0.bcrypt) }, uniquingKeysWith: { first, _ in first })
            let added = after.filter { known[$0.name] == nil }.map(\.name)
            let changed = after.filter { user in known[user.name].map { $0 != user.bcrypt } ?? false }.map(\.name)
            if !added.isEmpty { reasons.append("basic user\(added.count == 1 ? "" : "s") added: \(added.joined(separator: ", "))") }
            if !changed.isEmpty { reasons.append("basic password changed: \(changed.joined(separator: ", "))") }
        case (.jwt(let before)?, .jwt(let after)?):
            let dropped = before.requiredScopes.filter { !after.requiredScopes.contains($0) }
            if !dropped.isEmpty { reasons.append("jwt.requiredScopes no longer requires \(dropped.joined(separator: ", "))") }
            let audiences = after.audiences.filter { !before.audiences.contains($0) }
            if !audiences.isEmpty { reasons.append("jwt.audiences added: \(audiences.joined(separator: ", "))") }
            if before.issuer != after.issuer { reasons.append("jwt.issuer changed: \(before.issuer) → \(after.issuer)") }
            if before.jwksURL != after.jwksURL { reasons.append("jwt.jwksURL changed: \(before.jwksURL) → \(after.jwksURL)") }
        case (.forward(let before)?, .forward(let after)?):
            if before.url != after.url { reasons.append("forward.url changed: \(before.url) → \(after.url)") }
        default:
            break
        }
        return reasons
    }

    /// Compares two policies as a route table carries them (`auth_policies.<name>`). A spec that
    /// cannot be read is reported as a weakening: nothing can be said about what it lets through.
    static func weakenings(from old: (name: String, spec: JSONValue), to new: (name: String, spec: JSONValue)?) -> [String] {
        guard let new else { return ["policy is missing from the table"] }
        guard case .authPolicy(let before)? = try? Resource(id: ResourceID(.authPolicy, old.name), canonicalSpec: old.spec),
              case .authPolicy(let after)? = try? Resource(id: ResourceID(.authPolicy, new.name), canonicalSpec: new.spec) else {
            return ["policy spec cannot be read"]
        }
        return weakenings(from: before, to: after)
    }

    private static func parse(_ text: String) -> CIDR? {
        if case .success(let cidr) = CIDR.parse(text) { return cidr }
        return nil
    }

    /// Whether every address of `network` is in one of `list`. A network covered only by the union
    /// of smaller ones (10.0.0.0/8 by 10.0.0.0/9 and 10.128.0.0/9) is split in halves; the split
    /// only continues while a listed network lies strictly inside, so it ends within 128 levels.
    static func covered(_ network: CIDR, by list: [CIDR]) -> Bool {
        let family = network.address.count
        if list.contains(where: { $0.address.count == family && $0.prefixLength <= network.prefixLength && $0.contains(network.address) }) {
            return true
        }
        guard network.prefixLength < family * 8,
              list.contains(where: { $0.address.count == family && $0.prefixLength > network.prefixLength && network.contains($0.address) })
        else { return false }
        let bit = network.prefixLength
        var upper = network.address
        upper[bit / 8] |= UInt8(0x80) >> UInt8(bit % 8)
        return covered(CIDR(address: network.address, prefixLength: bit + 1), by: list)
            && covered(CIDR(address: upper, prefixLength: bit + 1), by: list)
    }
}

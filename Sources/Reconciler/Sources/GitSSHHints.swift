import Foundation

/// What to do about the ssh failures libgit2 reports in its own words. libgit2 (1.5.1 and later, as
/// Debian ships it) checks an ssh server's host key against `~/.ssh/known_hosts` of the user running
/// berth and refuses an unknown or changed key; berth offers only ssh-agent's keys. Its messages
/// ("invalid or unknown remote ssh hostkey", "no auth sock variable") name neither file nor fix.
enum GitSSHHints {
    /// The hint for libgit2's `message` while fetching `repository`, or nil when there is none.
    static func hint(for message: String, repository: String, home: String?) -> String? {
        guard let endpoint = sshEndpoint(repository) else { return nil }
        let knownHosts = (home.map { $0.hasSuffix("/") ? $0 : $0 + "/" } ?? "~/") + ".ssh/known_hosts"
        let keyscan = endpoint.port == 22
            ? "ssh-keyscan \(endpoint.host)"
            : "ssh-keyscan -p \(endpoint.port) \(endpoint.host)"
        if message.contains("hostkey") || message.contains("host key") {
            return "the host key of \(endpoint.display) is not in \(knownHosts), or differs from the one recorded there; "
                + "a changed key may mean someone is in between. Check the server's fingerprint with its operator, "
                + "then record it: \(keyscan) >> \(knownHosts)"
        }
        if message.contains("no auth sock") || message.contains("connecting with agent") {
            return "berth authenticates over ssh with ssh-agent's keys only, and found no agent at SSH_AUTH_SOCK: "
                + "start one (`ssh-agent -a /run/berth/agent.sock`), `ssh-add` the deploy key and set SSH_AUTH_SOCK for berth"
        }
        if message.contains("authentication required") || message.contains("authenticating") {
            return "the ssh-agent at SSH_AUTH_SOCK offered no key \(endpoint.display) accepted for user "
                + "\"\(endpoint.user ?? "git")\": `ssh-add` the deploy key (`ssh-add -l` lists the agent's keys)"
        }
        return nil
    }

    struct Endpoint: Equatable {
        var user: String?
        var host: String
        var port: Int
        /// `host` or `[host]:port`, as known_hosts writes it.
        var display: String { port == 22 ? host : "[\(host)]:\(port)" }
    }

    /// The user, host and port of an ssh URL (`ssh://[user@]host[:port]/path`, `git+ssh://`,
    /// `ssh+git://`) or scp-like address (`[user@]host:path`); nil for anything else.
    static func sshEndpoint(_ repository: String) -> Endpoint? {
        if let schemeEnd = repository.range(of: "://") {
            let scheme = repository[..<schemeEnd.lowerBound].lowercased()
            guard ["ssh", "git+ssh", "ssh+git"].contains(scheme) else { return nil }
            let rest = repository[schemeEnd.upperBound...]
            let authority = rest.prefix { $0 != "/" }
            var user: String?
            var hostPort = Substring(authority)
            if let at = authority.lastIndex(of: "@") {
                user = String(authority[..<at])
                hostPort = authority[authority.index(after: at)...]
            }
            var host = String(hostPort)
            var port = 22
            if hostPort.hasPrefix("["), let close = hostPort.firstIndex(of: "]") {
                host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
                let after = hostPort[hostPort.index(after: close)...]
                if after.hasPrefix(":") {
                    guard let value = Int(after.dropFirst()) else { return nil }
                    port = value
                }
            } else if let colon = hostPort.lastIndex(of: ":") {
                host = String(hostPort[..<colon])
                guard let value = Int(hostPort[hostPort.index(after: colon)...]) else { return nil }
                port = value
            }
            guard !host.isEmpty, user?.isEmpty != true, (1...65535).contains(port) else { return nil }
            return Endpoint(user: user, host: host, port: port)
        }
        // scp-like: a colon before any slash.
        guard let colon = repository.firstIndex(of: ":") else { return nil }
        let authority = repository[..<colon]
        guard !authority.isEmpty, !authority.contains("/") else { return nil }
        if let at = authority.lastIndex(of: "@") {
            let host = String(authority[authority.index(after: at)...])
            let user = String(authority[..<at])
            return host.isEmpty || user.isEmpty ? nil : Endpoint(user: user, host: host, port: 22)
        }
        return Endpoint(user: nil, host: String(authority), port: 22)
    }
}

import Spec

/// An immutable, compiled route table: built once per published table (off the event loop), then
/// shared by every connection until the next swap. Matching is pure and allocation-light.
///
/// Order, as the table document already sorts it: exact hosts before `*.wildcard` hosts (one
/// label); within a host, higher priority first, then exact paths, prefixes (longest first, on
/// segment boundaries), regexes (declaration order); the first route whose method list allows the
/// request wins.
public final class RouteMatcher: Sendable {
    /// `@unchecked` because `Regex` is not marked Sendable; a compiled regex is immutable after
    /// construction and matching does not mutate it, so sharing it across threads is safe.
    /// A class, as is `CompiledHost`: a match hands out references (one retain each) instead of
    /// copies of structs full of strings (a retain per field, on every request).
    public final class CompiledRoute: @unchecked Sendable {
        public let entry: RouteTableDocument.RouteEntry
        let regex: Regex<AnyRegexOutput>?
        let methods: Set<String>
        /// `entry.path == "/"`, answered once.
        let isRoot: Bool
        /// This route's position among all the table's routes (0..<`routeCount`): lets a user of
        /// the matcher keep per-route data in an array instead of a dictionary.
        public let index: Int

        init(entry: RouteTableDocument.RouteEntry, regex: Regex<AnyRegexOutput>?, index: Int) {
            self.entry = entry
            self.regex = regex
            self.index = index
            self.methods = Set(entry.methods)
            self.isRoot = entry.path == "/"
        }

        /// Whether `path` (normalized) falls under this route. Comparisons are byte for byte:
        /// Swift's `String` equality is Unicode canonical equivalence (and a combining mark after
        /// `/` changes what `hasPrefix` sees), which is not what an upstream compares.
        func matches(path: String) -> Bool {
            switch entry.pathType {
            case .exact:
                return path.utf8.elementsEqual(entry.path.utf8)
            case .prefix:
                let prefix = entry.path.utf8
                let bytes = path.utf8
                if isRoot { return true }
                guard bytes.starts(with: prefix) else { return false }
                if bytes.count == prefix.count || prefix.last == UInt8(ascii: "/") { return true }
                // Segment boundary: `/api` matches `/api/x`, never `/apix`.
                return bytes[bytes.index(bytes.startIndex, offsetBy: prefix.count)] == UInt8(ascii: "/")
            case .regex:
                guard let regex else { return false }
                return (try? regex.wholeMatch(in: path)) != nil
            }
        }

        func allows(method: String) -> Bool {
            methods.isEmpty || methods.contains(method) || (method == "HEAD" && methods.contains("GET"))
        }
    }

    public final class CompiledHost: Sendable {
        public let entry: RouteTableDocument.HostEntry
        public let routes: [CompiledRoute]

        init(entry: RouteTableDocument.HostEntry, routes: [CompiledRoute]) {
            self.entry = entry
            self.routes = routes
        }
    }

    public enum Match: Sendable {
        case route(host: CompiledHost, route: CompiledRoute)
        /// The host is known but no route takes this path and method.
        case noRoute(host: CompiledHost)
        case unknownHost
    }

    public let document: RouteTableDocument
    /// How many routes the table has (see `CompiledRoute.index`).
    public let routeCount: Int
    let exact: [String: CompiledHost]
    /// Keyed by what follows `*.`.
    let wildcard: [String: CompiledHost]

    public struct CompileError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Compiles every route; a table with any route that cannot compile is rejected whole.
    public init(document: RouteTableDocument) throws {
        var exact: [String: CompiledHost] = [:]
        var wildcard: [String: CompiledHost] = [:]
        var count = 0
        for host in document.hosts {
            let routes = try host.routes.map { entry -> CompiledRoute in
                var regex: Regex<AnyRegexOutput>?
                if entry.pathType == .regex {
                    do { regex = try Regex(entry.path) } catch {
                        throw CompileError(description: "route \(entry.route) on \(host.host): regex \(entry.path) does not compile: \(error)")
                    }
                }
                defer { count += 1 }
                return CompiledRoute(entry: entry, regex: regex, index: count)
            }
            let compiled = CompiledHost(entry: host, routes: routes)
            if host.host.hasPrefix("*.") { wildcard[String(host.host.dropFirst(2))] = compiled } else { exact[host.host] = compiled }
        }
        self.document = document
        self.routeCount = count
        self.exact = exact
        self.wildcard = wildcard
    }

    /// The host entry for a normalized host name (exact first, then a one-label wildcard).
    public func host(_ host: String) -> CompiledHost? {
        if let found = exact[host] { return found }
        guard let dot = host.firstIndex(of: "."), dot != host.startIndex else { return nil }
        return wildcard[String(host[host.index(after: dot)...])]
    }

    /// Matches a normalized host and path (see `RequestHost` and `RequestPath`).
    public func match(host: String, path: String, method: String) -> Match {
        guard let compiled = self.host(host) else { return .unknownHost }
        guard let route = route(in: compiled, path: path, method: method) else { return .noRoute(host: compiled) }
        return .route(host: compiled, route: route)
    }

    /// The route of a host already looked up (`host(_:)`) that takes a normalized path and method.
    public func route(in compiled: CompiledHost, path: String, method: String) -> CompiledRoute? {
        for route in compiled.routes where route.matches(path: path) && route.allows(method: method) { return route }
        return nil
    }
}

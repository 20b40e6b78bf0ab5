/// A Lua script run with `RedisConnection.evaluate(_:keys:arguments:)`. Scripts are identified by their source;
/// make them `static let`s so the source (and the SHA1 a connection caches for it) stays the same.
public struct RedisScript: Sendable, Hashable {
    /// The Lua source, sent once per connection with SCRIPT LOAD.
    public let source: String

    /// Wraps the Lua source of a script.
    public init(_ source: String) {
        self.source = source
    }
}

import Foundation
import RedisClient

/// Looks up ACME HTTP-01 key authorizations (`acme:challenge:<token>`) so that every replica can
/// answer a CA's validation request, whichever one the CA reaches. Blocking: call from a thread pool.
public final class ChallengeStore: @unchecked Sendable {
    private let url: RedisURL
    private let prefix: String
    private let lock = NSLock()
    private var connection: RedisConnection?

    public init(url: RedisURL, prefix: String) {
        self.url = url
        self.prefix = prefix
    }

    /// RFC 8555 §8.3: tokens are base64url; anything else is never looked up.
    public static func isValidToken(_ token: Substring) -> Bool {
        !token.isEmpty && token.utf8.count <= 256 && token.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x2d || $0 == 0x5f
        }
    }

    public func keyAuthorization(token: String) throws -> String? {
        try lock.withLock {
            if connection == nil || connection!.isClosed {
                connection = try RedisConnection(url: url, connectTimeout: .seconds(1), commandTimeout: .seconds(2))
            }
            return try connection!.send(["GET", prefix + "acme:challenge:" + token]).string
        }
    }
}

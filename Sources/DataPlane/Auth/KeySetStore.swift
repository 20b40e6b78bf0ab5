import Auth
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// The JWK sets of the policies being served, one per `jwksURL` (shared by every policy,
/// connection and event loop that names the URL). Requests ask `state(_:now:)` without waiting;
/// when it says there is nothing to use (`.missing`) or a token names a key the set lacks, they
/// call `fetch` and wait for it without blocking their loop. One fetch per URL runs at a time and
/// every request waiting for that URL waits on it.
///
/// Lifetimes: a set is fresh for its `KeySetLifetime` (the issuer's `max-age`, 1 min…24 h);
/// after that it is still used while a refresh runs in the background, and for up to
/// `staleGrace` more while refreshes fail (an issuer blip must not take every guarded route
/// down), after which requests fail closed. A URL that never gave a usable set answers
/// `.unavailable` (503) and is tried again after `retryAfterFailure`.
final class KeySetStore: @unchecked Sendable {
    struct Entry {
        var set: JSONWebKeySet?
        /// The end of the set's lifetime (fixed when it was fetched).
        var freshUntil: Double = 0
        /// When to try a refresh next: the end of the lifetime, then a pause after each failure.
        var nextRefresh: Double = 0
        var lastFailure: (reason: String, at: Double)?
        var fetching = false
        var waiters: [EventLoopPromise<Void>] = []
    }

    static let staleGrace: Double = 3600
    static let retryAfterFailure: Double = 5

    private let lock = NIOLock()
    private var entries: [String: Entry] = [:]
    private var limiter: KeyRefetchLimiter
    private let client: AuthHTTPClient
    private let timeout: TimeAmount
    private let group: EventLoopGroup

    init(client: AuthHTTPClient, group: EventLoopGroup, timeout: TimeAmount, refetchInterval: Double = 30) {
        self.client = client
        self.group = group
        self.timeout = timeout
        self.limiter = KeyRefetchLimiter(interval: refetchInterval)
    }

    /// What a policy evaluation may use now; starts a background refresh of a set past its lifetime.
    func state(_ url: String, now: Double) -> KeySetState {
        let (state, refresh) = lock.withLock { () -> (KeySetState, Bool) in
            guard let entry = entries[url] else { return (.missing, false) }
            if let set = entry.set {
                if now >= entry.freshUntil + Self.staleGrace, let failure = entry.lastFailure {
                    return (.unavailable(reason: "key set expired and could not be refreshed: \(failure.reason)"), !entry.fetching)
                }
                return (.available(set, refetchAllowed: limiter.wouldPermit(url, now: now)), now >= entry.nextRefresh && !entry.fetching)
            }
            if let failure = entry.lastFailure, now - failure.at < Self.retryAfterFailure, !entry.fetching {
                return (.unavailable(reason: failure.reason), false)
            }
            return (.missing, false)
        }
        if refresh { _ = fetch(url, unknownKey: false, on: group.next()) }
        return state
    }

    /// Fetches `url` (or joins the fetch in flight) and completes when it is done, whatever the
    /// outcome: the caller evaluates again and `state` tells. For an unknown `kid`
    /// (`unknownKey`), only when the `KeyRefetchLimiter` permits; otherwise completes at once.
    func fetch(_ url: String, unknownKey: Bool, on loop: EventLoop) -> EventLoopFuture<Void> {
        let now = Date().timeIntervalSince1970
        let promise = loop.makePromise(of: Void.self)
        enum Step { case joined, refused, started }
        let step = lock.withLock { () -> Step in
            var entry = entries[url] ?? Entry()
            defer { entries[url] = entry }
            if entry.fetching {
                entry.waiters.append(promise)
                return .joined
            }
            // Only kid misses count against the limiter: they are what a client controls. Fetches
            // for a missing or expired set are bounded by the set's lifetime and the failure pause.
            if unknownKey, !limiter.permit(url, now: now) { return .refused }
            entry.fetching = true
            entry.waiters.append(promise)
            return .started
        }
        switch step {
        case .joined: return promise.futureResult
        case .refused:
            promise.succeed(())
            return promise.futureResult
        case .started: break
        }
        download(url, on: loop).whenComplete { [self] result in
            let finishedAt = Date().timeIntervalSince1970
            let waiters = lock.withLock { () -> [EventLoopPromise<Void>] in
                var entry = entries[url] ?? Entry()
                switch result {
                case .success(let (set, lifetime)):
                    entry.set = set
                    entry.freshUntil = finishedAt + lifetime
                    entry.nextRefresh = entry.freshUntil
                    entry.lastFailure = nil
                case .failure(let error):
                    entry.lastFailure = ("\(error)", finishedAt)
                    // Keep a set that worked; a refresh is retried after a short pause, not per request.
                    entry.nextRefresh = finishedAt + Self.retryAfterFailure
                }
                entry.fetching = false
                let waiters = entry.waiters
                entry.waiters = []
                entries[url] = entry
                return waiters
            }
            for waiter in waiters { waiter.succeed(()) }
        }
        return promise.futureResult
    }

    /// Starts fetching every URL not held yet (a new table's policies), so the first requests
    /// need not wait. Sets of URLs no policy names any more are dropped.
    func prepare(urls: Set<String>) {
        let missing = lock.withLock { () -> [String] in
            entries = entries.filter { urls.contains($0.key) || $0.value.fetching }
            return urls.filter { entries[$0] == nil }.sorted()
        }
        for url in missing { _ = fetch(url, unknownKey: false, on: group.next()) }
    }

    /// Last fetch failures by URL, for the heartbeat.
    var failures: [String: String] {
        lock.withLock { entries.compactMapValues { $0.lastFailure?.reason } }
    }

    private func download(_ text: String, on loop: EventLoop) -> EventLoopFuture<(JSONWebKeySet, Double)> {
        let url: OutboundURL
        switch OutboundURL.keySet(text) {
        case .success(let parsed): url = parsed
        case .failure(let failure): return loop.makeFailedFuture(failure)
        }
        return client.send("GET", url, headers: [("accept", "application/jwk-set+json, application/json")],
                           maxBody: JSONWebKeySet.maxBytes, timeout: timeout, on: loop)
            .flatMapThrowing { response -> (JSONWebKeySet, Double) in
                guard response.status == 200 else { throw AuthHTTPError(description: "\(url) answered \(response.status)") }
                let set = try JSONWebKeySet.parse(response.body)
                guard !set.keys.isEmpty else {
                    throw AuthHTTPError(description: "\(url) has no usable key (\(set.skipped.joined(separator: "; ")))")
                }
                return (set, KeySetLifetime.seconds(cacheControl: response.values("cache-control")))
            }
    }
}

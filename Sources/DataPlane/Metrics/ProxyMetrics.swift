import Foundation

/// The per-request counters of one event loop: its own lock, which only `/metrics` ever contends
/// for, so loops do not serialize on one lock per request.
final class RequestCounters: @unchecked Sendable {
    let lock = NSLock()
    var requests: [String: [Int: Int]] = [:]      // route → status → count
    var bucketCounts = [Int](repeating: 0, count: ProxyMetrics.latencyBuckets.count + 1)
    var latencySum = 0.0
    var latencyCount = 0

    /// The last (route, status) counted and how many of its requests are not yet in `requests`:
    /// a run of requests to one route with one status (the common case) costs a comparison
    /// each (the route strings of one table share their storage, so equal routes compare by
    /// pointer), not two dictionary lookups that hash the route name.
    var hotRoute = ""
    var hotStatus = -1
    var hotCount = 0

    func requestFinished(route: String, status: Int, seconds: Double) {
        let index = ProxyMetrics.latencyBuckets.firstIndex { seconds <= $0 } ?? ProxyMetrics.latencyBuckets.count
        lock.withLock {
            if status == hotStatus, route == hotRoute {
                hotCount += 1
            } else {
                foldHot()
                hotRoute = route
                hotStatus = status
                hotCount = 1
            }
            bucketCounts[index] += 1
            latencySum += seconds
            latencyCount += 1
        }
    }

    /// Moves the hot slot's count into `requests` (under `lock`).
    func foldHot() {
        guard hotCount > 0 else { return }
        requests[hotRoute, default: [:]][hotStatus, default: 0] += hotCount
        hotCount = 0
    }
}

/// Counters for `/metrics`, in Prometheus text format. Requests are counted per event loop
/// (`RequestCounters`) and summed when rendered; the rarer counters share one lock.
public final class ProxyMetrics: @unchecked Sendable {
    public static let latencyBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    private let lock = NSLock()
    private var counters: [RequestCounters] = []
    private var upstreamErrors: [String: Int] = [:]       // kind → count
    private var openConnections = 0
    private var acceptedConnections = 0

    public init() {}

    /// Counters for one event loop's requests, summed into every rendering.
    func makeCounters() -> RequestCounters {
        let made = RequestCounters()
        lock.withLock { counters.append(made) }
        return made
    }

    public func upstreamError(_ kind: String) { lock.withLock { upstreamErrors[kind, default: 0] += 1 } }
    public func connectionOpened() { lock.withLock { openConnections += 1; acceptedConnections += 1 } }
    public func connectionClosed() { lock.withLock { openConnections -= 1 } }
    public var open: Int { lock.withLock { openConnections } }

    /// Renders every metric; `generation` and `droppedLogEntries` come from their owners.
    public func render(generation: Int?, droppedLogEntries: Int, tableSwaps: Int, tablesRejected: Int) -> String {
        var requests: [String: [Int: Int]] = [:]
        var bucketCounts = [Int](repeating: 0, count: ProxyMetrics.latencyBuckets.count + 1)
        var latencySum = 0.0
        var latencyCount = 0
        for loop in lock.withLock({ counters }) {
            loop.lock.withLock {
                loop.foldHot()
                for (route, statuses) in loop.requests {
                    for (status, count) in statuses { requests[route, default: [:]][status, default: 0] += count }
                }
                for index in bucketCounts.indices { bucketCounts[index] += loop.bucketCounts[index] }
                latencySum += loop.latencySum
                latencyCount += loop.latencyCount
            }
        }
        return lock.withLock {
            var out = ""
            out += "# HELP berth_proxy_requests_total Requests answered, by route and status.\n# TYPE berth_proxy_requests_total counter\n"
            for route in requests.keys.sorted() {
                for status in requests[route]!.keys.sorted() {
                    out += "berth_proxy_requests_total{route=\"\(escape(route))\",status=\"\(status)\"} \(requests[route]![status]!)\n"
                }
            }
            out += "# HELP berth_proxy_request_duration_seconds Time from request head to the end of the response.\n# TYPE berth_proxy_request_duration_seconds histogram\n"
            var cumulative = 0
            for (index, bound) in ProxyMetrics.latencyBuckets.enumerated() {
                cumulative += bucketCounts[index]
                out += "berth_proxy_request_duration_seconds_bucket{le=\"\(bound)\"} \(cumulative)\n"
            }
            cumulative += bucketCounts.last!
            out += "berth_proxy_request_duration_seconds_bucket{le=\"+Inf\"} \(cumulative)\n"
            out += "berth_proxy_request_duration_seconds_sum \(latencySum)\nberth_proxy_request_duration_seconds_count \(latencyCount)\n"
            out += "# HELP berth_proxy_upstream_errors_total Failed upstream attempts, by kind.\n# TYPE berth_proxy_upstream_errors_total counter\n"
            for kind in upstreamErrors.keys.sorted() { out += "berth_proxy_upstream_errors_total{kind=\"\(kind)\"} \(upstreamErrors[kind]!)\n" }
            out += "# HELP berth_proxy_open_connections Client connections open now.\n# TYPE berth_proxy_open_connections gauge\nberth_proxy_open_connections \(openConnections)\n"
            out += "# HELP berth_proxy_accepted_connections_total Client connections accepted.\n# TYPE berth_proxy_accepted_connections_total counter\nberth_proxy_accepted_connections_total \(acceptedConnections)\n"
            out += "# HELP berth_proxy_route_table_generation Generation of the route table being served (-1: none).\n# TYPE berth_proxy_route_table_generation gauge\nberth_proxy_route_table_generation \(generation ?? -1)\n"
            out += "# HELP berth_proxy_route_table_swaps_total Route tables swapped in.\n# TYPE berth_proxy_route_table_swaps_total counter\nberth_proxy_route_table_swaps_total \(tableSwaps)\n"
            out += "# HELP berth_proxy_route_tables_rejected_total Route tables that failed to decode or compile.\n# TYPE berth_proxy_route_tables_rejected_total counter\nberth_proxy_route_tables_rejected_total \(tablesRejected)\n"
            out += "# HELP berth_proxy_access_log_dropped_total Access-log entries dropped because Redis was slow or away.\n# TYPE berth_proxy_access_log_dropped_total counter\nberth_proxy_access_log_dropped_total \(droppedLogEntries)\n"
            return out
        }
    }

    private func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}

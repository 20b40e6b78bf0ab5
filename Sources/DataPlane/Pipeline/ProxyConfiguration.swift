import NIOCore
import Spec

/// Limits and timeouts of the data plane. Defaults suit production.
public struct ProxyConfiguration: Sendable {
    /// Connections from these networks must start with a PROXY protocol header; from anywhere
    /// else a PROXY header is refused.
    public var proxyProtocolTrusted: [CIDR] = []
    public var replicaID: String = "proxy"
    /// Time allowed to receive a request head once its first byte arrived (slowloris).
    public var headerTimeout: TimeAmount = .seconds(10)
    /// Time a keep-alive connection may sit idle between requests.
    public var idleTimeout: TimeAmount = .seconds(60)
    public var connectTimeout: TimeAmount = .seconds(3)
    /// Time from the end of the request to the upstream's response head.
    public var firstByteTimeout: TimeAmount = .seconds(60)
    /// How long an endpoint that refused a connection is skipped.
    public var endpointDownTime: TimeAmount = .seconds(5)
    public var maxHeaderBytes = 32 * 1024
    public var maxConnections = 10_000
    public var maxIdleUpstreamConnectionsPerEndpoint = 64
    public var scheme = "http"
    /// Deadline of the proxy's own auth requests (a JWKS fetch, a forward-auth subrequest):
    /// connecting and the whole answer. Past it the request fails closed (503).
    public var authTimeout: TimeAmount = .seconds(5)
    /// PEM file of roots trusted for https JWKS and forward-auth URLs instead of the system's.
    public var authCAFile: String?

    public init() {}
}

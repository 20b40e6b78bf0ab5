import Foundation
import NIOCore
import NIOExtras
import NIOPosix
import Spec

/// The HTTP listeners of a replica. Each accepted connection gets: PROXY protocol check → activity
/// → `ProxyHandler`, which parses and forwards HTTP/1.1 as bytes.
public final class ProxyServer: @unchecked Sendable {
    let services: ProxyServices
    let group: MultiThreadedEventLoopGroup
    /// Dropped at the end of `shutdown`: its deinit completes a promise on the group, which must
    /// still be running then (NIO prints "Cannot schedule tasks on an EventLoop that has already
    /// shut down" otherwise).
    private var quiesce: ServerQuiescingHelper?
    private var channels: [Channel] = []

    public init(services: ProxyServices, group: MultiThreadedEventLoopGroup) {
        self.services = services
        self.group = group
        self.quiesce = ServerQuiescingHelper(group: group)
    }

    /// Binds every address; returns the bound addresses (port 0 picks a free one). With `tls`,
    /// each connection (after its PROXY header, if any) starts with a TLS handshake whose
    /// certificate is chosen by SNI from `tls`; no certificate for the name refuses the handshake.
    public func start(addresses: [SocketAddress], tls: CertificateStore? = nil) throws -> [SocketAddress] {
        let services = self.services
        let configuration = services.configuration
        guard let quiesce = self.quiesce else { throw ChannelError.ioOnClosedChannel }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiesce.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // Plain connections: ProxyHandler requests each read itself (see its `clientCore`).
            .childChannelOption(.autoRead, value: tls != nil)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard services.metrics.open < configuration.maxConnections else {
                        channel.close(promise: nil)
                        return
                    }
                    let peer = channel.remoteAddress
                    let peerIP = peer?.ipAddress ?? "unknown"
                    let pipeline = channel.pipeline.syncOperations
                    // Without TLS nothing handles outbound bytes between the proxy handler and the
                    // socket (the PROXY protocol handler is inbound only): it may write straight
                    // to the socket. Adding an outbound handler in front of it must change this.
                    let proxy = ProxyHandler(services: services, pool: services.pool(for: channel.eventLoop), clientAddress: peerIP,
                                             isTLS: tls != nil, socketIsNext: tls == nil)
                    let trusted = peer.flatMap { address in Self.ipBytes(address) }.map { bytes in
                        configuration.proxyProtocolTrusted.contains { $0.contains(bytes) }
                    } ?? false
                    let loopBound = NIOLoopBound(proxy, eventLoop: channel.eventLoop)
                    try pipeline.addHandler(ProxyProtocolHandler(mode: trusted ? .required : .refused) { address in
                        loopBound.value.clientAddress = address
                    })
                    if let tls {
                        try pipeline.addHandler(TLSHandshakeSelector.make(channel: channel, certificates: tls, before: proxy))
                    }
                    try pipeline.addHandler(proxy)
                }
            }
        var bound: [SocketAddress] = []
        for address in addresses {
            let channel = try bootstrap.bind(to: address).wait()
            channels.append(channel)
            if let local = channel.localAddress { bound.append(local) }
        }
        return bound
    }

    /// Stops accepting, lets in-flight requests finish (each connection closes after its current
    /// response), and completes when all are done or `grace` has passed.
    public func shutdown(grace: TimeAmount) {
        guard let quiesce else { return }
        let promise = group.next().makePromise(of: Void.self)
        quiesce.initiateShutdown(promise: promise)
        let deadline = DispatchTime.now() + .nanoseconds(Int(grace.nanoseconds))
        let done = DispatchSemaphore(value: 0)
        promise.futureResult.whenComplete { _ in done.signal() }
        _ = done.wait(timeout: deadline)
        self.quiesce = nil
    }

    static func ipBytes(_ address: SocketAddress) -> [UInt8]? {
        guard let text = address.ipAddress else { return nil }
        return CIDR.parseAddress(text)
    }
}

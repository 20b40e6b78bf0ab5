import NIOCore
import NIOSSL
import NIOTLS

/// Reads the ClientHello's server name (SNI), then puts a TLS handler with that name's
/// certificate in front of `before` and lets the handshake proceed; without a certificate for the
/// name (and no default) the connection is closed before any TLS is spoken.
enum TLSHandshakeSelector {
    static func make(channel: Channel, certificates: CertificateStore, before handler: ChannelHandler) -> ChannelHandler {
        let next = NIOLoopBound(handler, eventLoop: channel.eventLoop)
        return ByteToMessageHandler(SNIHandler { result in
            let name: String? = if case .hostname(let host) = result { host } else { nil }
            guard let context = certificates.context(forServerName: name) else {
                // Nothing to answer this name with: close rather than speak TLS with another
                // host's certificate.
                channel.close(promise: nil)
                return channel.eventLoop.makeFailedFuture(NoCertificate(serverName: name))
            }
            return channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(try NIOSSLServerHandler(context: context), position: .before(next.value))
            }
        })
    }

    struct NoCertificate: Error, CustomStringConvertible {
        var serverName: String?
        var description: String { "no certificate for \(serverName.map { "\"\($0)\"" } ?? "a ClientHello without SNI")" }
    }
}

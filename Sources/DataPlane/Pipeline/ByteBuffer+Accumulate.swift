import NIOCore

extension Optional where Wrapped == ByteBuffer {
    /// Appends bytes that just arrived to those not yet framed. When nothing is pending the
    /// incoming buffer is kept as it is (no copy); otherwise the pending buffer, released from
    /// `self` first so it is uniquely held, grows in place.
    mutating func accumulate(_ incoming: ByteBuffer) {
        var incoming = incoming
        if var buffer = self, buffer.readableBytes > 0 {
            self = nil
            buffer.writeBuffer(&incoming)
            self = buffer
        } else {
            self = incoming
        }
    }
}

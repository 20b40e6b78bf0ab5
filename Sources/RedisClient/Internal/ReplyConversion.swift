import CHiredis

extension RedisValue {
    /// Copies a hiredis reply tree into a value; the caller still owns (and must free) `reply`.
    init(copying reply: UnsafePointer<redisReply>) throws {
        let node = reply.pointee
        switch node.type {
        case REDIS_REPLY_STRING:
            self = .bulk(copyBytes(node.str, node.len))
        case REDIS_REPLY_STATUS:
            self = .simple(String(decoding: copyBytes(node.str, node.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            self = .error(String(decoding: copyBytes(node.str, node.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            self = .integer(Int64(node.integer))
        case REDIS_REPLY_NIL:
            self = .null
        case REDIS_REPLY_ARRAY:
            var elements: [RedisValue] = []
            elements.reserveCapacity(node.elements)
            for index in 0..<node.elements {
                guard let element = node.element[index] else {
                    throw RedisError(kind: .protocolViolation, message: "hiredis returned an array reply with a missing element")
                }
                elements.append(try RedisValue(copying: element))
            }
            self = .array(elements)
        default:
            throw RedisError(kind: .protocolViolation, message: "hiredis returned a reply of unknown type \(node.type)")
        }
    }
}

private func copyBytes(_ pointer: UnsafeMutablePointer<CChar>?, _ count: Int) -> [UInt8] {
    guard let pointer, count > 0 else { return [] }
    return Array(UnsafeRawBufferPointer(start: pointer, count: count))
}

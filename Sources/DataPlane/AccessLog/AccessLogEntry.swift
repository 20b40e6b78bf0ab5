/// One request, as recorded in the `log:requests` stream. Built from what the proxy itself knows;
/// it never holds `Authorization`, cookies or query values.
public struct AccessLogEntry: Sendable {
    public var time: String
    public var replica: String
    public var client: String
    public var method: String
    public var host: String
    /// The path with query values removed (`/search?q=…&page=…` → `/search?q&page`).
    public var path: String
    public var status: Int
    public var bytesIn: Int
    public var bytesOut: Int
    public var durationMicroseconds: Int
    public var upstream: String
    public var route: String
    public var revision: String
    public var requestID: String

    public init(time: String, replica: String, client: String, method: String, host: String, path: String, status: Int,
                bytesIn: Int, bytesOut: Int, durationMicroseconds: Int, upstream: String, route: String, revision: String,
                requestID: String) {
        self.time = time
        self.replica = replica
        self.client = client
        self.method = method
        self.host = host
        self.path = path
        self.status = status
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.durationMicroseconds = durationMicroseconds
        self.upstream = upstream
        self.route = route
        self.revision = revision
        self.requestID = requestID
    }

    /// Stream fields, in a fixed order.
    var fields: [String] {
        ["time", time, "replica", replica, "client", client, "method", method, "host", host, "path", path,
         "status", String(status), "bytes_in", String(bytesIn), "bytes_out", String(bytesOut),
         "duration_us", String(durationMicroseconds), "upstream", upstream, "route", route, "revision", revision,
         "request_id", requestID]
    }

    /// The stream fields as RESP bulk strings, in `fields` order (what the shipper sends).
    func appendFields(to out: inout [UInt8]) {
        RESPPipe.appendBulk(&out, "time"); RESPPipe.appendBulk(&out, time)
        RESPPipe.appendBulk(&out, "replica"); RESPPipe.appendBulk(&out, replica)
        RESPPipe.appendBulk(&out, "client"); RESPPipe.appendBulk(&out, client)
        RESPPipe.appendBulk(&out, "method"); RESPPipe.appendBulk(&out, method)
        RESPPipe.appendBulk(&out, "host"); RESPPipe.appendBulk(&out, host)
        RESPPipe.appendBulk(&out, "path"); RESPPipe.appendBulk(&out, path)
        RESPPipe.appendBulk(&out, "status"); RESPPipe.appendBulk(&out, status)
        RESPPipe.appendBulk(&out, "bytes_in"); RESPPipe.appendBulk(&out, bytesIn)
        RESPPipe.appendBulk(&out, "bytes_out"); RESPPipe.appendBulk(&out, bytesOut)
        RESPPipe.appendBulk(&out, "duration_us"); RESPPipe.appendBulk(&out, durationMicroseconds)
        RESPPipe.appendBulk(&out, "upstream"); RESPPipe.appendBulk(&out, upstream)
        RESPPipe.appendBulk(&out, "route"); RESPPipe.appendBulk(&out, route)
        RESPPipe.appendBulk(&out, "revision"); RESPPipe.appendBulk(&out, revision)
        RESPPipe.appendBulk(&out, "request_id"); RESPPipe.appendBulk(&out, requestID)
    }

    static let fieldCount = 14

    /// Drops query values, keeping parameter names: secrets often travel in query strings.
    public static func redactQuery(path: String, query: String?) -> String {
        guard let query, !query.isEmpty else { return path }
        let names = query.split(separator: "&").map { $0.split(separator: "=", maxSplits: 1).first.map(String.init) ?? "" }
        return path + "?" + names.joined(separator: "&")
    }
}

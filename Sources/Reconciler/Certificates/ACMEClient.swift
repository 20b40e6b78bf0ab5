import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import Spec
import SwiftASN1
import X509

/// Publishes and withdraws HTTP-01 key authorizations where every proxy can answer them.
public protocol ChallengePublisher: Sendable {
    func publish(token: String, keyAuthorization: String) async throws
    func withdraw(token: String) async
}

/// An ACME (RFC 8555) client for one directory and one account key: orders a certificate for a
/// set of DNS names over HTTP-01. Robust against what CAs do in practice: `badNonce` is retried with
/// the nonce the error carried (§6.5), `Retry-After` is honoured while polling and on 429/503 up
/// to `maximumWait`, problem documents (§6.7) are thrown verbatim as `IssuanceError(code: type,
/// message: detail)`.
public actor ACMEClient {
    public struct Directory: Sendable {
        public var newNonce: String
        public var newAccount: String
        public var newOrder: String
        /// ARI (RFC 9773), when offered; not used for decisions yet.
        public var renewalInfo: String?
    }

    let http: HTTPClient
    let directoryURL: String
    let accountKey: P256.Signing.PrivateKey
    /// The account URL (`kid`) once known.
    public private(set) var accountURL: String?
    /// The longest a single `Retry-After` is waited out inside one order; longer ones fail the
    /// order with the server's problem and its delay (the controller's backoff takes over).
    public var maximumWait: TimeInterval = 30
    /// The longest one order may take from newOrder to the downloaded chain.
    public var orderTimeout: TimeInterval = 180
    private var directory: Directory?
    private var nonce: String?

    public init(http: HTTPClient, directoryURL: String, accountKey: P256.Signing.PrivateKey, accountURL: String? = nil) {
        self.http = http
        self.directoryURL = directoryURL
        self.accountKey = accountKey
        self.accountURL = accountURL
    }

    // MARK: Directory, nonces, account

    public func loadDirectory() async throws -> Directory {
        if let directory { return directory }
        let response = try await send(url: directoryURL, method: .GET)
        guard response.status == 200, let json = try? JSONValue.parse(bytes: response.body),
              let newNonce = json["newNonce"]?.stringValue, let newAccount = json["newAccount"]?.stringValue,
              let newOrder = json["newOrder"]?.stringValue else {
            throw IssuanceError(code: "acme-directory", message: "\(directoryURL) answered \(response.status) without an ACME directory",
                                hint: "check --acme-directory (or spec.acme.directory)")
        }
        let loaded = Directory(newNonce: newNonce, newAccount: newAccount, newOrder: newOrder, renewalInfo: json["renewalInfo"]?.stringValue)
        directory = loaded
        return loaded
    }

    private func freshNonce() async throws -> String {
        if let nonce {
            self.nonce = nil
            return nonce
        }
        let directory = try await loadDirectory()
        let response = try await send(url: directory.newNonce, method: .HEAD)
        guard let nonce = response.headers.first(name: "Replay-Nonce") else {
            throw IssuanceError(code: "acme-nonce", message: "\(directory.newNonce) returned no Replay-Nonce (HTTP \(response.status))")
        }
        return nonce
    }

    /// Registers the account key (or finds the account it already has: newAccount is idempotent
    /// per key, §7.3.1) and returns the account URL.
    @discardableResult
    public func account(email: String?) async throws -> String {
        if let accountURL { return accountURL }
        let directory = try await loadDirectory()
        var payload: [String: JSONValue] = ["termsOfServiceAgreed": .bool(true)]
        if let email { payload["contact"] = .array([.string("mailto:" + email)]) }
        let response = try await post(directory.newAccount, payload: .object(payload), useJWK: true)
        guard let location = response.headers.first(name: "Location") else {
            throw IssuanceError(code: "acme-account", message: "newAccount answered \(response.status) without the account URL (Location)")
        }
        accountURL = location
        return location
    }

    // MARK: JWS (RFC 7515, ES256)

    nonisolated static func base64url(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    nonisolated var jwk: JSONValue {
        let point = Array(accountKey.publicKey.x963Representation)  // 0x04 || X || Y
        return .object(["crv": .string("P-256"), "kty": .string("EC"),
                        "x": .string(Self.base64url(point[1...32])), "y": .string(Self.base64url(point[33...64]))])
    }

    /// RFC 7638 thumbprint of the account key: SHA-256 of the JWK's required members, sorted, no whitespace.
    nonisolated public var thumbprint: String { Self.base64url(Crypto.SHA256.hash(data: Array(jwk.canonicalString.utf8))) }

    nonisolated public func keyAuthorization(token: String) -> String { token + "." + thumbprint }

    private func signedBody(url: String, payload: JSONValue?, nonce: String, useJWK: Bool) throws -> [UInt8] {
        var header: [String: JSONValue] = ["alg": .string("ES256"), "nonce": .string(nonce), "url": .string(url)]
        if useJWK || accountURL == nil { header["jwk"] = jwk } else { header["kid"] = .string(accountURL!) }
        let protected = Self.base64url(Array(JSONValue.object(header).canonicalString.utf8))
        let body = payload.map { Self.base64url(Array($0.canonicalString.utf8)) } ?? ""  // "" = POST-as-GET (§6.3)
        let signature = try accountKey.signature(for: Array("\(protected).\(body)".utf8))
        let jws = JSONValue.object(["protected": .string(protected), "payload": .string(body),
                                    "signature": .string(Self.base64url(signature.rawRepresentation))])
        return Array(jws.canonicalString.utf8)
    }

    // MARK: Transport

    struct Response {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
        var json: JSONValue? { try? JSONValue.parse(bytes: body) }
    }

    private func send(url: String, method: HTTPMethod, body: [UInt8]? = nil, accept: String? = nil) async throws -> Response {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "User-Agent", value: "berth-acme/\(ACMEClient.version)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/jose+json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        if let accept { request.headers.add(name: "Accept", value: accept) }
        do {
            let response = try await http.execute(request, timeout: .seconds(30))
            let buffer = try await response.body.collect(upTo: 4 << 20)
            if let nonce = response.headers.first(name: "Replay-Nonce") { self.nonce = nonce }
            return Response(status: Int(response.status.code), headers: response.headers, body: Array(buffer.readableBytesView))
        } catch let error as IssuanceError {
            throw error
        } catch {
            throw IssuanceError(code: "acme-unreachable", message: "\(method) \(url): \(error)",
                                hint: "check the directory URL, the network and --acme-ca-file (the CA bundle that signs the directory's HTTPS certificate)")
        }
    }

    /// A signed POST. Retries `badNonce` with the fresh nonce (up to 20 times in a row: a CA may
    /// reject any share of nonces, and an order with its polling makes a few dozen POSTs; pebble's
    /// 50% rejection gave ten in a row about once in a hundred orders) and waits out short
    /// `Retry-After`s on 429/503; any other problem is thrown as it came.
    private func post(_ url: String, payload: JSONValue?, useJWK: Bool = false, accept: String? = nil) async throws -> Response {
        var badNonces = 0, waits = 0
        while true {
            let nonce = try await freshNonce()
            let response = try await send(url: url, method: .POST, body: try signedBody(url: url, payload: payload, nonce: nonce, useJWK: useJWK),
                                          accept: accept)
            if response.status < 400 { return response }
            let problem = Self.problem(response)
            if problem.code == "urn:ietf:params:acme:error:badNonce", badNonces < 20 {
                badNonces += 1
                continue
            }
            if response.status == 429 || response.status == 503, let delay = problem.retryAfter, delay <= maximumWait, waits < 3 {
                waits += 1
                try await Task.sleep(for: .milliseconds(Int(delay * 1000)))
                continue
            }
            throw problem
        }
    }

    /// The problem document of an error response (§6.7), verbatim.
    static func problem(_ response: Response) -> IssuanceError {
        let retryAfter = retryAfterSeconds(response.headers)
        if let json = response.json, let type = json["type"]?.stringValue {
            var detail = json["detail"]?.stringValue ?? "(no detail)"
            if let subproblems = json["subproblems"]?.arrayValue, !subproblems.isEmpty {
                detail += " [" + subproblems.map { sub in
                    "\(sub["identifier"]?["value"]?.stringValue ?? "?"): \(sub["type"]?.stringValue ?? "?"): \(sub["detail"]?.stringValue ?? "")"
                }.joined(separator: "; ") + "]"
            }
            return IssuanceError(code: type, message: detail, retryAfter: retryAfter)
        }
        let text = String(decoding: response.body.prefix(300), as: UTF8.self)
        return IssuanceError(code: "acme-http-\(response.status)", message: "HTTP \(response.status): \(text)", retryAfter: retryAfter)
    }

    /// `Retry-After` as seconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
    static func retryAfterSeconds(_ headers: HTTPHeaders, now: Date = Date()) -> TimeInterval? {
        guard let value = headers.first(name: "Retry-After")?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let seconds = Int(value) { return TimeInterval(max(0, seconds)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: value).map { max(0, $0.timeIntervalSince(now)) }
    }

    /// POST-as-GET `url` until its `status` leaves `waiting`, sleeping per `Retry-After` or with
    /// backoff (0.25 s doubling to 4 s). Returns the last object.
    private func poll(_ url: String, while waiting: Set<String>, deadline: Date, what: String) async throws -> JSONValue {
        var delay = 0.25
        while true {
            let response = try await post(url, payload: nil)
            guard let json = response.json, let status = json["status"]?.stringValue else {
                throw IssuanceError(code: "acme-malformed", message: "\(what) at \(url) has no status")
            }
            if !waiting.contains(status) { return json }
            guard Date() < deadline else {
                throw IssuanceError(code: "acme-timeout", message: "\(what) is still \(status) after \(Int(orderTimeout)) s", retryAfter: 60)
            }
            let wait = min(Self.retryAfterSeconds(response.headers) ?? delay, maximumWait)
            delay = min(delay * 2, 4)
            try await Task.sleep(for: .milliseconds(Int(max(wait, 0.05) * 1000)))
        }
    }

    // MARK: Ordering

    /// Orders a certificate for `hosts` (one order, one certificate naming them all) with a CSR
    /// for `key`, answering HTTP-01 through `challenges`. Returns the PEM chain, leaf first.
    /// An account the CA no longer knows (a test CA restarted, an account deactivated by hand) is
    /// registered again with the same key, once.
    public func order(hosts: [String], key: P256.Signing.PrivateKey, email: String?, challenges: ChallengePublisher) async throws -> String {
        do {
            return try await orderOnce(hosts: hosts, key: key, email: email, challenges: challenges)
        } catch let error as IssuanceError where error.code == "urn:ietf:params:acme:error:accountDoesNotExist" && accountURL != nil {
            accountURL = nil
            return try await orderOnce(hosts: hosts, key: key, email: email, challenges: challenges)
        }
    }

    private func orderOnce(hosts: [String], key: P256.Signing.PrivateKey, email: String?, challenges: ChallengePublisher) async throws -> String {
        let deadline = Date().addingTimeInterval(orderTimeout)
        let directory = try await loadDirectory()
        try await account(email: email)
        let identifiers = JSONValue.array(hosts.map { .object(["type": .string("dns"), "value": .string($0)]) })
        let created = try await post(directory.newOrder, payload: .object(["identifiers": identifiers]))
        guard let orderURL = created.headers.first(name: "Location"), var order = created.json,
              let finalize = order["finalize"]?.stringValue, let authorizations = order["authorizations"]?.arrayValue?.compactMap(\.stringValue) else {
            throw IssuanceError(code: "acme-malformed", message: "newOrder answered \(created.status) without an order URL, finalize URL or authorizations")
        }

        var published: [String] = []
        do {
            for url in authorizations {
                let authorization = try await post(url, payload: nil).json ?? .null
                let name = authorization["identifier"]?["value"]?.stringValue ?? url
                switch authorization["status"]?.stringValue {
                case "valid":
                    continue  // reused from an earlier order
                case "pending":
                    break
                default:
                    throw Self.authorizationProblem(authorization, name: name)
                }
                guard let challenge = authorization["challenges"]?.arrayValue?.first(where: { $0["type"]?.stringValue == "http-01" }),
                      let token = challenge["token"]?.stringValue, let challengeURL = challenge["url"]?.stringValue else {
                    throw IssuanceError(code: "acme-no-http01", message: "the CA offers no http-01 challenge for \(name)",
                                        hint: name.hasPrefix("*.") ? "wildcard names need DNS-01, which Berth does not do; list the hosts instead" : nil)
                }
                try await challenges.publish(token: token, keyAuthorization: keyAuthorization(token: token))
                published.append(token)
                _ = try await post(challengeURL, payload: .object([:]))
                let final = try await poll(url, while: ["pending"], deadline: deadline, what: "the authorization of \(name)")
                if final["status"]?.stringValue != "valid" { throw Self.authorizationProblem(final, name: name) }
            }
        } catch {
            for token in published { await challenges.withdraw(token: token) }
            throw error
        }
        for token in published { await challenges.withdraw(token: token) }

        order = try await poll(orderURL, while: ["pending"], deadline: deadline, what: "the order")
        if order["status"]?.stringValue == "ready" {
            let csr = try Self.csr(hosts: hosts, key: key)
            _ = try await post(finalize, payload: .object(["csr": .string(Self.base64url(csr))]))
            order = try await poll(orderURL, while: ["ready", "processing"], deadline: deadline, what: "the order")
        }
        guard order["status"]?.stringValue == "valid", let certificateURL = order["certificate"]?.stringValue else {
            throw Self.orderProblem(order)
        }
        let download = try await post(certificateURL, payload: nil, accept: "application/pem-certificate-chain")
        return String(decoding: download.body, as: UTF8.self)
    }

    static func authorizationProblem(_ authorization: JSONValue, name: String) -> IssuanceError {
        let status = authorization["status"]?.stringValue ?? "unknown"
        for challenge in authorization["challenges"]?.arrayValue ?? [] {
            if let error = challenge["error"], let type = error["type"]?.stringValue {
                return IssuanceError(code: type, message: error["detail"]?.stringValue ?? "(no detail)",
                                     hint: "the CA could not fetch http://\(name)/.well-known/acme-challenge/… from a berth-proxy: check DNS and that port 80 reaches a proxy")
            }
        }
        return IssuanceError(code: "urn:ietf:params:acme:error:unauthorized", message: "the authorization of \(name) is \(status)")
    }

    static func orderProblem(_ order: JSONValue) -> IssuanceError {
        if let error = order["error"], let type = error["type"]?.stringValue {
            return IssuanceError(code: type, message: error["detail"]?.stringValue ?? "(no detail)")
        }
        return IssuanceError(code: "acme-order", message: "the order ended \(order["status"]?.stringValue ?? "without a status") and no certificate")
    }

    /// A PKCS#10 request naming every host in subjectAltName (§7.4: the CSR's names must be the order's).
    static func csr(hosts: [String], key: P256.Signing.PrivateKey) throws -> [UInt8] {
        let extensions = try Certificate.Extensions { SubjectAlternativeNames(hosts.map { GeneralName.dnsName($0) }) }
        let request = try CertificateSigningRequest(
            version: .v1, subject: try DistinguishedName { CommonName(hosts.first ?? "") },
            privateKey: Certificate.PrivateKey(key),
            attributes: CertificateSigningRequest.Attributes([try .init(ExtensionRequest(extensions: extensions))]),
            signatureAlgorithm: .ecdsaWithSHA256)
        var serializer = DER.Serializer()
        try serializer.serialize(request)
        return serializer.serializedBytes
    }

    static let version = "0.1.0"
}

import ArgumentParser
import Foundation
import Reconciler

struct CA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca",
        abstract: "Berth's internal CA, which signs `tls: self-signed` certificates.",
        subcommands: [Export.self])

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the internal CA's certificate (PEM) so clients can trust it.",
            discussion: """
                The CA is created once per Redis prefix (in <prefix>ca) the first time a self-signed certificate \
                is issued, or by this command if none exists yet; its private key never leaves Redis.

                Examples:
                  berth ca export > berth-ca.pem
                  curl --cacert berth-ca.pem https://internal.example.test/
                """)

        @OptionGroup var redis: RedisOptions

        func run() throws {
            do {
                let issuer = try RedisCertificateIssuer(options: .init(redisURL: redis.redisURL, prefix: redis.prefix))
                defer { issuer.shutdown() }
                writeStdout(try issuer.certificateAuthority().certificatePEM)
            } catch let error as IssuanceError {
                throw fail(error.message, hint: error.hint)
            } catch {
                throw printError(error)
            }
        }
    }
}

import Testing
@testable import Auth

/// bcrypt against published vectors and another implementation. Each expected hash comes from a
/// source named next to it; none was produced by the code under test.
struct BcryptTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        var hash: String
        var password: [UInt8]
        var testDescription: String { "\(hash.prefix(7))… \(password.prefix(12).map { String($0, radix: 16) }.joined(separator: " "))" }
    }

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// Openwall crypt_blowfish 1.3 `wrapper.c` test table (the reference for `$2a$`/`$2b$`/`$2y$`,
    /// including its 2011 `$2a$` countermeasure and the 72-byte limit). The `$2x$` rows of that
    /// table (the emulated sign-extension bug) are in `refusedVariants`.
    static let openwall: [Vector] = [
        .init(hash: "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", password: bytes("U*U")),
        .init(hash: "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK", password: bytes("U*U*")),
        // Salt of 21 'X' characters then "O" (Openwall's vector, spelled out so no tool reads it as a marker).
        .init(hash: "$2a$05$" + String(repeating: "X", count: 21) + "OAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a", password: bytes("U*U*U")),
        .init(hash: "$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
              password: bytes("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789chars after 72 are ignored")),
        .init(hash: "$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e", password: [0xff, 0xff, 0xa3]),
        .init(hash: "$2a$05$/OK.fbVrR/bpIqNJ5ianF.nqd1wy.pTMdcvrRWxyiGL2eMz.2a85.", password: [0xff, 0xff, 0xa3]),
        .init(hash: "$2b$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e", password: [0xff, 0xff, 0xa3]),
        .init(hash: "$2y$05$/OK.fbVrR/bpIqNJ5ianF.Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq", password: [0xa3]),
        .init(hash: "$2a$05$/OK.fbVrR/bpIqNJ5ianF.Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq", password: [0xa3]),
        .init(hash: "$2b$05$/OK.fbVrR/bpIqNJ5ianF.Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq", password: [0xa3]),
        .init(hash: "$2y$05$/OK.fbVrR/bpIqNJ5ianF.o./n25XVfn6oAPaUvHe.Csk4zRfsYPi", password: [0xff, 0xa3] + bytes("34") + [0xff, 0xff, 0xff, 0xa3] + bytes("345")),
        .init(hash: "$2a$05$/OK.fbVrR/bpIqNJ5ianF.ZC1JEJ8Z4gPfpe1JOr/oyPXTWl9EFd.", password: [0xff, 0xa3] + bytes("34") + [0xff, 0xff, 0xff, 0xa3] + bytes("345")),
        .init(hash: "$2y$05$/OK.fbVrR/bpIqNJ5ianF.nRht2l/HRhr6zmCp9vYUvvsqynflf9e", password: [0xff, 0xa3] + bytes("345")),
        .init(hash: "$2a$05$/OK.fbVrR/bpIqNJ5ianF.nRht2l/HRhr6zmCp9vYUvvsqynflf9e", password: [0xff, 0xa3] + bytes("345")),
        .init(hash: "$2a$05$/OK.fbVrR/bpIqNJ5ianF.6IflQkJytoRVc1yuaNtHfiuq.FRlSIS", password: [0xa3] + bytes("ab")),
        .init(hash: "$2y$05$/OK.fbVrR/bpIqNJ5ianF.6IflQkJytoRVc1yuaNtHfiuq.FRlSIS", password: [0xa3] + bytes("ab")),
        .init(hash: "$2a$05$/OK.fbVrR/bpIqNJ5ianF.swQOIzjOiJ9GHEPuhEkvqrUyvWhEMx6",
              password: [UInt8](repeating: 0xaa, count: 72) + Array("chars after 72 are ignored as usual".utf8)),
        .init(hash: "$2a$05$/OK.fbVrR/bpIqNJ5ianF.R9xrDjiycxMbQE2bp.vgqlYpW5wx2yy",
              password: Array([[UInt8]](repeating: [0xaa, 0x55], count: 36).joined())),
        .init(hash: "$2a$05$/OK.fbVrR/bpIqNJ5ianF.9tQZzcJfm3uj2NvJ/n5xkhpqLrMpWCe",
              password: Array([[UInt8]](repeating: [0x55, 0xaa, 0xff], count: 24).joined())),
        .init(hash: "$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy", password: []),
    ]

    /// Made by pyca/bcrypt 5.0.0 (OpenBSD's algorithm, in Rust) with
    /// `python3 Tests/AuthTests/Scripts/bcrypt_vectors.py` (fixed salts, so re-running it prints
    /// the same lines). Passwords are ASCII, UTF-8 and 71/72 bytes long; for those, `$2a$`,
    /// `$2b$` and `$2y$` agree between crypt_blowfish and OpenBSD.
    static let pythonTable: [(String, [UInt8])] = [
        ("$2b$04$..CA.uOD/eaGAOmJB.yMBuq1wbVgYezarXi1FgOYk1qMNtxVndjJm", []),
        ("$2a$05$C/CQCvOTDfaWEPmZF/ycFuTmdlm/sutAlWWXd96zP8jy.tLX5pZVS", []),
        ("$2y$04$GACgGwOjHgamIQmpJAysJuxvGxfG8R06433JsSEje6U4VfBN6OkW.", []),
        ("$2b$04$KBCwKxOzLha2MRm5NBy8NuIWSuvZjBeEBBL49HH4CzhHzQHAejIMa", [97]),
        ("$2a$05$OCDAOyPDPibGQSnJRCzMRuFG3t9aNoK3a574Gey6LjKlzkuxc8GSi", [97]),
        ("$2y$04$SDDQSzPTTjbWUTnZVDzcVuYkpDTHDZKKCklDAg9xUYoVqU0jB0ms.", [97]),
        ("$2b$04$WEDgW0PjXkbmYUnpZEzsZuiVMLf3A5lLlUzUdk5c0U.vdp0yDlWRW", [112, 97, 115, 115, 119, 111, 114, 100]),
        ("$2a$05$aFDwa1Pzblb2cVn5dFz8du6IayQpIK4od4mefh2hX3BNf/bqf3fMq", [112, 97, 115, 115, 119, 111, 114, 100]),
        ("$2y$04$eGEAe2QDfmcGgWoJhG0MhuN1IZre7gdnLSFrooVOmjUQ8xhivDmHa", [112, 97, 115, 115, 119, 111, 114, 100]),
        ("$2b$04$iHEQi3QTjncWkXoZlH0cluhT6IC4mDCbLLE32s7b9tCycGN3UT4VS", [99, 111, 114, 114, 101, 99, 116, 32, 104, 111, 114, 115, 101, 32, 98, 97, 116, 116, 101, 114, 121, 32, 115, 116, 97, 112, 108, 101]),
        ("$2a$05$mIEgm4QjnocmoYoppI0spuSxx.MNAtxtJnE/iCPDLUJILcbNJjKEq", [99, 111, 114, 114, 101, 99, 116, 32, 104, 111, 114, 115, 101, 32, 98, 97, 116, 116, 101, 114, 121, 32, 115, 116, 97, 112, 108, 101]),
        ("$2y$04$qJEwq5Qzrpc2sZo5tJ08tu.ub0yI8KsHj6gWVLlAH/03FzWbRcSLm", [99, 111, 114, 114, 101, 99, 116, 32, 104, 111, 114, 115, 101, 32, 98, 97, 116, 116, 101, 114, 121, 32, 115, 116, 97, 112, 108, 101]),
        ("$2b$04$uKFAu6RDvqdGwapJxK1Mxux2sV.hGBspDf/QANu/2usPXdScwvg2G", [112, 195, 164, 115, 115, 119, 195, 182, 114, 100, 32, 195, 188, 110, 195, 175, 99, 195, 182, 100, 195, 169]),
        ("$2a$05$yLFQy7RTzrdW0bpZ1L1c1urROIIv.8nJ6mINy8uzO4prAbwzuepRi", [112, 195, 164, 115, 115, 119, 195, 182, 114, 100, 32, 195, 188, 110, 195, 175, 99, 195, 182, 100, 195, 169]),
        ("$2y$04$2MFg28Rj3sdm4cpp5M1s5u0wo3Z/pGpeWlNZdZvZF/bJ.xUFAbnQm", [112, 195, 164, 115, 115, 119, 195, 182, 114, 100, 32, 195, 188, 110, 195, 175, 99, 195, 182, 100, 195, 169]),
        ("$2b$04$6NFw69Rz7td28dp59N189uun7sL2hDKIOzW/H5bssagKCum51ssKq", [226, 152, 133, 226, 152, 133, 226, 152, 133, 226, 152, 133, 226, 152, 133, 226, 152, 133, 226, 152, 133, 226, 152, 133]),
        ("$2a$05$..CA.uOD/eaGAOmJB.yMBuVCzb0Q9W6NztYAlxfnzmGvO2QvZcPwW", [226, 152, 133, 226, 152, 133, 226, 152, 133, 226, 152, 133, 226, 152, 133, 226, 152, 133, 226, 152, 133, 226, 152, 133]),
        ("$2y$04$C/CQCvOTDfaWEPmZF/ycFuNxH8RN/XwtXMYjYPo0tx71fmvq3qBcu", [226, 152, 133, 226, 152, 133, 226, 152, 133, 226, 152, 133, 226, 152, 133, 226, 152, 133, 226, 152, 133, 226, 152, 133]),
        ("$2b$04$GACgGwOjHgamIQmpJAysJuRVR2iGoSB0n0LPF8LqIaXJPQK8jSZ8u", [120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120]),
        ("$2a$05$KBCwKxOzLha2MRm5NBy8Nu.L0jGAbFDYUI2m.X6wKB4P6ZYPNzUbi", [120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120]),
        ("$2y$04$OCDAOyPDPibGQSnJRCzMRuBFoAfeldW.oZ3YCcrHrj0wKMdry1LkS", [120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120, 120]),
        ("$2b$04$SDDQSzPTTjbWUTnZVDzcVu3WLuqneQ6Kvft6SeeRONGvIu28Gu4uq", [121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121]),
        ("$2a$05$WEDgW0PjXkbmYUnpZEzsZuJAXjnpgqI7qPO57MNEOj6fz/zHGnelC", [121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121]),
        ("$2y$04$aFDwa1Pzblb2cVn5dFz8du1ApCrcDji1clCwnyO0OZehpIlElqZs2", [121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121, 121]),
        ("$2b$04$eGEAe2QDfmcGgWoJhG0Mhub1hmQv3q.5SbE0yUBvKPAUaIOTx7olC", [48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49]),
        ("$2a$05$iHEQi3QTjncWkXoZlH0cluwX03SLDQT6OKHENbWVrgSS/vr.ubsPu", [48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49]),
        ("$2y$04$mIEgm4QjnocmoYoppI0spuou33mp44n.IwGllSq/xJWJ3YnVInPaW", [48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49]),
    ]
    static let python = pythonTable.map { Vector(hash: $0.0, password: $0.1) }

    @Test("Openwall crypt_blowfish vectors verify", arguments: openwall)
    func openwallVectors(_ vector: Vector) {
        #expect(Bcrypt.verify(password: vector.password, hash: vector.hash))
    }

    @Test("Openwall vectors: hashing reproduces the string", arguments: openwall)
    func openwallHashing(_ vector: Vector) throws {
        let parsed = try #require(Bcrypt.Hash(vector.hash))
        #expect(Bcrypt.hash(password: vector.password, variant: parsed.variant, cost: parsed.cost, salt: parsed.salt) == vector.hash)
    }

    @Test("pyca/bcrypt vectors verify, and a changed password does not", arguments: python)
    func pythonVectors(_ vector: Vector) {
        #expect(Bcrypt.verify(password: vector.password, hash: vector.hash))
        #expect(!Bcrypt.verify(password: vector.password + [0x21], hash: vector.hash) || vector.password.count >= 72)
    }

    /// Only the first 72 bytes count (bcrypt's key schedule takes 18 words): a 72-byte password
    /// and the same with anything appended give the same hash, a 71-byte prefix does not.
    @Test("72-byte limit")
    func seventyTwoBytes() throws {
        let vector = try #require(Self.python.first { $0.password.count == 72 })
        #expect(Bcrypt.verify(password: vector.password + Array("anything after".utf8), hash: vector.hash))
        #expect(!Bcrypt.verify(password: Array(vector.password.prefix(71)), hash: vector.hash))
    }

    /// `$2x$` is crypt_blowfish's emulation of its old sign-extension bug: never accepted, even
    /// for the exact strings crypt_blowfish's own table says it produces.
    @Test("$2x$ and unknown variants are refused", arguments: [
        ("$2x$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e", [UInt8]([0xa3])),
        ("$2x$05$/OK.fbVrR/bpIqNJ5ianF.o./n25XVfn6oAPaUvHe.Csk4zRfsYPi", [0x31, 0xa3, 0x33, 0x34, 0x35]),
        ("$2x$05$6bNw2HLQYeqHYyBfLMsv/OiwqTymGIGzFsA4hOTWebfehXHNprcAS", [0xd1, 0x91]),
        ("$2c$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", Array("U*U".utf8)),
        ("$2$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", Array("U*U".utf8)),
    ])
    func refusedVariants(hash: String, password: [UInt8]) {
        #expect(Bcrypt.Hash(hash) == nil)
        #expect(!Bcrypt.verify(password: password, hash: hash))
    }

    /// Malformed strings: each is the valid "U*U" vector with one defect, so only the defect can
    /// be why it fails.
    @Test("malformed hashes are refused", arguments: [
        "$2a$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",   // cost below 4
        "$2a$32$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",   // cost above 31
        "$2a$5$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",    // one cost digit
        "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe",    // 59 characters
        "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeWW",  // 61 characters
        "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe+",   // '+' is not in bcrypt's alphabet
        "$2a$05$CCCCCCCCCCCCCCCCCCCCCDE5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",   // salt's last char has unused bits set
        "$2a$0a$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",   // cost not decimal
        "x2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",   // no leading $
    ])
    func malformed(hash: String) {
        #expect(Bcrypt.Hash(hash) == nil)
        #expect(!Bcrypt.verify(password: Array("U*U".utf8), hash: hash))
    }

    /// C implementations stop at NUL, so "U*U\0x" would pass as "U*U"; here it never matches.
    @Test("a password with NUL never matches")
    func nul() {
        #expect(!Bcrypt.verify(password: Array("U*U".utf8) + [0] + Array("x".utf8),
                               hash: "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"))
    }

    @Test("bcrypt base64 round-trips 16 bytes in 22 characters")
    func base64() throws {
        let salt: [UInt8] = Array(0..<16)
        let encoded = Bcrypt.encode(salt)
        #expect(encoded.count == 22)
        #expect(Bcrypt.decode(encoded[...], count: 16) == salt)
    }
}

import Foundation
import RedisClient
import TestSupport
import Testing

@Suite("TestSupport helpers")
struct TestSupportTests {
    @Test("runProcess captures status, stdout and stderr")
    func statusAndStreams() throws {
        let result = try runProcess("sh", ["-c", "echo out; echo err >&2; exit 3"])
        #expect(result.status == 3)
        #expect(result.stdout == "out\n")
        #expect(result.stderr == "err\n")
        #expect(!result.succeeded)
    }

    @Test("runProcess does not deadlock on large output and input")
    func largeOutput() throws {
        let script = "head -c 3000000 /dev/zero | tr '\\0' a; head -c 2000000 /dev/zero | tr '\\0' b >&2; wc -c"
        let input = String(repeating: "x", count: 1_500_000)
        let result = try runProcess("sh", ["-c", script], stdin: input)
        #expect(result.succeeded)
        #expect(result.stderr.utf8.count == 2_000_000)
        #expect(result.stdout.hasPrefix(String(repeating: "a", count: 3_000_000)))
        #expect(result.stdout.dropFirst(3_000_000).trimmingCharacters(in: .whitespacesAndNewlines) == "1500000")
    }

    @Test("runProcess uses the directory and adds the environment")
    func directoryAndEnvironment() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let result = try runProcess("sh", ["-c", "echo \"$BERTH_TEST_VALUE\"; pwd -P; test -n \"$PATH\""],
                                    in: directory.path, environment: ["BERTH_TEST_VALUE": "hello"])
        #expect(result.succeeded, "\(result)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "hello")
        #expect(lines.last == URL(fileURLWithPath: directory.path).resolvingSymlinksInPath().path)
    }

    @Test("runProcess names a missing executable")
    func missingExecutable() throws {
        let error = try #require(throws: TestSupportError.self) { try runProcess("berth-no-such-tool", []) }
        #expect(error.message.hasPrefix("berth-no-such-tool not found on PATH"))
    }

    @Test("TemporaryDirectory creates a unique directory and removes it")
    func temporaryDirectory() throws {
        let first = try TemporaryDirectory()
        let second = try TemporaryDirectory()
        #expect(first.path != second.path)
        try Data("x".utf8).write(to: first.appending("file"))
        #expect(FileManager.default.fileExists(atPath: first.appending("file").path))
        first.remove()
        second.remove()
        #expect(!FileManager.default.fileExists(atPath: first.path))
        #expect(!FileManager.default.fileExists(atPath: second.path))
    }

    @Test("RedisServerProcess exposes a parseable URL, stops, and cleans up its directory")
    func serverLifecycle() throws {
        var directory = ""
        do {
            let server = try RedisServerProcess.start(password: "pw")
            directory = server.directory.path
            #expect(try RedisURL(parsing: server.urlString) == server.url)
            #expect(server.url.description == "redis://:***@127.0.0.1:\(server.port)/0")
            #expect(server.isRunning)
            #expect(try server.connect().send(["CONFIG", "GET", "save"]) == .array([.bulk(Array("save".utf8)), .bulk([])]))
            server.stop()
            #expect(!server.isRunning)
            #expect(throws: RedisError.self) { try server.connect() }
        }
        #expect(!FileManager.default.fileExists(atPath: directory), "deinit removes the server's directory")
    }
}

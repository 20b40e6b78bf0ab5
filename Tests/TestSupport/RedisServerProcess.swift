import Foundation
import RedisClient
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A private `redis-server` for one test: loopback only, a free port, no persistence, its own temporary directory.
///
/// Tests fail, never skip, when redis-server is missing. The server is stopped and its directory removed when the
/// object is released; `stop()`, `kill()` and `restart()` exist for tests of connection loss and reconnection.
public final class RedisServerProcess: @unchecked Sendable {
    /// The TCP port on 127.0.0.1; the same across `restart()`.
    public let port: Int
    /// The password the server requires (`requirepass`), if any.
    public let password: String?
    /// The unix socket the server also listens on, when started with `unixSocket: true`.
    public let unixSocketPath: String?
    /// The server's working directory (also holds its log).
    public let directory: TemporaryDirectory

    private let executable: String
    private let lock = NSLock()
    private var process: Process? // guarded by lock

    /// A TCP URL for this server, with its password, database 0.
    public var url: RedisURL {
        RedisURL(endpoint: .tcp(host: "127.0.0.1", port: port), password: password)
    }

    /// `url` as a string that `RedisURL(parsing:)` accepts and that shows the password (tests only).
    public var urlString: String {
        guard let password else { return "redis://127.0.0.1:\(port)/0" }
        let encoded = password.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? password
        return "redis://:\(encoded)@127.0.0.1:\(port)/0"
    }

    /// A unix-socket URL for this server (with its password), when started with `unixSocket: true`.
    public var unixURL: RedisURL? {
        unixSocketPath.map { RedisURL(endpoint: .unix(path: $0), password: password) }
    }

    /// Path of the server's log file (it also receives the server's stdout and stderr).
    public var logPath: String { directory.appending("redis.log").path }

    /// Starts redis-server from PATH on 127.0.0.1 and a free port (retrying with another port if it is taken in
    /// the meantime), with `--save "" --appendonly no`, and returns once it answers PING.
    ///
    /// - Parameters:
    ///   - password: set as `requirepass`.
    ///   - unixSocket: also listen on a unix socket in the server's directory (`unixSocketPath`).
    /// - Throws: `TestSupportError` if redis-server is not on PATH or does not answer PING within 5 s (the message
    ///   includes the server's log).
    public static func start(password: String? = nil, unixSocket: Bool = false) throws -> RedisServerProcess {
        let executable: String
        do {
            executable = try findExecutable("redis-server")
        } catch {
            throw TestSupportError("redis-server not found on PATH: install it (apt-get install redis-server)")
        }
        var lastError: Error?
        for _ in 0..<5 {
            let directory = try TemporaryDirectory(prefix: "berth-redis")
            let server = RedisServerProcess(
                executable: executable, port: try freeLoopbackPort(), password: password,
                unixSocketPath: unixSocket ? directory.appending("redis.sock").path : nil, directory: directory)
            do {
                try server.launch()
                return server
            } catch let error as PortInUse {
                lastError = error // deinit removes the directory; try another port
            }
        }
        throw TestSupportError("cannot start redis-server: every port tried was taken (\(lastError.map { "\($0)" } ?? ""))")
    }

    private init(executable: String, port: Int, password: String?, unixSocketPath: String?, directory: TemporaryDirectory) {
        self.executable = executable
        self.port = port
        self.password = password
        self.unixSocketPath = unixSocketPath
        self.directory = directory
    }

    deinit {
        stop()
        directory.remove()
    }

    /// Opens a new connection to the server over TCP.
    public func connect(commandTimeout: Duration? = .seconds(30)) throws -> RedisConnection {
        try RedisConnection(url: url, commandTimeout: commandTimeout)
    }

    /// Whether the server process is running.
    public var isRunning: Bool {
        lock.withLock { process?.isRunning ?? false }
    }

    /// Stops the server with SIGTERM and waits for it to exit (SIGKILL after 5 s). Harmless if it is not running.
    public func stop() {
        lock.withLock {
            guard let process, process.isRunning else { return }
            process.terminate()
            if !waitForExit(process, within: .seconds(5)) {
                sendSignal(SIGKILL, to: process.processIdentifier)
                process.waitUntilExit()
            }
        }
    }

    /// Kills the server with SIGKILL (no shutdown, connections drop at once) and waits for it to exit.
    public func kill() {
        lock.withLock {
            guard let process, process.isRunning else { return }
            sendSignal(SIGKILL, to: process.processIdentifier)
            process.waitUntilExit()
        }
    }

    /// Stops the server if it runs and starts it again on the same port, same password and directory (the data is
    /// gone: nothing is persisted); returns once it answers PING.
    public func restart() throws {
        stop()
        let deadline = ContinuousClock.now + .seconds(5)
        while true {
            do {
                try launch()
                return
            } catch let error as PortInUse where ContinuousClock.now < deadline {
                _ = error
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
    }

    // MARK: - Launching

    private struct PortInUse: Error, CustomStringConvertible {
        var port: Int
        var description: String { "port \(port) is in use" }
    }

    private func launch() throws {
        try? FileManager.default.removeItem(atPath: logPath)
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let log = FileHandle(forWritingAtPath: logPath) else {
            throw TestSupportError("cannot write the redis-server log at \(logPath)")
        }
        defer { try? log.close() }

        var arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                         "--dir", directory.path, "--daemonize", "no", "--logfile", ""]
        if let password { arguments += ["--requirepass", password] }
        if let unixSocketPath { arguments += ["--unixsocket", unixSocketPath, "--unixsocketperm", "700"] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        do {
            try withUnblockedSignals { try process.run() }
        } catch {
            throw TestSupportError("cannot start \(executable): \(error)")
        }
        lock.withLock { self.process = process }

        let deadline = ContinuousClock.now + .seconds(5)
        var lastError = "no attempt yet"
        while ContinuousClock.now < deadline {
            if !process.isRunning {
                let output = readLog()
                if output.contains("Address already in use") { throw PortInUse(port: port) }
                throw TestSupportError("redis-server exited with status \(process.terminationStatus) before answering "
                    + "PING on port \(port); its log:\n\(output)")
            }
            do {
                let connection = try RedisConnection(url: url, connectTimeout: .milliseconds(250), commandTimeout: .seconds(1))
                defer { connection.close() }
                if try connection.send(["PING"]).string == "PONG" { return }
            } catch {
                lastError = "\(error)"
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        process.terminate()
        _ = waitForExit(process, within: .seconds(2))
        throw TestSupportError("redis-server on 127.0.0.1:\(port) did not answer PING within 5 s (last error: "
            + "\(lastError)); its log:\n\(readLog())")
    }

    private func readLog() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "(no log at \(logPath))"
    }
}

private func sendSignal(_ signal: Int32, to pid: Int32) {
    _ = kill(pid, signal)
}

private func waitForExit(_ process: Process, within limit: Duration) -> Bool {
    let deadline = ContinuousClock.now + limit
    while process.isRunning {
        if ContinuousClock.now >= deadline { return false }
        Thread.sleep(forTimeInterval: 0.01)
    }
    return true
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read back, released).
public func freeLoopbackPort() throws -> Int {
    #if canImport(Glibc)
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
    let fd = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard fd >= 0 else { throw TestSupportError("socket() failed: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
            bind(fd, generic, length) == 0 && getsockname(fd, generic, &length) == 0
        }
    }
    guard bound else { throw TestSupportError("cannot bind a socket to 127.0.0.1:0: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Starts a private redis-server, runs `body` with it, and stops it afterwards; the server is kept alive for the
/// whole of `body` (a plain local could be released after its last use).
public func withRedisServer<T>(password: String? = nil, unixSocket: Bool = false,
                               _ body: (RedisServerProcess) throws -> T) throws -> T {
    let server = try RedisServerProcess.start(password: password, unixSocket: unixSocket)
    defer { server.stop() }
    return try withExtendedLifetime(server) { try body(server) }
}

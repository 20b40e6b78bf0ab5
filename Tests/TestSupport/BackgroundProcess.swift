import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A long-running child (a controller, a proxy, an upstream) whose output goes to files the test
/// can read while it runs. SIGKILLed when released if still running.
public final class BackgroundProcess: @unchecked Sendable {
    public let process: Process
    public let directory: TemporaryDirectory
    public let name: String
    public var pid: Int32 { process.processIdentifier }

    public init(_ executable: String, _ arguments: [String], name: String? = nil, environment: [String: String] = [:],
                in workingDirectory: String? = nil) throws {
        var fullEnvironment = ProcessInfo.processInfo.environment
        fullEnvironment.merge(environment) { _, new in new }
        let path = try findExecutable(executable, searchPath: fullEnvironment["PATH"])
        self.name = name ?? URL(fileURLWithPath: path).lastPathComponent
        directory = try TemporaryDirectory(prefix: "berth-bg")
        let stdoutPath = directory.appending("stdout").path, stderrPath = directory.appending("stderr").path
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = fullEnvironment
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory, isDirectory: true) }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        try withUnblockedSignals { try process.run() }
        self.process = process
    }

    deinit {
        kill()
        directory.remove()
    }

    public var stdout: String { (try? String(contentsOfFile: directory.appending("stdout").path, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOfFile: directory.appending("stderr").path, encoding: .utf8)) ?? "" }
    public var output: String { "\(name) stdout:\n\(stdout)\n\(name) stderr:\n\(stderr)" }
    public var isRunning: Bool { process.isRunning }

    /// Waits until standard output contains `text`; throws with the output when the process exits or time runs out.
    public func waitForOutput(_ text: String, timeout: Double = 20) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !stdout.contains(text) {
            if !process.isRunning { throw TestSupportError("\(name) exited (status \(process.terminationStatus)) before printing \"\(text)\":\n\(output)") }
            if Date() >= deadline { throw TestSupportError("\(name) did not print \"\(text)\" within \(timeout)s:\n\(output)") }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    /// SIGKILL, as a crash or an OOM kill would; waits for the exit.
    public func kill() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Sends `signal` and waits up to `timeout` for the exit; returns the exit status (nil if still running).
    @discardableResult
    public func signal(_ signal: Int32, waitingUpTo timeout: Double = 20) -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        Glibc.kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// Waits for the process to exit on its own; returns its status (nil on timeout).
    public func waitForExit(timeout: Double = 20) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        return process.isRunning ? nil : process.terminationStatus
    }
}

/// Polls `condition` every 20 ms until it is true or `timeout` passes; returns whether it became true.
public func eventually(timeout: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.02)
    }
    return try condition()
}

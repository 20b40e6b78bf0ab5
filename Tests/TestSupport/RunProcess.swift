import Foundation

/// The outcome of `runProcess`.
public struct ProcessResult: Sendable, CustomStringConvertible {
    /// The exit status; for a process killed by a signal, 128 + the signal number (as shells report it).
    public var status: Int32
    /// Everything the process wrote to standard output, decoded as UTF-8 (invalid bytes replaced).
    public var stdout: String
    /// Everything the process wrote to standard error, decoded as UTF-8 (invalid bytes replaced).
    public var stderr: String

    /// Creates a result.
    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }

    /// True when the status is 0.
    public var succeeded: Bool { status == 0 }

    /// The status and both streams, for failure messages.
    public var description: String {
        "exit status \(status)\nstdout:\n\(stdout)\nstderr:\n\(stderr)"
    }
}

/// Runs a program to completion and captures its output.
///
/// - Parameters:
///   - executable: a path, or a bare name looked up on `PATH` (the `PATH` in `environment` if given there).
///   - directory: the working directory (default: the current one).
///   - environment: variables added to (and overriding) the current process environment.
///   - stdin: text written to standard input, which is then closed; without it standard input is empty.
/// - Throws: `TestSupportError` when the executable is not found or cannot be started. A non-zero exit status is
///   not an error: check `status`.
///
/// Standard output, standard error and standard input are serviced concurrently, so any amount of output cannot
/// deadlock the child.
public func runProcess(_ executable: String, _ arguments: [String], in directory: String? = nil,
                       environment: [String: String]? = nil, stdin: String? = nil) throws -> ProcessResult {
    var fullEnvironment = ProcessInfo.processInfo.environment
    if let environment { fullEnvironment.merge(environment) { _, new in new } }
    let path = try findExecutable(executable, searchPath: fullEnvironment["PATH"])

    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.environment = fullEnvironment
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory, isDirectory: true) }
    let outputPipe = Pipe()
    let errorPipe = Pipe()
    let inputPipe = Pipe()
    process.standardOutput = outputPipe
    process.standardError = errorPipe
    process.standardInput = inputPipe
    do {
        try withUnblockedSignals { try process.run() }
    } catch {
        throw TestSupportError("cannot start \(path) \(arguments.joined(separator: " ")): \(error)")
    }

    let group = DispatchGroup()
    let errorData = LockedValue(Data())
    let errorReader = errorPipe.fileHandleForReading
    DispatchQueue.global().async(group: group) {
        errorData.set(errorReader.readDataToEndOfFile())
    }
    let inputWriter = inputPipe.fileHandleForWriting
    let input = Data((stdin ?? "").utf8)
    DispatchQueue.global().async(group: group) {
        // A child that exits without reading its input makes this write fail (EPIPE); that is fine.
        try? inputWriter.write(contentsOf: input)
        try? inputWriter.close()
    }
    let outputData = outputPipe.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()

    let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    return ProcessResult(status: status, stdout: String(decoding: outputData, as: UTF8.self),
                         stderr: String(decoding: errorData.get(), as: UTF8.self))
}

/// The absolute path of `name`: itself when it contains a slash, otherwise the first executable file of that name in
/// the colon-separated `searchPath` (default: this process's `PATH`).
public func findExecutable(_ name: String, searchPath: String? = nil) throws -> String {
    if name.contains("/") { return name }
    let directories = (searchPath ?? ProcessInfo.processInfo.environment["PATH"] ?? "")
        .split(separator: ":").map(String.init)
    for directory in directories {
        let candidate = URL(fileURLWithPath: directory).appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    throw TestSupportError("\(name) not found on PATH (\(directories.joined(separator: ":")))")
}

/// A value shared between threads behind a lock.
final class LockedValue<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) {
        self.value = value
    }

    func get() -> Value {
        lock.withLock { value }
    }

    func set(_ newValue: Value) {
        lock.withLock { value = newValue }
    }
}

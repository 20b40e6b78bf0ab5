/// A failure of a test helper (a missing tool, a service that would not start). Its message says what to do.
public struct TestSupportError: Error, Sendable, CustomStringConvertible {
    /// What failed and how to fix it.
    public var message: String

    /// Creates an error with a message for people.
    public init(_ message: String) {
        self.message = message
    }

    /// The message.
    public var description: String { message }
}

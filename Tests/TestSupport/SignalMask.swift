#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `body` (a `Process.run()`) with no signals blocked on the calling thread. Wrap every `Process.run()` in tests
/// with it, or the child cannot be stopped with SIGTERM.
///
/// A child inherits the signal mask of the thread that spawns it, Foundation's `Process` does not reset it, and
/// libdispatch / Swift concurrency worker threads (where tests run) block SIGTERM, SIGINT, SIGHUP and others. A
/// redis-server started from such a thread ignores SIGTERM until it is SIGKILLed, so `stop()` would hang.
public func withUnblockedSignals<T>(_ body: () throws -> T) rethrows -> T {
    var empty = sigset_t()
    sigemptyset(&empty)
    var previous = sigset_t()
    pthread_sigmask(SIG_SETMASK, &empty, &previous)
    defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
    return try body()
}

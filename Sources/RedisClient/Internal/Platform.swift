#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A non-reentrant mutex. `RedisConnection` holds one so that its hiredis context is never touched by two
/// threads at once; Foundation is avoided so the data plane does not link it for this module alone.
final class Lock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// The OS text for an errno value ("Connection refused").
func systemErrorText(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return String(cString: text)
}

extension Duration {
    /// Whole milliseconds, rounded up so that a positive duration never becomes 0 ms (which means "forever" to
    /// some socket options); clamped to `Int32.max`.
    var roundedUpMilliseconds: Int {
        let (seconds, attoseconds) = components
        if seconds < 0 || (seconds == 0 && attoseconds <= 0) { return 0 }
        let millis = seconds.multipliedReportingOverflow(by: 1000)
        if millis.overflow { return Int(Int32.max) }
        let extra = (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        let total = millis.partialValue.addingReportingOverflow(extra)
        return total.overflow ? Int(Int32.max) : Int(min(total.partialValue, Int64(Int32.max)))
    }

    var asTimeval: timeval {
        let millis = roundedUpMilliseconds
        return timeval(tv_sec: numericCast(millis / 1000), tv_usec: numericCast((millis % 1000) * 1000))
    }
}

/// Runs `body` with SIGPIPE blocked on the calling thread and discards a SIGPIPE it raised.
///
/// hiredis writes with `write(2)`; writing to a socket the server has closed raises SIGPIPE, whose default action
/// kills the process. Linux has no per-socket opt-out (Darwin's SO_NOSIGPIPE is set at connect instead), and a
/// library must not change the process-wide disposition, so the signal is blocked around each write and a pending
/// one that this thread caused is consumed (the technique libpq uses). The write then fails with EPIPE, which
/// hiredis reports as an I/O error.
func withSIGPIPESuppressed<T>(_ body: () throws -> T) rethrows -> T {
    #if os(Linux)
    var pipeSet = sigset_t()
    sigemptyset(&pipeSet)
    sigaddset(&pipeSet, SIGPIPE)
    var pendingBefore = sigset_t()
    sigpending(&pendingBefore)
    let wasPending = sigismember(&pendingBefore, SIGPIPE) == 1
    var previousMask = sigset_t()
    pthread_sigmask(SIG_BLOCK, &pipeSet, &previousMask)
    defer {
        if !wasPending {
            var pendingAfter = sigset_t()
            sigpending(&pendingAfter)
            if sigismember(&pendingAfter, SIGPIPE) == 1 {
                var zero = timespec(tv_sec: 0, tv_nsec: 0)
                let savedErrno = errno
                _ = sigtimedwait(&pipeSet, nil, &zero)
                errno = savedErrno
            }
        }
        pthread_sigmask(SIG_SETMASK, &previousMask, nil)
    }
    #endif
    return try body()
}

#if canImport(Glibc)
import Glibc
#endif

// Block SIGTERM and SIGINT before any thread exists, so every thread inherits the mask and the
// signals stay pending until `BerthProxy.run` collects them with sigwait (a signal source on
// Linux would never see an ignored signal). SIGPIPE is ignored: a vanished peer is an I/O error.
var shutdownSignals = sigset_t()
sigemptyset(&shutdownSignals)
sigaddset(&shutdownSignals, SIGTERM)
sigaddset(&shutdownSignals, SIGINT)
pthread_sigmask(SIG_BLOCK, &shutdownSignals, nil)
signal(SIGPIPE, SIG_IGN)

BerthProxy.main()

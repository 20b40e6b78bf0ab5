import Foundation

/// Named points in the apply where a crash can be injected, for the crash-recovery tests:
/// `BERTH_FAILPOINT=apply.after-ports` makes the process kill itself with SIGKILL right there, as
/// a power cut or an OOM kill would. Unset in production; the check is one environment lookup.
public enum Failpoint {
    public static let names = ["apply.after-lease", "apply.after-ports", "apply.after-inventory",
                               "apply.after-free", "apply.after-certificates", "apply.after-prune", "apply.after-publish"]

    static func hit(_ name: String) {
        guard let armed = ProcessInfo.processInfo.environment["BERTH_FAILPOINT"], armed == name else { return }
        FileHandle.standardError.write("berth: failpoint \(name) reached, killing this process\n".data(using: .utf8)!)
        kill(getpid(), SIGKILL)
    }
}

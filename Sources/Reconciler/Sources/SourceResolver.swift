import Foundation

/// Chooses the `SpecSource` for the command-line options `--repository`, `--ref`, `--subdirectory`.
///
/// - no repository → the current directory, then as for a local path;
/// - a URL (`scheme://…` or scp-like `git@host:org/repo.git`) → `GitSource`, fetched into the cache;
/// - a local path with a ref → `GitSource` on that repository (committed content only);
/// - a bare repository on disk (HEAD, objects/, refs/; what a git server holds) → `GitSource` on its HEAD
///   branch: it has no files to read as they are;
/// - a local path without a ref → `DirectorySource`: files as they are on disk, even in a git work tree,
///   so CI validates uncommitted changes.
public enum SourceResolver {
    public static func source(
        repository: String?, ref: String?, subdirectory: String?, cacheDirectory: String? = nil
    ) throws -> any SpecSource {
        let ref = ref.flatMap { $0.isEmpty ? nil : $0 }
        let repository = repository.flatMap { $0.isEmpty ? nil : $0 } ?? "."
        if GitSource.isURL(repository) || ref != nil || isBareRepository(repository) {
            return GitSource(
                repository: repository, ref: ref, subdirectory: subdirectory,
                cacheDirectory: cacheDirectory ?? defaultCacheDirectory())
        }
        return DirectorySource(root: repository, subdirectory: subdirectory)
    }

    /// A directory laid out as a bare git repository.
    static func isBareRepository(_ path: String) -> Bool {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        func directory(_ name: String) -> Bool { manager.fileExists(atPath: path + "/" + name, isDirectory: &isDirectory) && isDirectory.boolValue }
        return manager.fileExists(atPath: path + "/HEAD") && directory("objects") && directory("refs") && !directory(".git")
    }

    /// `$BERTH_CACHE_DIR`, else `$XDG_CACHE_HOME/berth/git`, else `~/.cache/berth/git`; empty
    /// variables count as unset.
    public static func defaultCacheDirectory(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        func value(_ name: String) -> String? {
            guard let value = environment[name], !value.isEmpty else { return nil }
            return value
        }
        if let dir = value("BERTH_CACHE_DIR") { return dir }
        if let xdg = value("XDG_CACHE_HOME") { return xdg + "/berth/git" }
        let home = value("HOME") ?? NSHomeDirectory()
        return home + "/.cache/berth/git"
    }
}

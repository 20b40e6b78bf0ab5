import Foundation
import Spec

/// Reads `*.yaml` / `*.yml` files from a directory on disk, as they are — uncommitted edits included,
/// which is what CI wants when it validates a change before it is committed.
///
/// Contract:
/// - Files are collected recursively under `root/subdirectory`; hidden files and directories (`.git`,
///   `.github`, …) are skipped, and so are symlinks whose target lies outside `root`.
/// - `SourceFile.path` is relative to `root` (the repository root), `/`-separated; files are sorted by
///   the bytes of their path.
/// - `revision` is `dir:` + SHA-256 over (path, NUL, length, NUL, contents) of every file in order: it
///   changes when a YAML file is added, removed, renamed or edited, and for nothing else (timestamps,
///   other files).
public struct DirectorySource: SpecSource {
    public let root: String
    public let subdirectory: String?

    public init(root: String, subdirectory: String? = nil) {
        self.root = root
        self.subdirectory = subdirectory
    }

    /// `root` as given, plus `/subdirectory` when there is one.
    public var origin: String {
        guard let subdirectory = normalizedSubdirectory else { return root }
        return root.hasSuffix("/") ? root + subdirectory : root + "/" + subdirectory
    }

    public func snapshot() throws -> SourceSnapshot {
        guard Self.isDirectory(root) else {
            if FileManager.default.fileExists(atPath: root) {
                throw SourceError("spec directory \(root) is not a directory (pass the directory that holds the YAML files)")
            }
            throw SourceError("spec directory \(root) does not exist (check the path, or pass --repository)")
        }
        guard let realRoot = Self.realPath(root) else {
            throw SourceError("spec directory \(root) cannot be resolved (check its permissions)")
        }

        var prefix: [String] = []
        var start = realRoot
        if let subdirectory = normalizedSubdirectory {
            let components = subdirectory.split(separator: "/").map(String.init)
            guard !components.contains("..") else {
                throw SourceError("subdirectory \(subdirectory) of \(root) must stay inside it (remove `..`)")
            }
            let joined = realRoot + "/" + subdirectory
            guard Self.isDirectory(joined) else {
                let what = FileManager.default.fileExists(atPath: joined) ? "is not a directory" : "does not exist"
                throw SourceError("subdirectory \(subdirectory) \(what) in \(root) (check --subdirectory)")
            }
            guard let real = Self.realPath(joined), Self.isInside(real, realRoot) else {
                throw SourceError("subdirectory \(subdirectory) of \(root) is a symlink that leaves it (point --subdirectory at a real directory)")
            }
            prefix = components
            start = real
        }

        var files: [SourceFile] = []
        var visited: Set<String> = [start]
        try collect(directory: start, relative: prefix, realRoot: realRoot, visited: &visited, into: &files)
        files.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        return SourceSnapshot(revision: Self.revision(of: files), origin: origin, files: files)
    }

    /// `dir:` + SHA-256 over (path, NUL, decimal length, NUL, contents) of each file, in the given order.
    public static func revision(of files: [SourceFile]) -> String {
        var hasher = Spec.SHA256()
        for file in files {
            hasher.update(file.path)
            hasher.update([0])
            hasher.update(String(file.contents.count))
            hasher.update([0])
            hasher.update(file.contents)
        }
        return "dir:" + hasher.finalize().hexString
    }

    // MARK: - Walking

    private var normalizedSubdirectory: String? {
        guard let subdirectory else { return nil }
        let parts = subdirectory.split(separator: "/").filter { $0 != "." }
        return parts.isEmpty ? nil : parts.joined(separator: "/")
    }

    private func collect(
        directory: String, relative: [String], realRoot: String,
        visited: inout Set<String>, into files: inout [SourceFile]
    ) throws {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw SourceError("reading directory \(display(relative)): \(error.localizedDescription) (check its permissions)")
        }
        for name in names where !name.hasPrefix(".") {
            var path = directory + "/" + name
            let entryRelative = relative + [name]
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            if info.st_mode & S_IFMT == S_IFLNK {
                // Follow a link only while it stays inside the root, so a spec tree cannot pull in
                // files from elsewhere on the host.
                guard let target = Self.realPath(path), Self.isInside(target, realRoot),
                      stat(target, &info) == 0 else { continue }
                path = target
            }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                let real = Self.realPath(path) ?? path
                guard visited.insert(real).inserted else { continue }  // a link loop
                try collect(directory: path, relative: entryRelative, realRoot: realRoot, visited: &visited, into: &files)
            case S_IFREG where Self.isYAML(name):
                let contents: [UInt8]
                do {
                    contents = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
                } catch {
                    throw SourceError("reading \(display(entryRelative)): \(error.localizedDescription) (check its permissions)")
                }
                files.append(SourceFile(path: entryRelative.joined(separator: "/"), contents: contents))
            default:
                continue
            }
        }
    }

    private func display(_ relative: [String]) -> String {
        relative.isEmpty ? root : (root.hasSuffix("/") ? root : root + "/") + relative.joined(separator: "/")
    }

    static func isYAML(_ name: String) -> Bool {
        let lower = name.lowercased()
        return lower.hasSuffix(".yaml") || lower.hasSuffix(".yml")
    }

    private static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func isInside(_ path: String, _ root: String) -> Bool {
        path == root || path.hasPrefix(root == "/" ? "/" : root + "/")
    }
}

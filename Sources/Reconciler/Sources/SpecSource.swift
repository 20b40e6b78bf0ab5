import Foundation

/// One YAML file as read from a source: its path relative to the repository root (always with `/`
/// separators, never starting with `/`), and its bytes.
public struct SourceFile: Sendable, Equatable {
    public var path: String
    public var contents: [UInt8]

    public init(path: String, contents: [UInt8]) {
        self.path = path
        self.contents = contents
    }
}

/// What a source yields for one pass: the files to load and the revision they came from.
public struct SourceSnapshot: Sendable, Equatable {
    /// A git commit id (40 hex digits) or, for a plain directory, `dir:` + SHA-256 of the files read.
    public var revision: String
    /// Human-readable origin, e.g. `file:///srv/edge.git @ main (3f2c1ab)` or `examples/quickstart`.
    public var origin: String
    /// `*.yaml` / `*.yml` files under the chosen subdirectory, sorted by path.
    public var files: [SourceFile]

    public init(revision: String, origin: String, files: [SourceFile]) {
        self.revision = revision
        self.origin = origin
        self.files = files
    }
}

/// A place the desired state is read from. Implementations: `DirectorySource` (files on disk, as they
/// are) and `GitSource` (a commit read straight from the object database through libgit2).
public protocol SpecSource: Sendable {
    /// Reads the current files. Throws `SourceError` with a message an operator can act on.
    func snapshot() throws -> SourceSnapshot
    /// Reads the files of an earlier revision, as `snapshot()` returned them then, without fetching:
    /// a controller that starts on a broken revision (or cannot fetch) recovers the one last applied.
    /// Nil when the source keeps no history (a plain directory); throws when the revision is gone.
    func snapshot(revision: String) throws -> SourceSnapshot?
}

extension SpecSource {
    public func snapshot(revision: String) throws -> SourceSnapshot? { nil }
}

/// A failure to read a source; `message` names the repository, ref or path and what to do, or
/// `hint` does (the CLI prints it on a line of its own; logs and status carry `description`).
public struct SourceError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var hint: String?
    /// Asking again cannot help (a commit no longer in the repository), as opposed to a failure
    /// that may pass (a network error, a mirror not fetched yet).
    public var lasting: Bool
    public init(_ message: String, hint: String? = nil, lasting: Bool = false) {
        self.message = message
        self.hint = hint
        self.lasting = lasting
    }
    public var description: String { hint.map { "\(message) (hint: \($0))" } ?? message }
}

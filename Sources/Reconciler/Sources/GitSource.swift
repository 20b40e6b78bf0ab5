import CLibgit2
import Foundation
import Spec

/// Reads `*.yaml` / `*.yml` files of one commit straight from a git object database through libgit2:
/// no work tree, no checkout, so uncommitted edits are never seen.
///
/// Contract:
/// - `repository` is a URL (`file://`, `https://`, `http://`, `ssh://`, scp-like `git@host:org/repo.git`)
///   or the path of a local repository (a work tree or a bare repository, not a directory inside one).
/// - For a URL, a bare mirror is kept under `cacheDirectory/<first 16 hex of sha256(url)>.git` and
///   fetched (`+refs/heads/*:refs/remotes/origin/*`, `+refs/tags/*:refs/tags/*`, pruned) on every
///   snapshot; an exclusive `flock` on `<mirror>.lock` keeps two processes from fetching into it at once.
///   A local repository is opened as it is and never fetched.
/// - `ref` resolves, in order: nil → the remote's default branch (its HEAD, else `main`, else `master`;
///   HEAD for a local repository); a full `refs/...` name; a branch; a tag (peeled); a commit id, full or
///   abbreviated (or any other revision expression). An unknown ref throws, listing the branches.
/// - Files are the blobs under `subdirectory` (default: the whole tree), hidden entries, symlinks and
///   submodules skipped; paths are relative to the repository root and sorted by their bytes.
/// - `revision` is the full 40-hex commit id.
public struct GitSource: SpecSource {
    public let repository: String
    public let ref: String?
    public let subdirectory: String?
    public let cacheDirectory: String

    public init(repository: String, ref: String? = nil, subdirectory: String? = nil, cacheDirectory: String) {
        self.repository = repository
        self.ref = ref
        self.subdirectory = subdirectory
        self.cacheDirectory = cacheDirectory
    }

    /// Whether `repository` is fetched from a URL (as opposed to opened as a local repository).
    public var isRemote: Bool { Self.isURL(repository) }

    /// The bare mirror kept for a URL; nil for a local repository.
    public var mirrorPath: String? {
        guard isRemote else { return nil }
        let name = String(Spec.SHA256.hex(repository).prefix(16)) + ".git"
        return (cacheDirectory.hasSuffix("/") ? cacheDirectory : cacheDirectory + "/") + name
    }

    public func snapshot() throws -> SourceSnapshot {
        _ = GitLibrary.initialized
        let git = GitCalls(repository: repository)
        if let mirror = mirrorPath {
            let lock = try CacheLock(path: mirror + ".lock", directory: cacheDirectory, repository: repository)
            defer { lock.release() }
            let (repo, defaultBranch) = try fetchMirror(at: mirror, git: git)
            defer { git_repository_free(repo) }
            return try read(repo, remote: true, defaultBranch: defaultBranch, git: git)
        }
        var repo: OpaquePointer?
        let flags = UInt32(GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue)
        let rc = git_repository_open_ext(&repo, repository, flags, nil)
        if rc == GIT_ENOTFOUND.rawValue {
            throw SourceError("\(repository) is not a git repository (pass the root of a work tree or a bare repository, or a URL)")
        }
        try git.check(rc, "opening")
        defer { git_repository_free(repo) }
        return try read(repo!, remote: false, defaultBranch: nil, git: git)
    }

    /// The commit `revision` (40 hex digits) as it is in the mirror or local repository, read without
    /// fetching: the revision a controller last applied is there even when the remote is unreachable.
    public func snapshot(revision: String) throws -> SourceSnapshot? {
        _ = GitLibrary.initialized
        let git = GitCalls(repository: repository)
        guard revision.utf8.count == 40, revision.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else {
            throw SourceError("\(revision) is not a commit id (40 lower-case hex digits)", lasting: true)
        }
        let path = mirrorPath ?? repository
        // Not while another process fetches (and prunes) into the mirror.
        let lock = try mirrorPath.map { try CacheLock(path: $0 + ".lock", directory: cacheDirectory, repository: repository) }
        defer { lock?.release() }
        var repo: OpaquePointer?
        guard git_repository_open_ext(&repo, path, UInt32(GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue), nil) == 0 else {
            throw SourceError("commit \(revision.prefix(7)) cannot be read: \(isRemote ? "no copy of \(repository) is kept here yet" : "\(repository) is not a git repository")")
        }
        defer { git_repository_free(repo) }
        var id = git_oid()
        try git.check(git_oid_fromstr(&id, revision), "parsing \(revision) for")
        var commit: OpaquePointer?
        let rc = git_commit_lookup(&commit, repo, &id)
        if rc == GIT_ENOTFOUND.rawValue {
            throw SourceError("commit \(revision.prefix(7)) is no longer in \(repository) (was it force-pushed away or garbage-collected?)", lasting: true)
        }
        try git.check(rc, "looking up commit \(revision.prefix(7)) in")
        // Label it the way a snapshot of the ref does, so origin reads the same as when it was applied.
        var label = ref.flatMap { $0.isEmpty ? nil : $0 } ?? "HEAD"
        if let current = try? resolve(in: repo!, remote: isRemote, git: git) {
            git_commit_free(current.0)
            label = current.1
        }
        return try read(repo!, commit: commit!, refLabel: label, git: git)
    }

    // MARK: - Fetching

    /// Opens (creating it if needed) the bare mirror, fetches into it and returns it with the remote's
    /// default branch name (`main`), when the remote reported one.
    private func fetchMirror(at path: String, git: GitCalls) throws -> (OpaquePointer, String?) {
        var repo: OpaquePointer?
        var created = false
        if git_repository_open_ext(&repo, path, UInt32(GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue), nil) != 0 {
            try git.check(git_repository_init(&repo, path, 1), "creating the cache mirror \(path) for")
            created = true
        }
        do {
            let branch = try fetch(into: repo!, git: git)
            return (repo!, branch)
        } catch {
            git_repository_free(repo)
            // A mirror that never received anything is removed, so a typo'd URL leaves no debris.
            if created { try? FileManager.default.removeItem(atPath: path) }
            throw error
        }
    }

    private func fetch(into repo: OpaquePointer, git: GitCalls) throws -> String? {
        var remote: OpaquePointer?
        var rc = git_remote_lookup(&remote, repo, "origin")
        if rc == GIT_ENOTFOUND.rawValue {
            rc = git_remote_create_with_fetchspec(&remote, repo, "origin", repository, Self.refspecs[0])
        } else if rc == 0, let url = git_remote_url(remote), String(cString: url) != repository {
            git_remote_free(remote)
            remote = nil
            try git.check(git_remote_set_url(repo, "origin", repository), "configuring the cache mirror for")
            rc = git_remote_lookup(&remote, repo, "origin")
        }
        try git.check(rc, "configuring the cache mirror for")
        defer { git_remote_free(remote) }

        var attempts = CredentialAttempts()
        return try withUnsafeMutablePointer(to: &attempts) { attemptsPointer in
            var connect = git_remote_connect_options()
            git_remote_connect_options_init(&connect, UInt32(GIT_REMOTE_CONNECT_OPTIONS_VERSION))
            connect.callbacks.credentials = gitCredentials
            connect.callbacks.payload = UnsafeMutableRawPointer(attemptsPointer)
            // Connect first so the remote's HEAD can be read; git_remote_fetch reuses the connection.
            try git.check(git_remote_connect_ext(remote, GIT_DIRECTION_FETCH, &connect), "fetching")

            var defaultBranch: String?
            var buffer = git_buf()
            if git_remote_default_branch(&buffer, remote) == 0, let pointer = buffer.ptr {
                let name = String(cString: pointer)
                if name.hasPrefix("refs/heads/") { defaultBranch = String(name.dropFirst("refs/heads/".count)) }
            }
            git_buf_dispose(&buffer)

            var options = git_fetch_options()
            git_fetch_options_init(&options, UInt32(GIT_FETCH_OPTIONS_VERSION))
            options.callbacks = connect.callbacks
            options.prune = GIT_FETCH_PRUNE
            options.update_fetchhead = 0
            try Self.withRefspecs { refspecs in
                try git.check(git_remote_fetch(remote, refspecs, &options, "berth: fetch"), "fetching")
            }

            // Record the remote's default branch the way `git clone` does, so a later snapshot that
            // cannot reach the remote's HEAD still knows it.
            if let defaultBranch {
                var head: OpaquePointer?
                let target = "refs/remotes/origin/" + defaultBranch
                if git_reference_symbolic_create(&head, repo, "refs/remotes/origin/HEAD", target, 1, "berth: default branch") == 0 {
                    git_reference_free(head)
                }
            }
            return defaultBranch
        }
    }

    private static let refspecs = ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]

    private static func withRefspecs<T>(_ body: (UnsafePointer<git_strarray>) throws -> T) rethrows -> T {
        let strings = refspecs.map { strdup($0) }
        defer { strings.forEach { free($0) } }
        var pointers = strings
        return try pointers.withUnsafeMutableBufferPointer { buffer in
            var array = git_strarray(strings: buffer.baseAddress, count: buffer.count)
            return try body(&array)
        }
    }

    // MARK: - Reading a commit

    private func read(_ repo: OpaquePointer, remote: Bool, defaultBranch: String?, git: GitCalls) throws -> SourceSnapshot {
        let (commit, refLabel) = try resolve(in: repo, remote: remote, git: git)
        return try read(repo, commit: commit, refLabel: refLabel, git: git)
    }

    /// The YAML files of `commit` (freed here).
    private func read(_ repo: OpaquePointer, commit: OpaquePointer, refLabel: String, git: GitCalls) throws -> SourceSnapshot {
        defer { git_commit_free(commit) }
        let id = Self.hex(git_commit_id(commit))

        var tree: OpaquePointer?
        try git.check(git_commit_tree(&tree, commit), "reading the tree of \(id.prefix(7)) in")
        defer { git_tree_free(tree) }

        var prefix: [String] = []
        var start = tree!
        var subtree: OpaquePointer?
        defer { if let subtree { git_tree_free(subtree) } }
        if let subdirectory = normalizedSubdirectory {
            var entry: OpaquePointer?
            let rc = git_tree_entry_bypath(&entry, tree, subdirectory)
            if rc == GIT_ENOTFOUND.rawValue {
                throw SourceError("subdirectory \(subdirectory) does not exist in \(repository) at \(refLabel) (\(id.prefix(7))) (check --subdirectory)")
            }
            try git.check(rc, "looking up \(subdirectory) in")
            defer { git_tree_entry_free(entry) }
            guard git_tree_entry_type(entry) == GIT_OBJECT_TREE else {
                throw SourceError("subdirectory \(subdirectory) is not a directory in \(repository) at \(refLabel) (\(id.prefix(7))) (check --subdirectory)")
            }
            try git.check(git_tree_lookup(&subtree, repo, git_tree_entry_id(entry)), "reading \(subdirectory) in")
            start = subtree!
            prefix = subdirectory.split(separator: "/").map(String.init)
        }

        var files: [SourceFile] = []
        try collect(tree: start, relative: prefix, repo: repo, git: git, into: &files)
        files.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }

        var location = repository
        if let subdirectory = normalizedSubdirectory { location += "//" + subdirectory }
        return SourceSnapshot(revision: id, origin: "\(location) @ \(refLabel) (\(id.prefix(7)))", files: files)
    }

    private func collect(
        tree: OpaquePointer, relative: [String], repo: OpaquePointer, git: GitCalls, into files: inout [SourceFile]
    ) throws {
        for index in 0..<git_tree_entrycount(tree) {
            guard let entry = git_tree_entry_byindex(tree, index) else { continue }  // owned by `tree`
            let name = String(cString: git_tree_entry_name(entry))
            guard !name.hasPrefix(".") else { continue }
            let path = relative + [name]
            let mode = git_tree_entry_filemode(entry)
            if mode == GIT_FILEMODE_TREE {
                var child: OpaquePointer?
                try git.check(git_tree_lookup(&child, repo, git_tree_entry_id(entry)), "reading \(path.joined(separator: "/")) in")
                defer { git_tree_free(child) }
                try collect(tree: child!, relative: path, repo: repo, git: git, into: &files)
            } else if (mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE), DirectorySource.isYAML(name) {
                // Symlinks (GIT_FILEMODE_LINK) and submodules (GIT_FILEMODE_COMMIT) fall through: skipped.
                var blob: OpaquePointer?
                try git.check(git_blob_lookup(&blob, repo, git_tree_entry_id(entry)), "reading \(path.joined(separator: "/")) in")
                defer { git_blob_free(blob) }
                let size = Int(git_blob_rawsize(blob))
                var contents = [UInt8](repeating: 0, count: size)
                if size > 0, let raw = git_blob_rawcontent(blob) {
                    contents.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: raw, count: size)) }
                }
                files.append(SourceFile(path: path.joined(separator: "/"), contents: contents))
            }
        }
    }

    private var normalizedSubdirectory: String? {
        guard let subdirectory else { return nil }
        let parts = subdirectory.split(separator: "/").filter { $0 != "." }
        return parts.isEmpty ? nil : parts.joined(separator: "/")
    }

    // MARK: - Resolving the ref

    /// The commit `ref` names, and the label shown in `origin` (the ref as given, or the default branch).
    private func resolve(in repo: OpaquePointer, remote: Bool, git: GitCalls) throws -> (OpaquePointer, String) {
        guard let ref, !ref.isEmpty, !(remote && ref == "HEAD") else {
            return try resolveDefault(in: repo, remote: remote, git: git)
        }
        var candidates: [String] = []
        if ref.hasPrefix("refs/") {
            if remote, ref.hasPrefix("refs/heads/") {
                candidates.append("refs/remotes/origin/" + ref.dropFirst("refs/heads/".count))
            }
            candidates.append(ref)
        } else {
            candidates.append(remote ? "refs/remotes/origin/" + ref : "refs/heads/" + ref)
            candidates.append("refs/tags/" + ref)
        }
        for name in candidates {
            if let commit = try peel(reference: name, in: repo, git: git) { return (commit, ref) }
        }

        // Last resort: a commit id (full or abbreviated) or any other revision expression.
        var object: OpaquePointer?
        let rc = git_revparse_single(&object, repo, ref)
        if rc == 0 {
            defer { git_object_free(object) }
            var commit: OpaquePointer?
            if git_object_peel(&commit, object, GIT_OBJECT_COMMIT) == 0 { return (commit!, ref) }
            throw SourceError("ref \(ref) in \(repository) does not name a commit (pass a branch, tag or commit id)")
        }
        if rc == GIT_EAMBIGUOUS.rawValue {
            throw SourceError("ref \(ref) is ambiguous in \(repository) (pass more digits of the commit id, or a full refs/... name)")
        }
        throw SourceError("ref \(ref) not found in \(repository) (branches: \(branchList(in: repo, remote: remote)); pass a branch, tag or commit id)")
    }

    private func resolveDefault(in repo: OpaquePointer, remote: Bool, git: GitCalls) throws -> (OpaquePointer, String) {
        if !remote {
            var head: OpaquePointer?
            let rc = git_repository_head(&head, repo)
            if rc == GIT_EUNBORNBRANCH.rawValue || rc == GIT_ENOTFOUND.rawValue {
                throw SourceError("\(repository) has no commit on HEAD yet (commit the spec first, or pass --ref)")
            }
            try git.check(rc, "reading HEAD of")
            defer { git_reference_free(head) }
            let label = git_reference_is_branch(head) == 1 ? String(cString: git_reference_shorthand(head)) : "HEAD"
            var commit: OpaquePointer?
            try git.check(git_reference_peel(&commit, head, GIT_OBJECT_COMMIT), "reading HEAD of")
            return (commit!, label)
        }

        var head: OpaquePointer?
        if git_reference_lookup(&head, repo, "refs/remotes/origin/HEAD") == 0 {
            defer { git_reference_free(head) }
            if let target = git_reference_symbolic_target(head).map({ String(cString: $0) }),
               target.hasPrefix("refs/remotes/origin/"),
               let commit = try peel(reference: target, in: repo, git: git) {
                return (commit, String(target.dropFirst("refs/remotes/origin/".count)))
            }
        }
        for branch in ["main", "master"] {
            if let commit = try peel(reference: "refs/remotes/origin/" + branch, in: repo, git: git) {
                return (commit, branch)
            }
        }
        let branches = branchList(in: repo, remote: true)
        if branches == "none" {
            throw SourceError("\(repository) has no branches (push a commit first)")
        }
        throw SourceError("\(repository) has no default branch, main or master (branches: \(branches); pass --ref)")
    }

    /// The commit a reference points to (tags peeled), or nil when there is no such reference.
    private func peel(reference name: String, in repo: OpaquePointer, git: GitCalls) throws -> OpaquePointer? {
        var reference: OpaquePointer?
        let rc = git_reference_lookup(&reference, repo, name)
        if rc == GIT_ENOTFOUND.rawValue || rc == GIT_EINVALIDSPEC.rawValue { return nil }
        try git.check(rc, "looking up \(name) in")
        defer { git_reference_free(reference) }
        var commit: OpaquePointer?
        let peeled = git_reference_peel(&commit, reference, GIT_OBJECT_COMMIT)
        if peeled == GIT_ENOTFOUND.rawValue { return nil }
        if peeled == GIT_EINVALIDSPEC.rawValue || peeled == GIT_EPEEL.rawValue {
            throw SourceError("ref \(name) in \(repository) does not point to a commit (pass a branch, tag or commit id)")
        }
        try git.check(peeled, "resolving \(name) in")
        return commit
    }

    /// Branch short names, sorted, comma-separated; `none` when there are none.
    private func branchList(in repo: OpaquePointer, remote: Bool) -> String {
        let prefix = remote ? "refs/remotes/origin/" : "refs/heads/"
        var iterator: OpaquePointer?
        guard git_reference_iterator_glob_new(&iterator, repo, prefix + "*") == 0 else { return "none" }
        defer { git_reference_iterator_free(iterator) }
        var names: [String] = []
        var reference: OpaquePointer?
        while git_reference_next(&reference, iterator) == 0 {
            let name = String(cString: git_reference_name(reference))
            git_reference_free(reference)
            let short = String(name.dropFirst(prefix.count))
            if short != "HEAD" { names.append(short) }
        }
        return names.isEmpty ? "none" : names.sorted().joined(separator: ", ")
    }

    private static func hex(_ oid: UnsafePointer<git_oid>?) -> String {
        var buffer = [CChar](repeating: 0, count: Int(GIT_OID_HEXSZ))
        git_oid_fmt(&buffer, oid)
        return String(decoding: buffer.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: - Classifying `repository`

    /// True for `scheme://…` and for scp-like `[user@]host:path` (a colon before any slash), as git reads
    /// them; an existing local path always wins, so a directory named `a:b` stays a path.
    static func isURL(_ repository: String) -> Bool {
        if let scheme = repository.range(of: "://") {
            let name = repository[..<scheme.lowerBound]
            return !name.isEmpty && name.allSatisfy { $0.isLetter || $0.isNumber || "+.-".contains($0) }
        }
        guard let colon = repository.firstIndex(of: ":") else { return false }
        let host = repository[..<colon]
        guard !host.isEmpty, !host.contains("/") else { return false }
        return !FileManager.default.fileExists(atPath: repository)
    }
}

// MARK: - libgit2 plumbing

private enum GitLibrary {
    /// `git_libgit2_init` once per process; Swift runs a global's initializer exactly once, thread-safely.
    static let initialized: Int32 = git_libgit2_init()
}

/// Turns libgit2 return codes into `SourceError`s naming the repository, the operation and the
/// library's own message: `fetching file:///x.git: could not find repository at '/x.git'`.
private struct GitCalls {
    let repository: String

    func check(_ rc: Int32, _ operation: String) throws {
        guard rc < 0 else { return }
        var message = "libgit2 error \(rc)"
        if let error = git_error_last(), let text = error.pointee.message {
            message = String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        throw SourceError("\(operation) \(repository): \(message)",
                          hint: GitSSHHints.hint(for: message, repository: repository, home: ProcessInfo.processInfo.environment["HOME"]))
    }
}

/// How often libgit2 asked for credentials during one fetch; it asks again after each rejection.
private struct CredentialAttempts {
    var username = 0
    var agent = 0
}

/// Offers the ssh-agent's keys once for ssh URLs; anything else (https passwords, key files) is not
/// configured, so libgit2 reports the authentication failure with the URL.
private let gitCredentials: git_credential_acquire_cb = { out, _, usernameFromURL, allowedTypes, payload in
    guard let out, let payload else { return GIT_PASSTHROUGH.rawValue }
    let attempts = payload.assumingMemoryBound(to: CredentialAttempts.self)
    let username = usernameFromURL.map { String(cString: $0) } ?? "git"
    if allowedTypes & GIT_CREDENTIAL_USERNAME.rawValue != 0, attempts.pointee.username == 0 {
        attempts.pointee.username += 1
        return git_credential_username_new(out, username)
    }
    if allowedTypes & GIT_CREDENTIAL_SSH_KEY.rawValue != 0, attempts.pointee.agent == 0 {
        attempts.pointee.agent += 1
        return git_credential_ssh_key_from_agent(out, username)
    }
    return GIT_PASSTHROUGH.rawValue
}

/// An exclusive `flock` on a file next to the mirror, held for the whole snapshot: two berth processes
/// (or two sources in one process) never fetch into the same mirror at once.
private struct CacheLock {
    let descriptor: Int32

    init(path: String, directory: String, repository: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw SourceError("creating the git cache directory \(directory) for \(repository): \(error.localizedDescription) (set BERTH_CACHE_DIR to a writable directory)")
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw SourceError("opening the cache lock \(path) for \(repository): \(String(cString: strerror(errno))) (set BERTH_CACHE_DIR to a writable directory)")
        }
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            let reason = String(cString: strerror(errno))
            close(fd)
            throw SourceError("locking the cache lock \(path) for \(repository): \(reason)")
        }
        descriptor = fd
    }

    func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}

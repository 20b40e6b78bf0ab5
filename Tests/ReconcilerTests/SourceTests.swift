import Foundation
import Spec
import Testing

@testable import Reconciler

@Suite("SourceTests")
struct SourceTests {
    // MARK: - DirectorySource

    @Test func directoryReadsNestedYAMLSortedAndSkipsHiddenAndOtherFiles() throws {
        let dir = try SourceScratch()
        defer { dir.remove() }
        try dir.write("b.yaml", "kind: Domain\n")
        try dir.write("a.yml", "kind: Route\n")
        try dir.write("nested/deeper/c.yaml", "kind: Instance\n")
        try dir.write("nested/README.md", "# not spec\n")
        try dir.write("notes.txt", "nope\n")
        try dir.write(".hidden.yaml", "kind: Hidden\n")
        try dir.write(".git/config.yaml", "kind: Hidden\n")
        try dir.write(".github/workflows/ci.yml", "on: push\n")

        let snapshot = try DirectorySource(root: dir.path, subdirectory: nil).snapshot()
        #expect(snapshot.files.map(\.path) == ["a.yml", "b.yaml", "nested/deeper/c.yaml"])
        #expect(snapshot.files[2].contents == Array("kind: Instance\n".utf8))
        #expect(snapshot.origin == dir.path)
        #expect(snapshot.revision.hasPrefix("dir:"))
        #expect(snapshot.revision.count == 4 + 64)
        #expect(snapshot.revision == DirectorySource.revision(of: snapshot.files))
    }

    @Test func directoryRevisionChangesOnYAMLEditsAndOnlyThen() throws {
        let dir = try SourceScratch()
        defer { dir.remove() }
        try dir.write("edge/a.yaml", "kind: Domain\nname: a\n")
        try dir.write("edge/notes.txt", "one\n")
        let source = DirectorySource(root: dir.path, subdirectory: nil)
        let first = try source.snapshot().revision

        #expect(try source.snapshot().revision == first, "reading twice must give the same revision")
        try dir.write("edge/a.yaml", "kind: Domain\nname: a\n")  // same bytes, new mtime
        try dir.write("edge/notes.txt", "two\n")
        try dir.write(".hidden/x.yaml", "ignored: true\n")
        #expect(try source.snapshot().revision == first, "non-YAML, hidden and timestamp-only changes keep it")

        try dir.write("edge/a.yaml", "kind: Domain\nname: b\n")
        let edited = try source.snapshot().revision
        #expect(edited != first)

        try dir.write("edge/b.yaml", "")
        let added = try source.snapshot().revision
        #expect(added != edited, "an empty new file still changes the revision")

        try FileManager.default.moveItem(atPath: dir.path + "/edge/b.yaml", toPath: dir.path + "/edge/c.yaml")
        #expect(try source.snapshot().revision != added, "a rename changes the revision")
    }

    @Test func directorySubdirectoryKeepsPathsRelativeToRoot() throws {
        let dir = try SourceScratch()
        defer { dir.remove() }
        try dir.write("top.yaml", "kind: Domain\n")
        try dir.write("edge/prod/a.yaml", "kind: Route\n")
        try dir.write("edge/b.yaml", "kind: Route\n")

        let snapshot = try DirectorySource(root: dir.path, subdirectory: "edge").snapshot()
        #expect(snapshot.files.map(\.path) == ["edge/b.yaml", "edge/prod/a.yaml"])
        #expect(snapshot.origin == dir.path + "/edge")

        let slashed = try DirectorySource(root: dir.path, subdirectory: "./edge/").snapshot()
        #expect(slashed.files == snapshot.files)
        #expect(slashed.revision == snapshot.revision)
    }

    @Test func directoryFollowsSymlinksOnlyInsideTheRoot() throws {
        let outside = try SourceScratch()
        defer { outside.remove() }
        try outside.write("secret.yaml", "kind: Secret\n")
        let dir = try SourceScratch()
        defer { dir.remove() }
        try dir.write("shared/common.yaml", "kind: Domain\n")
        try dir.write("edge/own.yaml", "kind: Route\n")
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: dir.path + "/edge/linked", withDestinationPath: dir.path + "/shared")
        try fm.createSymbolicLink(atPath: dir.path + "/edge/escape.yaml", withDestinationPath: outside.path + "/secret.yaml")
        try fm.createSymbolicLink(atPath: dir.path + "/edge/escape", withDestinationPath: outside.path)
        try fm.createSymbolicLink(atPath: dir.path + "/edge/loop", withDestinationPath: dir.path + "/edge")

        let snapshot = try DirectorySource(root: dir.path, subdirectory: "edge").snapshot()
        #expect(snapshot.files.map(\.path) == ["edge/linked/common.yaml", "edge/own.yaml"])
    }

    @Test func directoryErrorsNameThePath() throws {
        let dir = try SourceScratch()
        defer { dir.remove() }
        try dir.write("file.yaml", "kind: Domain\n")
        let missing = dir.path + "/nope"

        let noRoot = #expect(throws: SourceError.self) { try DirectorySource(root: missing, subdirectory: nil).snapshot() }
        #expect(noRoot?.message.contains(missing) == true)
        #expect(noRoot?.message.contains("does not exist") == true)

        let noSub = #expect(throws: SourceError.self) { try DirectorySource(root: dir.path, subdirectory: "edge").snapshot() }
        #expect(noSub?.message.contains("edge") == true)
        #expect(noSub?.message.contains(dir.path) == true)

        let fileSub = #expect(throws: SourceError.self) { try DirectorySource(root: dir.path, subdirectory: "file.yaml").snapshot() }
        #expect(fileSub?.message.contains("not a directory") == true)

        let escape = #expect(throws: SourceError.self) { try DirectorySource(root: dir.path + "/", subdirectory: "../x").snapshot() }
        #expect(escape?.message.contains("..") == true)
    }

    // MARK: - GitSource on a local repository

    @Test func localRepositoryAtHeadBranchTagAndCommit() throws {
        let dir = try SourceScratch()
        defer { dir.remove() }
        let repo = dir.path + "/repo"
        try runGit(["init", "-q", "-b", "main", repo])
        try dir.write("repo/edge/a.yaml", "v: 1\n")
        try dir.write("repo/readme.md", "x\n")
        try sourceCommitAll(repo, "one")
        let first = try runGit(["rev-parse", "HEAD"], in: repo)
        try runGit(["tag", "-a", "v1", "-m", "release one"], in: repo)  // annotated: must be peeled
        try runGit(["tag", "light"], in: repo)

        try runGit(["checkout", "-q", "-b", "feature"], in: repo)
        try dir.write("repo/edge/b.yaml", "v: 2\n")
        try sourceCommitAll(repo, "two")
        let second = try runGit(["rev-parse", "HEAD"], in: repo)
        try runGit(["checkout", "-q", "main"], in: repo)

        let cache = dir.path + "/cache"
        let head = try GitSource(repository: repo, ref: nil, subdirectory: nil, cacheDirectory: cache).snapshot()
        #expect(head.revision == first)
        #expect(head.files.map(\.path) == ["edge/a.yaml"])
        #expect(head.files[0].contents == Array("v: 1\n".utf8))
        #expect(head.origin == "\(repo) @ main (\(first.prefix(7)))")

        let branch = try GitSource(repository: repo, ref: "feature", subdirectory: nil, cacheDirectory: cache).snapshot()
        #expect(branch.revision == second)
        #expect(branch.files.map(\.path) == ["edge/a.yaml", "edge/b.yaml"])

        let fullName = try GitSource(repository: repo, ref: "refs/heads/feature", subdirectory: nil, cacheDirectory: cache).snapshot()
        #expect(fullName.revision == second)

        for tag in ["v1", "light", "refs/tags/v1"] {
            let tagged = try GitSource(repository: repo, ref: tag, subdirectory: nil, cacheDirectory: cache).snapshot()
            #expect(tagged.revision == first, "tag \(tag)")
        }

        let abbreviated = try GitSource(repository: repo, ref: String(second.prefix(8)), subdirectory: nil, cacheDirectory: cache).snapshot()
        #expect(abbreviated.revision == second)
        #expect(abbreviated.files.count == 2)

        let full = try GitSource(repository: repo, ref: first, subdirectory: nil, cacheDirectory: cache).snapshot()
        #expect(full.revision == first)

        #expect(!FileManager.default.fileExists(atPath: cache), "a local repository is never mirrored")
    }

    @Test func localRepositorySubdirectoryAndBareRepository() throws {
        let dir = try SourceScratch()
        defer { dir.remove() }
        let repo = dir.path + "/repo"
        try runGit(["init", "-q", "-b", "main", repo])
        try dir.write("repo/top.yaml", "top: 1\n")
        try dir.write("repo/edge/prod/a.yaml", "a: 1\n")
        try dir.write("repo/edge/b.yml", "b: 1\n")
        try dir.write("repo/edge/.hidden/c.yaml", "c: 1\n")
        try dir.write("repo/edge/c.json", "{}\n")
        try sourceCommitAll(repo, "one")
        let id = try runGit(["rev-parse", "HEAD"], in: repo)

        let snapshot = try GitSource(repository: repo, ref: "main", subdirectory: "edge", cacheDirectory: dir.path).snapshot()
        #expect(snapshot.files.map(\.path) == ["edge/b.yml", "edge/prod/a.yaml"])
        #expect(snapshot.origin == "\(repo)//edge @ main (\(id.prefix(7)))")

        let nested = try GitSource(repository: repo, ref: "main", subdirectory: "/edge/prod/", cacheDirectory: dir.path).snapshot()
        #expect(nested.files.map(\.path) == ["edge/prod/a.yaml"])

        let missing = #expect(throws: SourceError.self) {
            try GitSource(repository: repo, ref: "main", subdirectory: "nope", cacheDirectory: dir.path).snapshot()
        }
        #expect(missing?.message.contains("subdirectory nope does not exist") == true)

        let bare = dir.path + "/bare.git"
        try runGit(["clone", "-q", "--bare", repo, bare])
        let fromBare = try GitSource(repository: bare, ref: nil, subdirectory: "edge", cacheDirectory: dir.path).snapshot()
        #expect(fromBare.revision == id)
        #expect(fromBare.files == snapshot.files)

        let notRepo = #expect(throws: SourceError.self) {
            try GitSource(repository: repo + "/edge", ref: "main", subdirectory: nil, cacheDirectory: dir.path).snapshot()
        }
        #expect(notRepo?.message.contains("\(repo)/edge is not a git repository") == true)
    }

    @Test func uncommittedEditsAreNotVisibleThroughGit() throws {
        let dir = try SourceScratch()
        defer { dir.remove() }
        let repo = dir.path + "/repo"
        try runGit(["init", "-q", "-b", "main", repo])
        try dir.write("repo/a.yaml", "committed: true\n")
        try sourceCommitAll(repo, "one")
        let id = try runGit(["rev-parse", "HEAD"], in: repo)

        try dir.write("repo/a.yaml", "committed: false\n")
        try dir.write("repo/untracked.yaml", "new: true\n")
        try dir.write("repo/staged.yaml", "staged: true\n")
        try runGit(["add", "staged.yaml"], in: repo)

        let fromGit = try GitSource(repository: repo, ref: nil, subdirectory: nil, cacheDirectory: dir.path).snapshot()
        #expect(fromGit.revision == id)
        #expect(fromGit.files == [SourceFile(path: "a.yaml", contents: Array("committed: true\n".utf8))])

        let fromDisk = try DirectorySource(root: repo, subdirectory: nil).snapshot()
        #expect(fromDisk.files.map(\.path) == ["a.yaml", "staged.yaml", "untracked.yaml"])
        #expect(fromDisk.files[0].contents == Array("committed: false\n".utf8))
    }

    @Test func localUnknownRefListsBranches() throws {
        let dir = try SourceScratch()
        defer { dir.remove() }
        let repo = dir.path + "/repo"
        try runGit(["init", "-q", "-b", "main", repo])
        try dir.write("repo/a.yaml", "a: 1\n")
        try sourceCommitAll(repo, "one")
        try runGit(["branch", "staging"], in: repo)

        let error = #expect(throws: SourceError.self) {
            try GitSource(repository: repo, ref: "prod", subdirectory: nil, cacheDirectory: dir.path).snapshot()
        }
        #expect(error?.message == "ref prod not found in \(repo) (branches: main, staging; pass a branch, tag or commit id)")
    }

    // MARK: - GitSource on a URL (bare mirror in the cache)

    @Test func remoteIsMirroredAndFetchedOnEverySnapshot() throws {
        let dir = try SourceScratch()
        defer { dir.remove() }
        let (bare, work) = try sourceMakeRemote(in: dir, branch: "main")
        try dir.write("work/edge/a.yaml", "v: 1\n")
        try sourceCommitAll(work, "one")
        try runGit(["push", "-q", "origin", "main"], in: work)
        let first = try runGit(["rev-parse", "HEAD"], in: work)

        let url = "file://" + bare
        let cache = dir.path + "/cache"
        let source = GitSource(repository: url, ref: nil, subdirectory: nil, cacheDirectory: cache)
        let mirror = cache + "/" + String(Spec.SHA256.hex(url).prefix(16)) + ".git"
        #expect(source.mirrorPath == mirror)
        #expect(!FileManager.default.fileExists(atPath: mirror))

        let one = try source.snapshot()
        #expect(one.revision == first)
        #expect(one.files.map(\.path) == ["edge/a.yaml"])
        #expect(one.origin == "\(url) @ main (\(first.prefix(7)))")
        #expect(FileManager.default.fileExists(atPath: mirror + "/HEAD"), "the first snapshot creates the bare mirror")
        #expect(try runGit(["rev-parse", "refs/remotes/origin/main"], in: mirror) == first)
        #expect(!FileManager.default.fileExists(atPath: mirror + "/index"), "no work tree, no index")

        try dir.write("work/edge/b.yaml", "v: 2\n")
        try sourceCommitAll(work, "two")
        try runGit(["tag", "v2"], in: work)
        try runGit(["push", "-q", "origin", "main", "v2"], in: work)
        let second = try runGit(["rev-parse", "HEAD"], in: work)
        #expect(second != first)

        let two = try source.snapshot()
        #expect(two.revision == second, "the next snapshot fetches the new commit")
        #expect(two.files.map(\.path) == ["edge/a.yaml", "edge/b.yaml"])

        let tagged = try GitSource(repository: url, ref: "v2", subdirectory: "edge", cacheDirectory: cache).snapshot()
        #expect(tagged.revision == second)
        let pinned = try GitSource(repository: url, ref: String(first.prefix(10)), subdirectory: nil, cacheDirectory: cache).snapshot()
        #expect(pinned.revision == first)
        #expect(pinned.files.count == 1)
    }

    @Test func anEarlierRevisionIsReadBackWithoutFetching() throws {
        let dir = try SourceScratch()
        defer { dir.remove() }
        let (bare, work) = try sourceMakeRemote(in: dir, branch: "main")
        try dir.write("work/edge/a.yaml", "v: 1\n")
        try sourceCommitAll(work, "one")
        try runGit(["push", "-q", "origin", "main"], in: work)
        let first = try runGit(["rev-parse", "HEAD"], in: work)
        try dir.write("work/edge/b.yaml", "v: 2\n")
        try sourceCommitAll(work, "two")
        try runGit(["push", "-q", "origin", "main"], in: work)

        // From the local work tree: the older commit, labelled like a snapshot of the ref.
        let local = try #require(try GitSource(repository: work, ref: "main", subdirectory: "edge", cacheDirectory: dir.path + "/unused").snapshot(revision: first))
        #expect(local.revision == first)
        #expect(local.files.map(\.path) == ["edge/a.yaml"])
        #expect(local.origin == "\(work)//edge @ main (\(first.prefix(7)))")

        // From a remote's mirror: read after the remote is gone (no fetch), and it matches what the
        // snapshot of that commit gave.
        let url = "file://" + bare
        let source = GitSource(repository: url, ref: nil, subdirectory: nil, cacheDirectory: dir.path + "/cache")
        #expect(throws: SourceError.self, "no mirror yet") { try source.snapshot(revision: first) }
        let head = try source.snapshot()
        try FileManager.default.moveItem(atPath: bare, toPath: bare + ".away")
        #expect(throws: SourceError.self) { try source.snapshot() }
        let old = try #require(try source.snapshot(revision: first))
        #expect(old.files.map(\.path) == ["edge/a.yaml"])
        #expect(old.origin == "\(url) @ main (\(first.prefix(7)))")
        #expect(try source.snapshot(revision: head.revision) == head)

        let missing = String(repeating: "0", count: 40)
        let gone = #expect(throws: SourceError.self) { try source.snapshot(revision: missing) }
        #expect(gone?.message.contains("is no longer in \(url)") == true, "\(String(describing: gone))")
        #expect(throws: SourceError.self) { try source.snapshot(revision: "main") }

        // A plain directory keeps no history.
        #expect(try DirectorySource(root: dir.path + "/work", subdirectory: nil).snapshot(revision: first) == nil)
    }

    @Test func remoteDefaultBranchFollowsTheRemoteHead() throws {
        let dir = try SourceScratch()
        defer { dir.remove() }
        let (bare, work) = try sourceMakeRemote(in: dir, branch: "main")
        try dir.write("work/a.yaml", "branch: main\n")
        try sourceCommitAll(work, "main")
        let main = try runGit(["rev-parse", "HEAD"], in: work)
        try runGit(["checkout", "-q", "-b", "develop"], in: work)
        try dir.write("work/a.yaml", "branch: develop\n")
        try sourceCommitAll(work, "develop")
        try runGit(["checkout", "-q", "-b", "master"], in: work)
        try dir.write("work/a.yaml", "branch: master\n")
        try sourceCommitAll(work, "master")
        try runGit(["push", "-q", "origin", "main", "develop", "master"], in: work)

        let url = "file://" + bare
        let cache = dir.path + "/cache"
        let snapshot = try GitSource(repository: url, ref: nil, subdirectory: nil, cacheDirectory: cache).snapshot()
        #expect(snapshot.revision == main)
        #expect(snapshot.files.first?.contents == Array("branch: main\n".utf8))
        #expect(snapshot.origin.hasSuffix("@ main (\(main.prefix(7)))"))

        // The remote's HEAD decides, not the names: point it at develop and the next snapshot follows.
        try runGit(["symbolic-ref", "HEAD", "refs/heads/develop"], in: bare)
        let moved = try GitSource(repository: url, ref: nil, subdirectory: nil, cacheDirectory: cache).snapshot()
        #expect(moved.files.first?.contents == Array("branch: develop\n".utf8))
        #expect(moved.origin.contains("@ develop ("))

        let explicit = try GitSource(repository: url, ref: "origin/main", subdirectory: nil, cacheDirectory: cache).snapshot()
        #expect(explicit.revision == main)
    }

    @Test func remoteUnknownRefListsBranches() throws {
        let dir = try SourceScratch()
        defer { dir.remove() }
        let (bare, work) = try sourceMakeRemote(in: dir, branch: "main")
        try dir.write("work/a.yaml", "a: 1\n")
        try sourceCommitAll(work, "one")
        try runGit(["branch", "staging"], in: work)
        try runGit(["push", "-q", "origin", "main", "staging"], in: work)

        let url = "file://" + bare
        let error = #expect(throws: SourceError.self) {
            try GitSource(repository: url, ref: "prod", subdirectory: nil, cacheDirectory: dir.path + "/cache").snapshot()
        }
        #expect(error?.message == "ref prod not found in \(url) (branches: main, staging; pass a branch, tag or commit id)")
    }

    @Test func unreachableURLErrorNamesTheURL() throws {
        let dir = try SourceScratch()
        defer { dir.remove() }
        let url = "file://" + dir.path + "/missing.git"
        let cache = dir.path + "/cache"
        let source = GitSource(repository: url, ref: nil, subdirectory: nil, cacheDirectory: cache)
        let error = #expect(throws: SourceError.self) { try source.snapshot() }
        #expect(error?.message.hasPrefix("fetching \(url): ") == true)
        #expect(error?.message.contains(dir.path + "/missing.git") == true, "libgit2's reason is kept")
        let mirror = try #require(source.mirrorPath)
        #expect(!FileManager.default.fileExists(atPath: mirror), "a failed first fetch leaves no mirror behind")
    }

    @Test func concurrentSnapshotsShareTheMirror() async throws {
        let dir = try SourceScratch()
        defer { dir.remove() }
        let (bare, work) = try sourceMakeRemote(in: dir, branch: "main")
        try dir.write("work/a.yaml", "a: 1\n")
        try sourceCommitAll(work, "one")
        try runGit(["push", "-q", "origin", "main"], in: work)
        let id = try runGit(["rev-parse", "HEAD"], in: work)

        let source = GitSource(repository: "file://" + bare, ref: "main", subdirectory: nil, cacheDirectory: dir.path + "/cache")
        let revisions = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<4 { group.addTask { try source.snapshot().revision } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(revisions == Array(repeating: id, count: 4))
    }

    // MARK: - SourceResolver

    @Test func resolverPicksTheSourceKind() throws {
        let cache = "/tmp/berth-unused-cache"
        let current = try SourceResolver.source(repository: nil, ref: nil, subdirectory: "edge", cacheDirectory: cache)
        let directory = try #require(current as? DirectorySource)
        #expect(directory.root == ".")
        #expect(directory.subdirectory == "edge")

        let localWithRef = try SourceResolver.source(repository: "/srv/edge", ref: "main", subdirectory: nil, cacheDirectory: cache)
        let local = try #require(localWithRef as? GitSource)
        #expect(local.repository == "/srv/edge")
        #expect(local.ref == "main")
        #expect(local.mirrorPath == nil)

        #expect(try SourceResolver.source(repository: "/srv/edge", ref: nil, subdirectory: nil, cacheDirectory: cache) is DirectorySource)
        #expect(try SourceResolver.source(repository: nil, ref: "main", subdirectory: nil, cacheDirectory: cache) is GitSource)

        for url in ["file:///srv/edge.git", "https://git.example.com/org/edge.git", "http://localhost/x.git",
                    "ssh://git@host/org/edge.git", "git@github.com:org/edge.git"] {
            let source = try #require(try SourceResolver.source(repository: url, ref: nil, subdirectory: nil, cacheDirectory: cache) as? GitSource, "\(url)")
            #expect(source.cacheDirectory == cache)
            #expect(source.mirrorPath?.hasPrefix(cache + "/") == true)
        }
    }

    @Test(arguments: [
        ("file:///srv/edge.git", true), ("https://h/o/r.git", true), ("ssh://git@h:22/o/r", true),
        ("git@github.com:org/repo.git", true), ("host:repo", true),
        ("/srv/edge", false), ("./edge", false), ("edge", false), ("dir/a:b", false), ("", false),
    ])
    func urlClassification(repository: String, isURL: Bool) {
        #expect(GitSource.isURL(repository) == isURL)
    }

    @Test(arguments: [
        ("ssh://git@git.example.com/org/edge.git", GitSSHHints.Endpoint(user: "git", host: "git.example.com", port: 22)),
        ("ssh://deploy@127.0.0.1:2222/srv/edge.git", GitSSHHints.Endpoint(user: "deploy", host: "127.0.0.1", port: 2222)),
        ("git+ssh://h:2200/r", GitSSHHints.Endpoint(user: nil, host: "h", port: 2200)),
        ("ssh://git@[::1]:2222/r", GitSSHHints.Endpoint(user: "git", host: "::1", port: 2222)),
        ("ssh://[::1]/r", GitSSHHints.Endpoint(user: nil, host: "::1", port: 22)),
        ("git@github.com:org/repo.git", GitSSHHints.Endpoint(user: "git", host: "github.com", port: 22)),
        ("host:repo", GitSSHHints.Endpoint(user: nil, host: "host", port: 22)),
    ])
    func sshEndpoints(repository: String, endpoint: GitSSHHints.Endpoint) {
        #expect(GitSSHHints.sshEndpoint(repository) == endpoint)
    }

    @Test(arguments: ["https://h/o/r.git", "file:///srv/edge.git", "ssh://h:notaport/r", "ssh://h:0/r", "ssh:///r", "/srv/edge", "@h:r"])
    func notSSHEndpoints(repository: String) {
        #expect(GitSSHHints.sshEndpoint(repository) == nil)
    }

    @Test func sshHintsNameTheFileTheCommandAndTheAgent() throws {
        let hostKey = try #require(GitSSHHints.hint(for: "invalid or unknown remote ssh hostkey",
                                                    repository: "ssh://git@127.0.0.1:2222/edge.git", home: "/home/berth"))
        #expect(hostKey.contains("[127.0.0.1]:2222 is not in /home/berth/.ssh/known_hosts"), "\(hostKey)")
        #expect(hostKey.hasSuffix("ssh-keyscan -p 2222 127.0.0.1 >> /home/berth/.ssh/known_hosts"), "\(hostKey)")
        let port22 = try #require(GitSSHHints.hint(for: "invalid or unknown remote ssh hostkey", repository: "git@github.com:o/r.git", home: nil))
        #expect(port22.hasSuffix("ssh-keyscan github.com >> ~/.ssh/known_hosts"), "\(port22)")

        let noAgent = try #require(GitSSHHints.hint(for: "error authenticating: no auth sock variable", repository: "ssh://h/r", home: "/h"))
        #expect(noAgent.contains("SSH_AUTH_SOCK"))
        let badSocket = try #require(GitSSHHints.hint(for: "error authenticating: failed connecting with agent", repository: "ssh://h/r", home: "/h"))
        #expect(badSocket == noAgent)
        let refused = try #require(GitSSHHints.hint(for: "authentication required but no callback set", repository: "ssh://deploy@h/r", home: "/h"))
        #expect(refused.contains("user \"deploy\""), "\(refused)")
        #expect(refused.contains("ssh-add"))

        #expect(GitSSHHints.hint(for: "invalid or unknown remote ssh hostkey", repository: "https://h/r.git", home: "/h") == nil,
                "https has its own certificate errors")
        #expect(GitSSHHints.hint(for: "failed to connect to h: Connection refused", repository: "ssh://h/r", home: "/h") == nil)
    }

    @Test func defaultCacheDirectoryPrecedence() {
        #expect(SourceResolver.defaultCacheDirectory(environment: ["BERTH_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x", "HOME": "/h"]) == "/c")
        #expect(SourceResolver.defaultCacheDirectory(environment: ["BERTH_CACHE_DIR": "", "XDG_CACHE_HOME": "/x", "HOME": "/h"]) == "/x/berth/git")
        #expect(SourceResolver.defaultCacheDirectory(environment: ["HOME": "/h"]) == "/h/.cache/berth/git")
    }
}

// MARK: - Private helpers (real git CLI, temporary directories)

/// A temporary directory, resolved through symlinks so paths compare equal to what tools print.
private struct SourceScratch {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("berth-source-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.resolvingSymlinksInPath().path
    }

    func write(_ relative: String, _ text: String) throws {
        let url = URL(fileURLWithPath: path + "/" + relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

private struct SourceGitFailure: Error, CustomStringConvertible {
    var description: String
}

/// Runs the git CLI isolated from the user's and system configuration; returns trimmed stdout.
@discardableResult
private func runGit(_ arguments: [String], in directory: String? = nil) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    var args = ["git", "-c", "user.name=Berth Test", "-c", "user.email=berth@example.invalid",
                "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", "-c", "init.defaultBranch=main"]
    if let directory { args += ["-C", directory] }
    process.arguments = args + arguments
    var environment = ProcessInfo.processInfo.environment
    environment["GIT_CONFIG_NOSYSTEM"] = "1"
    environment["GIT_CONFIG_GLOBAL"] = "/dev/null"
    environment["GIT_TERMINAL_PROMPT"] = "0"
    process.environment = environment
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw SourceGitFailure(description: "git \(arguments.joined(separator: " ")) failed: \(String(decoding: err, as: UTF8.self))")
    }
    return String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

private func sourceCommitAll(_ repo: String, _ message: String) throws {
    try runGit(["add", "-A"], in: repo)
    try runGit(["commit", "-q", "-m", message], in: repo)
}

/// A bare repository `remote.git` whose HEAD is `branch`, and a work tree `work` with it as `origin`.
private func sourceMakeRemote(in dir: SourceScratch, branch: String) throws -> (bare: String, work: String) {
    let bare = dir.path + "/remote.git"
    let work = dir.path + "/work"
    try runGit(["init", "-q", "--bare", "-b", branch, bare])
    try runGit(["init", "-q", "-b", branch, work])
    try runGit(["remote", "add", "origin", bare], in: work)
    return (bare, work)
}

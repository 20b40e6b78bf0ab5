import Foundation
import Testing
@testable import Reconciler
import Spec

/// Golden plans: each case under Tests/Fixtures/plans/<case>/ has an optional `before/` repository
/// (applied first, through the applier, to an in-memory store) and an `after/` repository (planned
/// against that state). The text and JSON renderings must equal `expected.txt` / `expected.json`.
///
/// Re-record with `BERTH_RECORD_GOLDENS=1 swift test --filter PlannerGoldenTests`; a recording run
/// fails on purpose, so goldens are never rewritten by accident.
@Suite struct PlannerGoldenTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/plans")

    static let cases = ["fresh", "unchanged", "changes", "removal", "exposure"]

    static func load(_ directory: URL) throws -> DesiredState {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }.sorted()
        let files = try names.map { (path: $0, contents: Array(try Data(contentsOf: directory.appendingPathComponent($0)))) }
        let result = SpecLoader.load(files: files)
        #expect(result.diagnostics.isEmpty, "fixture \(directory.path) has diagnostics: \(result.diagnostics.map(\.rendered))")
        return result.state
    }

    static let clock: @Sendable () -> Date = { Date(timeIntervalSince1970: 1_800_000_000) }

    /// Applies `before` (if present) to a fresh memory store, then plans `after` against it.
    static func plan(case name: String) throws -> (Plan, MemoryStateStore) {
        let directory = fixtures.appendingPathComponent(name)
        let store = MemoryStateStore()
        let before = directory.appendingPathComponent("before")
        if FileManager.default.fileExists(atPath: before.path) {
            let state = try load(before)
            let plan = Planner.plan(desired: state, revision: "1111111111111111111111111111111111111111", origin: "fixture", observed: try store.observe())
            let lease = try store.acquireLease(holder: "test", ttlMilliseconds: 30_000)
            _ = try Applier(store: store, now: clock).apply(plan, lease: lease)
            try store.releaseLease(lease)
        }
        let after = try load(directory.appendingPathComponent("after"))
        let plan = Planner.plan(desired: after, revision: "2222222222222222222222222222222222222222", origin: "fixture", observed: try store.observe())
        return (plan, store)
    }

    @Test(arguments: cases)
    func matchesGolden(_ name: String) throws {
        let (plan, _) = try Self.plan(case: name)
        let renderer = PlanRenderer(color: false, stateDescription: "memory")
        let outputs = ["expected.txt": renderer.text(plan), "expected.json": renderer.json(plan).prettyString + "\n"]
        let directory = Self.fixtures.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["BERTH_RECORD_GOLDENS"] != nil {
            for (file, text) in outputs { try text.write(to: directory.appendingPathComponent(file), atomically: true, encoding: .utf8) }
            Issue.record("re-recorded the goldens of \(name); run again without BERTH_RECORD_GOLDENS and review the diff")
            return
        }
        for (file, text) in outputs.sorted(by: { $0.key < $1.key }) {
            let expected = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            #expect(text == expected, "\(name)/\(file) differs from the golden; re-record with BERTH_RECORD_GOLDENS=1 if intended")
        }
    }

    @Test(arguments: cases)
    func isDeterministic(_ name: String) throws {
        let renderer = PlanRenderer(color: false, stateDescription: "memory")
        let first = try Self.plan(case: name).0
        let second = try Self.plan(case: name).0
        #expect(renderer.json(first).canonicalString == renderer.json(second).canonicalString)
        #expect(renderer.text(first) == renderer.text(second))
    }

    /// Applying any plan, then planning the same repository again, yields no changes.
    @Test(arguments: cases)
    func applyThenPlanIsEmpty(_ name: String) throws {
        let (plan, store) = try Self.plan(case: name)
        let lease = try store.acquireLease(holder: "test", ttlMilliseconds: 30_000)
        let report = try Applier(store: store, now: Self.clock).apply(plan, lease: lease)
        try store.releaseLease(lease)
        let again = Planner.plan(desired: plan.desired, revision: plan.revision, origin: "fixture", observed: try store.observe())
        #expect(!again.hasChanges, "second plan still has changes: \(again.changes.filter { $0.action != .noop }.map(\.id))")
        #expect(again.summary == Plan.Summary())
        #expect(report.generation == store.generation)
        // Every lease held belongs to a desired owner, and every desired owner holds one.
        let wanted = Set(plan.desired.instances.flatMap(PortOwner.owners(of:)).map(\.description))
        #expect(Set(store.ports.values) == wanted)
        #expect(Set(store.inventory.keys) == Set(plan.desired.resources.map(\.id)))
    }
}
